"""AWS Lambda shapes as msgspec Structs, one module per resource; field names are exactly botocore's.

Optional members default to None and are omitted when encoding, as AWS omits unset members.
Everything is re-exported here, so callers import from `stratus.shapes`.
"""

from stratus.shapes.base import Shape  # noqa: F401

# One line per resource module, sorted.
from stratus.shapes.capacity import *  # noqa: F401,F403
from stratus.shapes.code_signing import *  # noqa: F401,F403
from stratus.shapes.concurrency import *  # noqa: F401,F403
from stratus.shapes.durable import *  # noqa: F401,F403
from stratus.shapes.event_invoke import *  # noqa: F401,F403
from stratus.shapes.event_source_mapping import *  # noqa: F401,F403
from stratus.shapes.eventbridge import *  # noqa: F401,F403
from stratus.shapes.function import *  # noqa: F401,F403
from stratus.shapes.function_url import *  # noqa: F401,F403
from stratus.shapes.layer import *  # noqa: F401,F403
from stratus.shapes.policy import *  # noqa: F401,F403
from stratus.shapes.runtime_config import *  # noqa: F401,F403
from stratus.shapes.version import *  # noqa: F401,F403

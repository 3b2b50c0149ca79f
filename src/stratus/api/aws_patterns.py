"""The patterns AWS's Lambda servers check and print, where they are newer than the pinned botocore model.

AWS's ValidationException messages quote the pattern the server checked. Two differences from the model
botocore 1.43.11 ships show in AWS's own answers (LocalStack's AWS-recorded snapshots):

- every region part of a Lambda pattern also accepts the EU sovereign cloud's regions, `(eusc-)?` before
  `[a-z]{2}...` (later botocore models carry it too: the rule is a no-op once the pin moves past it);
- `TaggableResource` (TagResource, UntagResource, ListTags) is AWS's own list of taggable kinds, layers
  included, as AWS prints it.
"""

from __future__ import annotations

_REGION = r"[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"
_EUSC = "(eusc-)?"

# AWS's server-side pattern for a shape, verbatim from its error messages.
_SERVER_PATTERNS = {
    "TaggableResource": (
        r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
        r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|"
        r"code-signing-config:csc-[a-z0-9]{17}|"
        r"event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
        r"capacity-provider:[a-zA-Z0-9-_]+)"
    ),
}


def server_pattern(service: str, shape_name: str, model_pattern: str) -> str:
    """The pattern AWS checks (and names in its message) for a string shape whose model pattern is `model_pattern`."""
    if service != "lambda":
        return model_pattern
    if shape_name in _SERVER_PATTERNS:
        return _SERVER_PATTERNS[shape_name]
    if _EUSC + _REGION in model_pattern or _REGION not in model_pattern:
        return model_pattern
    return model_pattern.replace(_REGION, _EUSC + _REGION)

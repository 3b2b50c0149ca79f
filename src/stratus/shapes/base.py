"""The base of every AWS shape."""

import msgspec


class Shape(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    """Base for every AWS shape: unset (None) members are omitted, unknown members ignored."""

"""Marker paging as the Lambda API does it: an opaque Marker naming the last item of the previous page."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from stratus.errors import InvalidParameterValueException

DEFAULT_MAX_ITEMS = 50


def encode_marker(key: str) -> str:
    """The Marker that names `key` (URL-safe base64)."""
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_marker(marker: str) -> str:
    """The key a Marker names; InvalidParameterValueException ("Invalid Marker") if it names none."""
    try:
        key = base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameterValueException("Invalid Marker") from None
    if not key:
        raise InvalidParameterValueException("Invalid Marker")
    return key


def paginate(items: list, marker: str | None, max_items: int | None, key: Callable) -> tuple[list, str | None]:
    """One page of `items` after the item whose key `marker` names; the next page's marker or None."""
    limit = max_items or DEFAULT_MAX_ITEMS
    start = 0
    if marker:
        after = decode_marker(marker)
        keys = [key(item) for item in items]
        if after not in keys:
            raise InvalidParameterValueException("Invalid Marker")
        start = keys.index(after) + 1
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, (encode_marker(key(page[-1])) if more and page else None)

"""FilterCriteria: Lambda's event filtering, with the EventBridge pattern engine (stratus.events.patterns).

A record is kept when any filter matches it. A JSON payload (an SQS `body`, Kinesis / RabbitMQ
`data`) is matched as the parsed JSON object; otherwise as the plain string (AWS's rule).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import msgspec

from stratus.errors import InvalidParameterValueException
from stratus.events.patterns import compile_pattern, validate_pattern  # EventBridge's engine, shared with rules

INVALID_PATTERN = "Invalid filter pattern definition."


def check_filters(filters: list[Any]) -> None:
    """InvalidParameterValueException unless every filter's Pattern is a valid pattern."""
    for item in filters:
        pattern = getattr(item, "Pattern", None)
        if not pattern or not isinstance(pattern, str):
            raise InvalidParameterValueException(INVALID_PATTERN)
        try:
            compiled = validate_pattern(pattern)
        except Exception:  # noqa: BLE001 - every way a pattern can be wrong is the same answer
            raise InvalidParameterValueException(INVALID_PATTERN) from None
        if not isinstance(compiled, dict):
            raise InvalidParameterValueException(INVALID_PATTERN)


def compile_filters(filters: list[Any] | None) -> Callable[[dict], bool] | None:
    """A predicate over a record (already shaped for matching), or None when every record passes."""
    if not filters:
        return None
    compiled = [compile_pattern(validate_pattern(item.Pattern)) for item in filters]
    return lambda record: any(pattern.matches(record) for pattern in compiled)


def json_or_text(text: str) -> Any:
    """A payload as filters see it: parsed JSON when it is a JSON object, else the text itself."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            return msgspec.json.decode(stripped)
        except msgspec.DecodeError:
            pass
    return text


def json_or_text_b64(data: str) -> Any:
    """A base64 payload (Kinesis, RabbitMQ `data`) as filters see it."""
    try:
        text = base64.b64decode(data, validate=True).decode()
    except (binascii.Error, ValueError):
        return data
    decoded = json_or_text(text)
    return decoded if isinstance(decoded, dict) else data

"""What providers share: an AWS call whose refusal becomes ResourceFailed in AWS's words, waits, type coercions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stratus.deploy.providers.base import ResourceFailed


def call(client: Any, operation: str, /, **params: Any) -> Any:
    """`client.<operation>(**params)` with None members left out; a ClientError → ResourceFailed("Code: message")."""
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    try:
        return getattr(client, operation)(**{key: value for key, value in params.items() if value is not None})
    except ClientError as error:
        details = error.response.get("Error", {})
        code, message = details.get("Code", ""), details.get("Message") or details.get("message") or ""
        raise ResourceFailed(f"{code}: {message}" if code else str(error)) from None
    except ParamValidationError as error:
        raise ResourceFailed("InvalidParameterValueException: " + " ".join(str(error).split())) from None
    except BotoCoreError as error:
        raise ResourceFailed(f"{type(error).__name__}: {error}") from None


def not_found(error: ResourceFailed) -> bool:
    """A refusal that means the resource is gone already (deletes succeed then)."""
    return str(error).split(":", 1)[0] in GONE_CODES


# Each service's word for "no such resource": Lambda, IAM, API Gateway, EventBridge, SNS ("NotFound"), SQS.
GONE_CODES = ("ResourceNotFoundException", "NoSuchEntity", "NotFoundException", "ResourceNotFound",
              "NoSuchEntityException", "NotFound", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def delete_call(client: Any, operation: str, /, **params: Any) -> None:
    """A delete that succeeds when the resource no longer exists."""
    try:
        call(client, operation, **params)
    except ResourceFailed as error:
        if not not_found(error):
            raise


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll `check` (a real state change on the server) until true; ResourceFailed after the deadline."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while not check():
        if time.monotonic() > deadline:
            raise ResourceFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def integer(value: Any, member: str) -> int:
    """A property CloudFormation accepts as a number or its text (parameters are strings)."""
    if isinstance(value, bool):
        raise ResourceFailed(f"InvalidParameterValueException: {member} must be a number, not {value}")
    try:
        return int(value) if not isinstance(value, float) else int(value)
    except (TypeError, ValueError):
        raise ResourceFailed(f"InvalidParameterValueException: {member} must be a number, not '{value}'") from None


def boolean(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def tag_map(tags: Any) -> dict[str, str]:
    """CloudFormation's Tags: a list of {Key, Value} (or a mapping, as SAM's functions write them) → a mapping."""
    if isinstance(tags, dict):
        return {str(key): str(value) for key, value in tags.items()}
    if isinstance(tags, list):
        return {str(item.get("Key")): str(item.get("Value", "")) for item in tags if isinstance(item, dict)}
    return {}


def changed(old: dict[str, Any], new: dict[str, Any], *members: str) -> bool:
    return any(old.get(member) != new.get(member) for member in members)

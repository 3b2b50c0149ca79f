"""Tags on functions and event source mappings (TagResource, UntagResource, ListTags), with Lambda's limits
and wording.

A function's tags live in its record (FunctionRecord.tags), next to its $LATEST configuration; they
belong to the function, not to a version or alias, as on Lambda. A mapping's live in its record too
(EventSourceMappingRecord.tags), set by CreateEventSourceMapping's Tags or by TagResource.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import msgspec

from stratus.errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    ValidationException,
    validation_message,
)
from stratus.shapes import FunctionRecord

if TYPE_CHECKING:  # functions check tags with this module's rules
    from stratus.control.functions import FunctionService

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_TAG_PATTERN = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"  # Lambda's pattern for keys and values, as its errors print it
_TAG_PUNCTUATION = frozenset("_.:/=+-@")

# A resource ARN the model's TaggableResource pattern accepted, split into its parts.
_RESOURCE_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[^:]+):(?P<account>\d{12}):(?P<type>[a-z-]+):(?P<id>[^:]+)(?::(?P<qualifier>.*))?")
_NOT_FOUND = {
    "event-source-mapping": "Event source mapping not found: {arn}",
    "capacity-provider": "Capacity provider not found: {arn}",
    "code-signing-config": "Code signing configuration not found: {arn}",
}


def _tag_text_ok(text: str) -> bool:
    return all(c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


def _java_map(tags: dict[str, str]) -> str:
    # Lambda's validation errors print the map the way Java prints one.
    return "{" + ", ".join(f"{key}={value}" for key, value in tags.items()) + "}"


def check_tags(tags: dict[str, str]) -> None:
    """Raise AWS's error for tags Lambda refuses: key 1-128 and value 0-256 characters of the allowed set,
    no key starting with `aws:` (any case)."""
    problems = []
    if any(not 1 <= len(key) <= MAX_KEY_LENGTH or not _tag_text_ok(key) for key in tags):
        problems.append(
            f"Value '{_java_map(tags)}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: "
            f"[Member must have length less than or equal to {MAX_KEY_LENGTH}, Member must have length greater than "
            f"or equal to 1, Member must satisfy regular expression pattern: {_TAG_PATTERN}]")
    if any(len(value) > MAX_VALUE_LENGTH or not _tag_text_ok(value) for value in tags.values()):
        problems.append(
            f"Value '{_java_map(tags)}' at 'tags' failed to satisfy constraint: Map value must satisfy constraint: "
            f"[Member must have length less than or equal to {MAX_VALUE_LENGTH}, Member must have length greater "
            f"than or equal to 0, Member must satisfy regular expression pattern: {_TAG_PATTERN}]")
    if problems:
        raise ValidationException(validation_message(problems))
    reserved = sorted(key for key in tags if key.lower().startswith("aws:"))
    if reserved:
        raise InvalidParameterValueException(
            f"Tag keys starting with 'aws:' are reserved for internal use: {', '.join(reserved)}")


class MappingTags(Protocol):
    """What tagging uses of the event source mappings (control/event_source_mappings.py)."""

    def tags_of(self, mapping_id: str) -> dict[str, str] | None:
        """The mapping's tags; None when there is no such mapping."""
        ...

    async def replace_tags(self, mapping_id: str, change: Callable[[dict[str, str]], dict[str, str]]) -> bool:
        """Store `change(tags)` as the mapping's tags; False when there is no such mapping."""
        ...


class TagService:
    """TagResource, UntagResource and ListTags for function and event source mapping ARNs."""

    def __init__(self, functions: FunctionService, mappings: MappingTags | None = None):
        self.functions = functions
        self.mappings = mappings

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        """Add tags (a key already present gets the new value); at most 50 in all."""
        check_tags(tags)
        kind, resource_id = self._resource(arn)
        if not tags:
            raise InvalidParameterValueException("An error occurred and the request cannot be processed.")

        def merge(current: dict[str, str]) -> dict[str, str]:
            merged = {**current, **tags}
            if len(merged) > MAX_TAGS:
                raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")
            return merged

        if kind == "event-source-mapping":
            await self._change_mapping(arn, resource_id, merge)
            return
        async with self.functions.lock:
            record = self._record(arn)
            await self.functions.save_record(msgspec.structs.replace(record, tags=merge(record.tags)),
                                             new_revision=True)

    async def untag(self, arn: str, keys: list[str]) -> None:
        """Remove the tags with these keys (keys the resource does not have are ignored)."""
        kind, resource_id = self._resource(arn)
        removed = set(keys)

        def drop(current: dict[str, str]) -> dict[str, str]:
            return {key: value for key, value in current.items() if key not in removed}

        if kind == "event-source-mapping":
            await self._change_mapping(arn, resource_id, drop)
            return
        async with self.functions.lock:
            record = self._record(arn)
            kept = drop(record.tags)
            if len(kept) != len(record.tags):
                await self.functions.save_record(msgspec.structs.replace(record, tags=kept), new_revision=True)

    async def list(self, arn: str) -> dict[str, str]:
        """The resource's tags."""
        kind, resource_id = self._resource(arn)
        if kind == "event-source-mapping":
            tags = self.mappings.tags_of(resource_id) if self.mappings is not None else None
            if tags is None:
                raise ResourceNotFoundException(_NOT_FOUND[kind].format(arn=arn))
            return dict(tags)
        return dict(self._record(arn).tags)

    # ------------------------------------------------------------------ helpers
    def _resource(self, arn: str) -> tuple[str, str]:
        """(kind, id) of the function or mapping an ARN (already checked against the model's pattern) names,
        refusing other resources."""
        match = _RESOURCE_ARN.fullmatch(arn)
        if match is None:  # the model's pattern let it through, so it is a resource kind Stratus does not have
            raise ResourceNotFoundException(f"Resource not found: {arn}")
        kind = match["type"]
        if kind not in ("function", "event-source-mapping"):
            raise ResourceNotFoundException(_NOT_FOUND.get(kind, "Resource not found: {arn}").format(arn=arn))
        if kind == "function" and match["qualifier"] is not None:
            raise InvalidParameterValueException(
                "Tags on function aliases and versions are not supported. Please specify a function ARN.")
        return kind, match["id"]

    async def _change_mapping(self, arn: str, mapping_id: str,
                              change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        if self.mappings is None or not await self.mappings.replace_tags(mapping_id, change):
            raise ResourceNotFoundException(_NOT_FOUND["event-source-mapping"].format(arn=arn))

    def _record(self, arn: str) -> FunctionRecord:
        try:
            record, _, _ = self.functions.lookup(arn)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(f"Function not found: {arn}") from None
        return record

"""The CloudWatch Logs operations for function logs: AWS's rules, paging tokens and answers, over `LogStore`.

Every method takes the operation's request members (already checked against botocore's `logs` model) and
returns its answer's members; store work runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable
from typing import Any

from stratus.observe.filter_pattern import FilterPatternError, Matcher, compile_pattern
from stratus.observe.log_store import AlreadyExists, EventRow, GroupRow, LogStore, StreamRow

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
MAX_RESPONSE_BYTES = 1024 * 1024  # GetLogEvents / FilterLogEvents answers hold at most 1 MB of events
_NO_END = 1 << 62
_TOKEN = re.compile(r"([fb])/(\d{20})(\d{36})(?:/s)?")
_FILTER_SCAN = 10_000  # rows read per batch while filtering
_FILTER_SCAN_MAX = 200_000  # rows looked at by one FilterLogEvents call before it answers with a nextToken


class LogsError(Exception):
    error_type = "ServiceUnavailableException"
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ResourceNotFoundException(LogsError):
    error_type = "ResourceNotFoundException"


class ResourceAlreadyExistsException(LogsError):
    error_type = "ResourceAlreadyExistsException"


class InvalidParameterException(LogsError):
    error_type = "InvalidParameterException"


class SerializationException(LogsError):
    error_type = "SerializationException"


class UnknownOperationException(LogsError):
    error_type = "UnknownOperationException"


class ServiceUnavailableException(LogsError):
    error_type = "ServiceUnavailableException"
    status = 500


GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."
BAD_TOKEN = "The specified nextToken is invalid."


def event_id(row: EventRow) -> str:
    return f"{row.timestamp:020d}{row.id:036d}"


def _token(direction: str, key: tuple[int, int]) -> str:
    return f"{direction}/{key[0]:020d}{key[1]:036d}/s"


def _parse_token(token: str) -> tuple[str, tuple[int, int]]:
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidParameterException(BAD_TOKEN)
    return match.group(1), (int(match.group(2)), int(match.group(3)))


def _opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _unopaque(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise InvalidParameterException(BAD_TOKEN) from None


def group_name_of(identifier: str) -> str:
    """A log group's name from its name or ARN (`arn:aws:logs:<region>:<account>:log-group:<name>[:*]`)."""
    if not identifier.startswith("arn:"):
        return identifier
    parts = identifier.split(":", 6)
    if len(parts) < 7 or parts[2] != "logs" or not parts[5] == "log-group":
        raise InvalidParameterException(f"Invalid log group identifier: {identifier}")
    name = parts[6]
    return name[:-2] if name.endswith(":*") else name


def pattern_matcher(pattern: str | None) -> Matcher:
    try:
        return compile_pattern(pattern)
    except FilterPatternError as exc:
        raise InvalidParameterException(f"Invalid filter pattern: {exc}") from None


class LogsService:
    """CloudWatch Logs for function logs (and whatever extensions and apps put there)."""

    def __init__(self, store: LogStore, region: str, account_id: str):
        self.store = store
        self.region = region
        self.account_id = account_id

    def group_arn(self, name: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{name}"

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(call, *args)

    async def _group(self, name: str | None = None, identifier: str | None = None) -> GroupRow:
        if name and identifier:
            raise InvalidParameterException("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if not name and not identifier:
            raise InvalidParameterException("Should provide either name or ARN of the log group.")
        group = await self._run(self.store.group, name or group_name_of(identifier or ""))
        if group is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return group

    # ------------------------------------------------------------ groups
    async def create_log_group(self, params: dict) -> dict:
        try:
            await self._run(self.store.create_group, params["logGroupName"], params.get("logGroupClass", "STANDARD"),
                            params.get("kmsKeyId"), bool(params.get("deletionProtectionEnabled", False)))
        except AlreadyExists:
            raise ResourceAlreadyExistsException("The specified log group already exists") from None
        return {}

    def _describe_group(self, group: GroupRow) -> dict:
        described: dict[str, Any] = {"logGroupName": group.name, "creationTime": group.creation_time}
        if group.retention_days is not None:
            described["retentionInDays"] = group.retention_days
        described.update(metricFilterCount=0, arn=self.group_arn(group.name) + ":*", storedBytes=group.stored_bytes)
        if group.kms_key_id:
            described["kmsKeyId"] = group.kms_key_id
        described.update(logGroupClass=group.log_group_class, logGroupArn=self.group_arn(group.name),
                         deletionProtectionEnabled=bool(group.deletion_protection))
        return described

    async def describe_log_groups(self, params: dict) -> dict:
        prefix, pattern = params.get("logGroupNamePrefix", ""), params.get("logGroupNamePattern", "")
        if prefix and pattern:
            raise InvalidParameterException(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        limit = params.get("limit", 50)
        after = _unopaque(params["nextToken"]) if params.get("nextToken") else ""
        groups: list[GroupRow] = await self._run(self.store.groups, prefix, pattern, after, limit + 1)
        wanted_class = params.get("logGroupClass")
        names = {group_name_of(item) for item in params.get("logGroupIdentifiers") or []}
        answer: dict[str, Any] = {"logGroups": [
            self._describe_group(group) for group in groups[:limit]
            if (not wanted_class or group.log_group_class == wanted_class) and (not names or group.name in names)]}
        if len(groups) > limit:
            answer["nextToken"] = _opaque(groups[limit - 1].name)
        return answer

    async def delete_log_group(self, params: dict) -> dict:
        if not await self._run(self.store.delete_group, params["logGroupName"]):
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return {}

    async def put_retention_policy(self, params: dict) -> dict:
        days = params["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]")
        if not await self._run(self.store.set_retention, params["logGroupName"], days):
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        await self._run(self.store.sweep)
        return {}

    async def delete_retention_policy(self, params: dict) -> dict:
        if not await self._run(self.store.set_retention, params["logGroupName"], None):
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return {}

    # ------------------------------------------------------------ streams
    async def create_log_stream(self, params: dict) -> dict:
        group = await self._group(params["logGroupName"])
        try:
            await self._run(self.store.create_stream, group.id, params["logStreamName"])
        except AlreadyExists:
            raise ResourceAlreadyExistsException("The specified log stream already exists") from None
        return {}

    def _describe_stream(self, group: GroupRow, stream: StreamRow) -> dict:
        described: dict[str, Any] = {"logStreamName": stream.name, "creationTime": stream.creation_time}
        if stream.first_event is not None:
            described["firstEventTimestamp"] = stream.first_event
        if stream.last_event is not None:
            described["lastEventTimestamp"] = stream.last_event
        if stream.last_ingestion is not None:
            described["lastIngestionTime"] = stream.last_ingestion
        if stream.sequence:
            described["uploadSequenceToken"] = f"{stream.sequence:056d}"
        described["arn"] = f"{self.group_arn(group.name)}:log-stream:{stream.name}"
        described["storedBytes"] = 0  # AWS reports 0 for streams since 2019 (the group has the figure)
        return described

    async def describe_log_streams(self, params: dict) -> dict:
        group = await self._group(params.get("logGroupName"), params.get("logGroupIdentifier"))
        prefix, order_by = params.get("logStreamNamePrefix", ""), params.get("orderBy", "LogStreamName")
        if prefix and order_by == "LastEventTime":
            raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        streams: list[StreamRow] = await self._run(self.store.streams, group.id, prefix)
        if order_by == "LastEventTime":
            streams.sort(key=lambda stream: (stream.last_event or 0, stream.name))
        if params.get("descending"):
            streams.reverse()
        start = 0
        if params.get("nextToken"):
            position = _unopaque(params["nextToken"])
            start = int(position) if position.isdigit() else -1
            if not 0 <= start <= len(streams):
                raise InvalidParameterException(BAD_TOKEN)
        limit = params.get("limit", 50)
        page = streams[start:start + limit]
        answer: dict[str, Any] = {"logStreams": [self._describe_stream(group, stream) for stream in page]}
        if start + limit < len(streams):
            answer["nextToken"] = _opaque(str(start + limit))
        return answer

    async def delete_log_stream(self, params: dict) -> dict:
        group = await self._group(params["logGroupName"])
        if not await self._run(self.store.delete_stream, group.id, params["logStreamName"]):
            raise ResourceNotFoundException(STREAM_NOT_FOUND)
        return {}

    # ------------------------------------------------------------ events
    async def get_log_events(self, params: dict) -> dict:
        group = await self._group(params.get("logGroupName"), params.get("logGroupIdentifier"))
        stream = await self._run(self.store.stream, group.id, params["logStreamName"])
        if stream is None:
            raise ResourceNotFoundException(STREAM_NOT_FOUND)
        start, end = params.get("startTime", 0), params.get("endTime", _NO_END)
        limit = params.get("limit", 10_000)
        token = params.get("nextToken")
        direction, key = _parse_token(token) if token else ("f" if params.get("startFromHead") else "b", None)
        if direction == "f":
            rows = await self._run(self.store.events, group.id, [stream.id], start, end, key, None, limit)
            rows = _within_bytes(rows)
        else:
            rows = await self._run(self.store.events, group.id, [stream.id], start, end, None,
                                   key or (_NO_END, 0), limit)
            rows = _within_bytes(rows[::-1])[::-1]
        if rows:
            forward, backward = (rows[-1].timestamp, rows[-1].id), (rows[0].timestamp, rows[0].id)
        else:
            forward = backward = key or (0, 0)
        return {"events": [{"timestamp": row.timestamp, "message": row.message, "ingestionTime": row.ingestion}
                           for row in rows],
                "nextForwardToken": _token("f", forward), "nextBackwardToken": _token("b", backward)}

    async def filter_log_events(self, params: dict) -> dict:
        group = await self._group(params.get("logGroupName"), params.get("logGroupIdentifier"))
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names and prefix:
            raise InvalidParameterException("logStreamNames and logStreamNamePrefix are mutually exclusive.")
        matcher = pattern_matcher(params.get("filterPattern"))
        stream_ids: list[int] | None = None
        if names or prefix:
            streams: list[StreamRow] = await self._run(self.store.streams, group.id, prefix or "")
            stream_ids = [stream.id for stream in streams if not names or stream.name in names]
        start, end = params.get("startTime", 0), params.get("endTime", _NO_END)
        limit = params.get("limit", 10_000)
        after = None
        if params.get("nextToken"):
            _, after = _parse_token(params["nextToken"])
        found: list[EventRow] = []
        size, scanned, more = 0, 0, False
        while not more:
            rows = await self._run(self.store.events, group.id, stream_ids, start, end, after, None, _FILTER_SCAN)
            for row in rows:
                after = (row.timestamp, row.id)
                if matcher(row.message):
                    size += len(row.message) + 26
                    found.append(row)
                    if len(found) >= limit or size >= MAX_RESPONSE_BYTES:
                        more = True  # perhaps: the next call tells
                        break
            scanned += len(rows)
            if len(rows) < _FILTER_SCAN:
                break
            more = more or scanned >= _FILTER_SCAN_MAX
        answer: dict[str, Any] = {
            "events": [{"logStreamName": row.stream, "timestamp": row.timestamp, "message": row.message,
                        "ingestionTime": row.ingestion, "eventId": event_id(row)} for row in found],
            "searchedLogStreams": []}  # AWS: no longer filled in since 2020
        if more and after is not None:
            answer["nextToken"] = _token("f", after)
        return answer

    async def put_log_events(self, params: dict) -> dict:
        group = await self._group(params["logGroupName"])
        stream = await self._run(self.store.stream, group.id, params["logStreamName"])
        if stream is None:
            raise ResourceNotFoundException(STREAM_NOT_FOUND)
        events = params["logEvents"]
        stamps = [event["timestamp"] for event in events]
        if stamps != sorted(stamps):
            raise InvalidParameterException(
                "Log events in a single PutLogEvents request must be in chronological order.")
        if stamps[-1] - stamps[0] > 24 * 3600 * 1000:
            raise InvalidParameterException(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        now, day = self.store.clock(), self.store.day_ms
        too_old = now - int(14 * day)
        expired = now - int(group.retention_days * day) if group.retention_days else None
        too_new = now + 2 * 3600 * 1000
        rejected: dict[str, int] = {}
        accepted = []
        for index, event in enumerate(events):
            if event["timestamp"] > too_new:
                rejected.setdefault("tooNewLogEventStartIndex", index)
            elif expired is not None and event["timestamp"] < expired:
                rejected["expiredLogEventEndIndex"] = index
            elif event["timestamp"] < too_old:
                rejected["tooOldLogEventEndIndex"] = index
            else:
                accepted.append((event["timestamp"], event["message"]))
        sequence = await self._run(self.store.put_events, group.id, stream.id, accepted)
        for timestamp, message in accepted:  # live tails hear of them (write_messages would store them twice)
            for listener in list(self.store.listeners):
                listener(group.name, stream.name, timestamp, message)
        answer: dict[str, Any] = {"nextSequenceToken": f"{sequence:056d}"}
        if rejected:
            answer["rejectedLogEventsInfo"] = rejected
        return answer


def _within_bytes(rows: list[EventRow]) -> list[EventRow]:
    """The first rows whose messages (plus 26 bytes each, as AWS counts) fit in one answer."""
    size = 0
    for index, row in enumerate(rows):
        size += len(row.message) + 26
        if size > MAX_RESPONSE_BYTES:
            return rows[:max(index, 1)]
    return rows

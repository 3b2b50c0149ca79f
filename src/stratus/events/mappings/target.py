"""Invoking a mapping's function: the normal synchronous invoke path, so concurrency limits apply.

A throttle (TooManyRequestsException) is not a failure of the batch: the poller waits and tries the
same batch again, as Lambda's pollers do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Protocol

import msgspec

from stratus.control.names import Arns
from stratus.errors import ResourceNotFoundException, TooManyRequestsException
from stratus.invoke.entry import InvokeService
from stratus.invoke.types import Outcome
from stratus.shapes import FunctionRecord

_THROTTLE_BACKOFF_MAX_S = 5.0


class MappingFunctions(Protocol):
    """What pollers use of the functions (control/functions.py's FunctionService): ARNs and routing."""

    @property
    def arns(self) -> Arns: ...

    def route(self, reference: str, qualifier: str | None = None) -> tuple[FunctionRecord, str, str | None]:
        """(record, version, qualifier) of a function, version or alias; ResourceNotFoundException if none."""
        ...


class FunctionGone(Exception):
    """The mapping's function (or its version / alias) does not exist (any more)."""


@dataclasses.dataclass
class Result:
    """One invocation of a batch."""

    outcome: Outcome
    request_id: str
    executed_version: str

    @property
    def failed(self) -> bool:
        return bool(self.outcome.function_error)


class FunctionTarget:
    """Invokes one function (+ qualifier) with a batch's event."""

    def __init__(self, functions: MappingFunctions, invoke_service: InvokeService, function_name: str,
                 qualifier: str | None):
        self.functions = functions
        self.invoke_service = invoke_service
        self.function_name = function_name
        self.qualifier = qualifier

    @property
    def function_arn(self) -> str:
        return self.functions.arns.function(self.function_name, self.qualifier)

    def exists(self) -> bool:
        try:
            self.functions.route(self.function_name, self.qualifier)
        except ResourceNotFoundException:
            return False
        return True

    async def invoke(self, payload: bytes, trace_id: bytes | None = None) -> Result:
        """Run the function with `payload` and wait for its answer; retries throttles until it runs.

        `trace_id`: the X-Amzn-Trace-Id the batch continues (an SQS message's AWSTraceHeader); None: a new
        trace for the batch. Raises FunctionGone when the function does not exist.
        """
        backoff = 0.05
        while True:
            try:
                target = self.invoke_service.resolve(self.function_name, self.qualifier)
            except ResourceNotFoundException:
                raise FunctionGone(self.function_arn) from None
            request_id = str(uuid.uuid4())
            try:
                result = await self.invoke_service.invoke(target, payload, request_id=request_id, trace_id=trace_id)
            except TooManyRequestsException:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _THROTTLE_BACKOFF_MAX_S)
                continue
            assert result.outcome is not None  # a RequestResponse invoke always has one
            return Result(result.outcome, request_id, result.executed_version)


def batch_item_failures(result: Result, identifiers: list[str]) -> list[str] | None:
    """The identifiers a ReportBatchItemFailures response names, in batch order.

    None means the whole batch failed: a function error, or a response Lambda cannot read (not JSON,
    an entry without a known itemIdentifier). An empty answer, null or no batchItemFailures: none failed.
    """
    if result.failed:
        return None
    payload = result.outcome.payload.strip()
    if not payload:
        return []
    try:
        document = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    if document is None or not isinstance(document, dict):
        return [] if document in (None, "", {}) else None
    failures = document.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    known = set(identifiers)
    named = set()
    for entry in failures:
        if not isinstance(entry, dict):
            return None
        identifier = entry.get("itemIdentifier")
        if not isinstance(identifier, str) or identifier not in known:
            return None
        named.add(identifier)
    return [identifier for identifier in identifiers if identifier in named]

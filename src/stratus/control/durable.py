"""Durable executions, while Stratus runs none (they are a later issue): every operation answers as Lambda
does for an execution or callback that does not exist, and a function's list of executions is empty."""

from __future__ import annotations

from stratus.control.functions import FunctionService
from stratus.errors import InvalidParameterValueException, ResourceNotFoundException
from stratus.shapes import ListDurableExecutionsByFunctionResponse


class DurableExecutions:
    """GetDurableExecution(History, State), StopDurableExecution, CheckpointDurableExecution,
    SendDurableExecutionCallback(Success, Failure, Heartbeat), ListDurableExecutionsByFunction."""

    def __init__(self, functions: FunctionService):
        self.functions = functions

    def missing(self, arn: str) -> ResourceNotFoundException:
        """The answer to Get/GetHistory/GetState/Stop of an execution (none exists)."""
        return ResourceNotFoundException(f"Durable execution not found: {arn}")

    def bad_checkpoint(self, arn: str) -> InvalidParameterValueException:
        """CheckpointDurableExecution's answer (its model has no ResourceNotFoundException)."""
        return InvalidParameterValueException(f"Invalid checkpoint token: no durable execution {arn} is running.")

    def bad_callback(self, callback_id: str) -> InvalidParameterValueException:
        """SendDurableExecutionCallback*'s answer (their model has no ResourceNotFoundException)."""
        return InvalidParameterValueException(f"Invalid callback id: {callback_id}")

    async def list_by_function(self, reference: str, qualifier: str | None) -> ListDurableExecutionsByFunctionResponse:
        self.functions.lookup(reference, qualifier)  # ResourceNotFoundException for a missing function or qualifier
        return ListDurableExecutionsByFunctionResponse(DurableExecutions=[])

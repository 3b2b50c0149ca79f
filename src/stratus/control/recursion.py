"""Recursive loop detection's per-function setting (Get/PutFunctionRecursionConfig) and the check itself.

A function's RecursiveLoop is Terminate unless set to Allow; it is a store document (kind "recursion", key
"<function>:"), deleted with the function, and kept in memory: the async queue and the SQS poller ask
`stops` before they run an event. How the chain is counted (the trace header's Lineage) is invoke/trace.py's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from stratus.errors import ResourceNotFoundException
from stratus.invoke import trace
from stratus.shapes import FunctionRecursionConfig

if TYPE_CHECKING:
    from stratus.control.functions import FunctionService

KIND = "recursion"
TERMINATE, ALLOW = "Terminate", "Allow"


class RecursionService:
    """GetFunctionRecursionConfig, PutFunctionRecursionConfig, and the recursion check."""

    def __init__(self, functions: FunctionService):
        self.functions = functions
        self.limit = functions.settings.recursion_limit
        self._allowed: set[str] = set()  # functions whose RecursiveLoop is Allow
        functions.owned_kinds.append(KIND)
        functions.on_function_deleted.append(self._allowed.discard)

    async def load(self) -> None:
        """Read the configs (at start-up)."""
        for key, body in await self.functions.store.list_documents(KIND):
            if msgspec.json.decode(body, type=FunctionRecursionConfig).RecursiveLoop == ALLOW:
                self._allowed.add(key.split(":", 1)[0])

    def stops(self, function_name: str, header: bytes | None) -> bool:
        """Whether an event of the trace `header` must not invoke `function_name`: its chain has invoked
        Lambda `recursion_limit` times (AWS: 16) and the function's RecursiveLoop is Terminate."""
        return trace.loops(header) >= self.limit and function_name not in self._allowed

    async def get(self, reference: str) -> FunctionRecursionConfig:
        name = self._existing(reference)
        return FunctionRecursionConfig(RecursiveLoop=ALLOW if name in self._allowed else TERMINATE)

    async def put(self, reference: str, recursive_loop: str) -> FunctionRecursionConfig:
        """Set the function's RecursiveLoop (Allow or Terminate: the API checked it)."""
        functions = self.functions
        async with functions.lock:
            name = self._existing(reference)
            body = msgspec.json.encode(FunctionRecursionConfig(RecursiveLoop=recursive_loop))
            await functions.store.apply(puts=[(KIND, f"{name}:", body)])
            if recursive_loop == ALLOW:
                self._allowed.add(name)
            else:
                self._allowed.discard(name)
        return FunctionRecursionConfig(RecursiveLoop=recursive_loop)

    def _existing(self, reference: str) -> str:
        name, _ = self.functions.arns.resolve(reference)
        if self.functions.registry.latest(name) is None:
            raise ResourceNotFoundException(f"Function not found: {self.functions.arns.function(name)}")
        return name

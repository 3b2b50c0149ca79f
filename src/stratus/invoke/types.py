"""The invoke path's value types, importable by api/, events/ and control/ without the machinery.

`InvokeService` (invoke/entry.py) is the one way in: a caller resolves a `Target` and invokes it with
a payload, and gets one `InvokeResult` back. `FunctionResolver` and `EventQueue` are what the entry
point needs from the layers around it (control/ resolves names; events/ stores Event invokes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import msgspec

if TYPE_CHECKING:
    from stratus.invoke.streaming import ResponseStream

InvocationType = Literal["RequestResponse", "Event", "DryRun"]
INVOCATION_TYPES: tuple[InvocationType, ...] = ("RequestResponse", "Event", "DryRun")


class State(enum.Enum):
    """Where an environment is in its lifecycle (the values are the RIE's names, used in its errors)."""

    INIT = "Started"
    READY = "Ready"
    RUNNING = "Running"
    RESPONDED = "RuntimeResponseSentState"
    INIT_ERROR = "InitError"
    DEAD = "Dead"


@dataclasses.dataclass(frozen=True)
class EnvironmentSpec:
    """Everything an environment of one function version (at one revision) is started from."""

    function_name: str
    function_arn: str
    version: str
    revision_id: str
    runtime: str
    handler: str
    memory_mb: int
    timeout_s: int
    ephemeral_storage_mb: int
    task_root: Path  # on the host
    runtime_dir: Path  # on the host
    argv: tuple[str, ...]
    env: dict[str, str]  # the function's own variables plus the runtime's
    region: str
    opt_dir: Path | None = None  # on the host: the function's layers, merged (mounted at /opt when namespaced)
    role: str = ""  # the execution role: each environment gets temporary credentials for it
    interpreter_prefix: str = ""  # on the host: the runtime interpreter's install folder (mounted read-only)
    init_warning: str = ""  # one line for the log at each INIT (the runtime runs on another version)
    # A custom runtime with no bootstrap in its code nor its layers: its INIT fails as AWS's does
    # (Runtime.InvalidEntrypoint), "" otherwise.
    missing_entrypoint: str = ""
    sdk_dir: Path | None = None  # on the host: the runtime's AWS SDK (boto3, @aws-sdk), shared read-only
    # Checks (blocking; run in a worker thread) that task_root and opt_dir are intact before an environment
    # starts, rebuilding them if not; raises a LambdaError when the code cannot be had (a corrupt blob).
    prepare: Callable[[], None] | None = dataclasses.field(default=None, compare=False, repr=False)
    # LoggingConfig: where the logs go ("": /aws/lambda/<function>), Text or JSON, and in JSON the lowest
    # levels kept of the function's output lines and of the platform's own records.
    log_group: str = ""
    log_format: str = "Text"
    application_log_level: str = "INFO"
    system_log_level: str = "INFO"
    # Debug mode (invoke/debug.py): the folder holding debugpy, shown read-only to a Python debug environment.
    debug_dir: Path | None = None
    # SnapStart (invoke/snapstart.py): a published version whose OptimizationStatus is On.
    snap_start: bool = False

    def __post_init__(self) -> None:
        if not self.log_group:
            object.__setattr__(self, "log_group", f"/aws/lambda/{self.function_name}")

    @property
    def pool_key(self) -> tuple[str, str, str]:
        return (self.function_name, self.version, self.revision_id)


class Credentials(Protocol):
    """Temporary credentials for an execution role, valid while one environment lives (auth/sessions.py)."""

    def issue(self, role_arn: str, function_arn: str) -> tuple[str, dict[str, str]]:
        """(the access key id, the AWS_* variables the environment gets)."""

    def revoke(self, key_id: str) -> None: ...


class Outcome:
    """What one invocation produced, as the invoke API reports it."""

    __slots__ = ("payload", "content_type", "function_error", "error_type", "duration_ms",
                 "init_duration_ms", "log")

    def __init__(self, payload: bytes, content_type: bytes = b"application/json",
                 function_error: str | None = None, error_type: str | None = None):
        self.payload = payload
        self.content_type = content_type
        self.function_error = function_error  # "Unhandled" for any function error, as AWS reports it
        self.error_type = error_type  # the precise type, for logs and retries
        self.duration_ms = 0.0
        self.init_duration_ms: float | None = None
        self.log = b""


def platform_error(request_id: str, error_type: str, message: str) -> Outcome:
    """An Outcome for an error of the platform (timeout, crash), in AWS's body shape."""
    body = msgspec.json.encode({"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"})
    return Outcome(body, function_error="Unhandled", error_type=error_type)


class Invocation:
    """One request handed to an environment; `future` resolves to its Outcome."""

    __slots__ = ("request_id", "payload", "content_type", "invoked_arn", "client_context", "cognito_identity",
                 "trace_id", "tenant_id", "want_log", "future", "delivered_at", "log", "timer", "stream")

    def __init__(self, payload: bytes, invoked_arn: str, *, request_id: str | None = None,
                 content_type: bytes = b"application/json", client_context: bytes | None = None,
                 cognito_identity: bytes | None = None, trace_id: bytes | None = None,
                 tenant_id: bytes | None = None, want_log: bool = False, stream: ResponseStream | None = None):
        self.request_id = request_id or str(uuid.uuid4())
        self.payload = payload
        self.content_type = content_type
        self.invoked_arn = invoked_arn
        self.client_context = client_context
        self.cognito_identity = cognito_identity
        self.trace_id = trace_id
        self.tenant_id = tenant_id
        self.want_log = want_log
        self.future: asyncio.Future[Outcome | None] | None = None
        self.delivered_at = 0.0
        self.log = bytearray()
        self.timer: asyncio.TimerHandle | None = None
        # A caller that takes the response as it comes (InvokeWithResponseStream, streaming Function URLs):
        # a runtime's streamed `/response` is passed on chunk by chunk (invoke/streaming.py).
        self.stream = stream


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A resolved invoke target: the function version that runs, and how the caller named it."""

    function_name: str
    qualifier: str | None  # as invoked (None: unqualified); an alias stays an alias here
    executed_version: str  # the version that runs ("$LATEST", "3"): an alias's pick, weights applied
    invoked_arn: str  # the ARN the function sees as invoked_function_arn
    spec: EnvironmentSpec
    active_tracing: bool = False  # TracingConfig Mode Active: Lambda samples the invocations it starts a trace for


class InvokeResult:
    """The one answer of `InvokeService.invoke`.

    `status` 200 carries the function's `outcome` (its error too: `outcome.function_error`); 202 means
    an Event invoke is durably queued; 204 a DryRun that passed every check.
    """

    __slots__ = ("status", "request_id", "executed_version", "outcome")

    def __init__(self, status: int, request_id: str, executed_version: str, outcome: Outcome | None = None):
        self.status = status
        self.request_id = request_id
        self.executed_version = executed_version
        self.outcome = outcome


class FunctionResolver(Protocol):
    """Names → targets (control/functions.py implements it)."""

    def target(self, reference: str, qualifier: str | None = None) -> Target:
        """The Target `reference` (+ `qualifier`) names; ResourceNotFoundException when none."""
        ...


class EventQueue(Protocol):
    """Where Event invokes are stored durably (events/async_queue.py implements it)."""

    def accept(self, function_name: str, qualifier: str | None, payload: bytes, request_id: str,
               accepted: InvokeResult, trace: bytes) -> asyncio.Future[InvokeResult]:
        """Store the event with the trace it belongs to (every attempt and its destinations keep it); the
        future resolves to `accepted` once it is on disk."""
        ...

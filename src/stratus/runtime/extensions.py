"""The Extensions API (2020-01-01) of one execution environment: who registered, for which events,
where each extension is in its lifecycle, the events it is given, and how external extensions are
started before the runtime.

States, error types and messages follow AWS's Runtime Interface Emulator (lambda/core, lambda/rapi):
an extension whose `Lambda-Extension-Name` is the file name of an executable in /opt/extensions is
*external* (a process Lambda started); any other name registers an *internal* extension (a thread
or child of the runtime), which may only subscribe to INVOKE and only until the runtime's first
`/next`. At most 10 extensions per environment.
"""

from __future__ import annotations

import enum
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import msgspec

from stratus.runtime.http import HttpServerProtocol

MAX_EXTENSIONS = 10
INVOKE = "INVOKE"
SHUTDOWN = "SHUTDOWN"
EVENT_HEADER = b"Lambda-Extension-Event-Identifier"
IDENTIFIER_HEADER = b"Lambda-Extension-Identifier"
_NOT_ALLOWED = "State transition is not allowed"

# Variables of the runtime process that extensions do not see (AWS's Extensions API guide; the
# RIE also drops every name starting with "_").
RUNTIME_ONLY_VARIABLES = frozenset({
    "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_XRAY_CONTEXT_MISSING",
    "AWS_XRAY_DAEMON_ADDRESS", "LAMBDA_RUNTIME_DIR", "LAMBDA_TASK_ROOT",
})
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ExtensionState(enum.Enum):
    STARTED = "Started"  # an external extension's process runs; it has not registered yet
    REGISTERED = "Registered"
    READY = "Ready"  # waiting in event/next
    RUNNING = "Running"  # holds an event
    INIT_ERROR = "InitError"
    EXIT_ERROR = "ExitError"
    EXITED = "Exited"  # the target named when exit/error is refused, as the RIE names it
    LAUNCH_ERROR = "LaunchError"


class ExtensionApiError(Exception):
    """An Extensions API call refused: answered with `status` and AWS's error JSON."""

    def __init__(self, error_type: str, message: str, status: int = 403):
        super().__init__(message)
        self.status = status
        self.body = msgspec.json.encode({"errorMessage": message, "errorType": error_type}) + b"\n"


class Extension:
    __slots__ = ("name", "id", "external", "state", "invoke", "shutdown", "conn", "pending", "error_type", "exited")

    def __init__(self, name: str, external: bool):
        self.name = name
        self.id = ""
        self.external = external
        self.state = ExtensionState.STARTED
        self.invoke = False  # subscribed to INVOKE
        self.shutdown = False  # subscribed to SHUTDOWN
        self.conn: HttpServerProtocol | None = None  # its event/next, while it waits
        self.pending: bytes | None = None  # an event it gets at its next event/next
        self.error_type = ""
        self.exited = False  # its process ended (external extensions)

    def give(self, event: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """Answer its waiting event/next with `event` (if it is not waiting, at its next one)."""
        conn = self.conn
        if conn is None:
            self.pending = event
            return
        self.conn = None
        self.state = ExtensionState.RUNNING
        conn.send(200, event, headers)

    def events(self) -> list[str]:
        """The events it subscribed to (its EXTENSION line's `Events`)."""
        return [event for event, on in ((INVOKE, self.invoke), (SHUTDOWN, self.shutdown)) if on]


def external_names(opt_dir: Path | None) -> list[str]:
    """File names in `<opt>/extensions` (every entry but folders, sorted as Lambda lists them)."""
    if opt_dir is None:
        return []
    try:
        with os.scandir(opt_dir / "extensions") as entries:
            return sorted(entry.name for entry in entries if not entry.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def extension_unset(env: dict[str, str]) -> list[str]:
    """The names in `env` that external extensions must not inherit from the runtime's environment."""
    return sorted(name for name in env
                  if (name in RUNTIME_ONLY_VARIABLES or name.startswith("_")) and _VARIABLE_NAME.fullmatch(name))


# The launcher: the sandbox's main process when external extensions exist (run by /bin/sh). It starts
# each extension (fd 3 closed, cwd /, without the runtime-only variables), reports on fd 3 — the
# control socket it got as stdin — when one ends ("x INDEX STATUS") or cannot be started ("l INDEX"),
# waits for "go" (every extension registered), starts the runtime ("p PID"), forwards SIGTERM to it,
# reports its end ("r STATUS"), and stays until the extensions have ended too, so that a runtime that exits
# first (at SHUTDOWN) does not take them along (a pid namespace ends with its first process).
_LAUNCHER = r'''exec 3<&0 </dev/null
i=0
while [ "$1" != -- ]; do
  if [ -f "$1" ] && [ -x "$1" ]; then
    ( cd / && unset UNSET; "$1" 3>&-; echo "x $i $?" >&3 ) &
  else
    echo "l $i" >&3
  fi
  i=$((i+1)); shift
done
shift
r= t=
trap 't=1; [ -n "$r" ] && kill -TERM "$r"' TERM
read -r go <&3 || exit 0
[ "$go" = go ] || exit 0
"$@" 3>&- &
r=$!
echo "p $r" >&3
while :; do t=; wait "$r" 2>/dev/null; s=$?; [ -z "$t" ] && break; done
echo "r $s" >&3
wait
exit "$s"
'''

# AWS_LAMBDA_EXEC_WRAPPER, as the bootstrap of AWS's managed runtimes applies it: the runtime's
# command becomes the wrapper's arguments.
_WRAPPER = r'''w=$AWS_LAMBDA_EXEC_WRAPPER
if [ ! -f "$w" ]; then echo "$w: does not exist"; exit 127; fi
if [ ! -x "$w" ]; then echo "$w: is not an executable"; exit 126; fi
exec "$w" "$@"
'''


def launcher_argv(paths: list[str], unset: list[str]) -> list[str]:
    """The command prefix that starts the extensions at `paths`, then (on "go") the runtime."""
    script = _LAUNCHER.replace("UNSET", " ".join(unset) or "_STRATUS_NOTHING")
    return ["/bin/sh", "-c", script, "stratus-extensions", *paths, "--"]


def wrapper_argv() -> list[str]:
    """The command prefix that runs the runtime through the script named by AWS_LAMBDA_EXEC_WRAPPER."""
    return ["/bin/sh", "-c", _WRAPPER, "stratus-exec-wrapper"]


def invoke_event(request_id: str, deadline_ms: int, invoked_arn: str, trace_id: bytes | None) -> bytes:
    event = {"eventType": INVOKE, "deadlineMs": deadline_ms, "requestId": request_id, "invokedFunctionArn": invoked_arn}
    if trace_id:
        event["tracing"] = {"type": "X-Amzn-Trace-Id", "value": trace_id.decode("utf-8", "replace")}
    return msgspec.json.encode(event)


def shutdown_event(reason: str, deadline_ms: int) -> bytes:
    return msgspec.json.encode({"eventType": SHUTDOWN, "deadlineMs": deadline_ms, "shutdownReason": reason})


class _RegisterBody(msgspec.Struct):
    events: list[str] | None = None
    configurationKeys: list[str] | None = None


class Extensions:
    """The extensions of one environment and their states (no I/O beyond answering parked calls)."""

    def __init__(self, external: list[str], registration_open: bool = True):
        self.external = [Extension(name, True) for name in external]
        self.internal: list[Extension] = []
        self._by_name = {ext.name: ext for ext in self.external}
        self._by_id: dict[str, Extension] = {}
        self.registration_open = registration_open

    # ------------------------------------------------------------------ queries
    def registered(self) -> list[Extension]:
        return [ext for ext in self.external + self.internal if ext.id]

    def all_external_registered(self) -> bool:
        return all(ext.id for ext in self.external)

    def all_ready(self) -> bool:
        """Every registered extension waits in event/next (INIT may complete)."""
        return all(ext.state is ExtensionState.READY for ext in self.registered())

    def invoke_busy(self) -> bool:
        """Some extension subscribed to INVOKE has not asked for its next event yet."""
        return any(ext.invoke and ext.state is ExtensionState.RUNNING for ext in self.registered())

    def find(self, request_headers: dict[bytes, bytes], unknown_message: str | None = None,
             require_error_type: bool = False) -> Extension:
        """The extension named by the Lambda-Extension-Identifier header, or the RIE's 403 (checked in
        the RIE's order: the identifier's form, the error type header, then the identifier itself)."""
        raw = request_headers.get(b"lambda-extension-identifier", b"")
        if not raw:
            raise ExtensionApiError("Extension.MissingExtensionIdentifier",
                                    "Missing Lambda-Extension-Identifier header")
        try:
            identifier = str(uuid.UUID(raw.decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            raise ExtensionApiError("Extension.InvalidExtensionIdentifier",
                                    "Invalid Lambda-Extension-Identifier") from None
        if require_error_type and not request_headers.get(b"lambda-extension-function-error-type"):
            raise ExtensionApiError("Extension.MissingHeader", "Lambda-Extension-Function-Error-Type not found")
        ext = self._by_id.get(identifier)
        if ext is None:
            raise ExtensionApiError("Extension.UnknownExtensionIdentifier",
                                    unknown_message or f"Unknown extension {identifier}")
        return ext

    # ------------------------------------------------------------------ API calls
    def register(self, name: str, body: bytes) -> Extension:
        """POST /extension/register: the registered extension, or ExtensionApiError."""
        if not name:
            raise ExtensionApiError("Extension.InvalidExtensionName", "Empty extension name")
        events = _parse_register(body)
        ext = self._by_name.get(name)
        if ext is not None and ext.external:
            for event in events:
                if event not in (INVOKE, SHUTDOWN):
                    raise ExtensionApiError("Extension.InvalidEventType", f"{event}: ErrorInvalidEventType")
            if ext.state is not ExtensionState.STARTED:
                raise _transition_error(ext.state.value, ExtensionState.REGISTERED.value, name)
        else:
            for event in events:
                if event == SHUTDOWN:
                    raise ExtensionApiError("Extension.InvalidEventType",
                                            f"{event}: ShutdownEventNotSupportedForInternalExtension")
                if event != INVOKE:
                    raise ExtensionApiError("Extension.InvalidEventType", f"{event}: ErrorInvalidEventType")
            if not self.registration_open:
                raise ExtensionApiError("Extension.RegistrationClosed", "Extension registration closed already")
            if len(self.external) + len(self.internal) >= MAX_EXTENSIONS:
                raise ExtensionApiError("Extension.TooManyExtensions", f"Extension limit ({MAX_EXTENSIONS}) reached")
            if ext is not None:
                raise ExtensionApiError("Extension.InvalidExtensionState",
                                        "Extension with this name already registered")
            ext = Extension(name, False)
            self.internal.append(ext)
            self._by_name[name] = ext
        ext.invoke = INVOKE in events
        ext.shutdown = SHUTDOWN in events
        ext.id = str(uuid.uuid4())
        ext.state = ExtensionState.REGISTERED
        self._by_id[ext.id] = ext
        return ext

    def ready(self, ext: Extension) -> None:
        """GET /event/next: the extension waits for its next event (or ExtensionApiError)."""
        if ext.state not in (ExtensionState.REGISTERED, ExtensionState.RUNNING):
            raise _transition_error(ext.state.value, ExtensionState.READY.value, ext.id)
        ext.state = ExtensionState.READY

    def init_error(self, ext: Extension, error_type: str) -> None:
        if ext.state is ExtensionState.INIT_ERROR:
            return  # repeated calls are accepted; the first error counts
        if ext.state is not ExtensionState.REGISTERED:
            raise _transition_error(ext.state.value, ExtensionState.INIT_ERROR.value, ext.id)
        ext.state = ExtensionState.INIT_ERROR
        ext.error_type = error_type

    def exit_error(self, ext: Extension, error_type: str) -> None:
        if ext.state is ExtensionState.EXIT_ERROR:
            return
        if ext.state not in (ExtensionState.REGISTERED, ExtensionState.READY, ExtensionState.RUNNING):
            raise _transition_error(ext.state.value, ExtensionState.EXITED.value, ext.id)
        ext.state = ExtensionState.EXIT_ERROR
        ext.error_type = error_type
        if ext.conn is not None:  # a call still waiting in event/next gets no event any more
            ext.conn.close()
            ext.conn = None

    # ------------------------------------------------------------------ events
    def dispatch_invoke(self, event: bytes) -> None:
        """Give the INVOKE event to every extension subscribed to it (all wait in event/next)."""
        for ext in self.registered():
            if ext.invoke and ext.state is ExtensionState.READY:
                ext.give(event, [(EVENT_HEADER, str(uuid.uuid4()).encode())])

    def dispatch_shutdown(self, event: bytes) -> list[Extension]:
        """Give the SHUTDOWN event to every external extension subscribed to it (now if it waits,
        else at its next event/next); returns those, whose exit the SHUTDOWN phase waits for."""
        targets = []
        for ext in self.external:
            if ext.shutdown and ext.state in (ExtensionState.REGISTERED, ExtensionState.READY, ExtensionState.RUNNING):
                ext.give(event)
                targets.append(ext)
        return targets

    def close_waiting(self) -> None:
        for ext in self.external + self.internal:
            if ext.conn is not None:
                ext.conn.close()
                ext.conn = None


def _parse_register(body: bytes) -> list[str]:
    if not body.strip():
        raise ExtensionApiError("InvalidRequestFormat", "unexpected end of JSON input")
    try:
        parsed = msgspec.json.decode(body, type=_RegisterBody)
    except msgspec.ValidationError as exc:
        raise ExtensionApiError("InvalidRequestFormat", f"json: cannot unmarshal request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ExtensionApiError("InvalidRequestFormat", f"invalid character in request body: {exc}") from None
    if parsed.configurationKeys:
        raise ExtensionApiError("InvalidRequestFormat",
                                "configurationKeys are deprecated; use environment variables instead")
    return parsed.events or []


def _transition_error(current: str, target: str, who: str) -> ExtensionApiError:
    return ExtensionApiError(
        "Extension.InvalidExtensionState",
        f"State transition from {current} to {target} failed for extension {who}. Error: {_NOT_ALLOWED}")

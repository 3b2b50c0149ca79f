"""Stratus's Python runtime: an ordinary client of the Lambda Runtime API (2018-06-01).

It behaves as AWS's Python runtime (awslambdaric) does for handlers: the same sys.path, context
object, logging format, error shapes and fault types. It imports only what a cold start needs and
speaks HTTP/1.1 over one keep-alive socket.
"""

import _socket
import os
import sys
import time

_BASE = "/2018-06-01/runtime/"


# --------------------------------------------------------------------------- JSON
# `import json` costs more than the rest of a cold start (it pulls in re, enum, functools...), so
# the bootstrap drives CPython's C accelerator `_json` directly, exactly as json.loads/json.dumps
# do with their default arguments; without it (another Python), it falls back to `json`.
class _DecoderContext:
    """The attributes _json.make_scanner reads, with json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}
    _constants = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
    parse_constant = _constants.__getitem__


def _make_json():
    try:
        import _json

        scan = _json.make_scanner(_DecoderContext())

        def loads(data):
            text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
            text = text.strip(" \t\n\r")
            try:
                value, end = scan(text, 0)
            except StopIteration as exc:
                raise ValueError(f"Expecting value: line 1 column {exc.value + 1} (char {exc.value})") from None
            finally:
                _DecoderContext.memo.clear()
            if end != len(text):
                raise ValueError(f"Extra data: char {end}")
            return value

        def dumps(obj, default, ensure_ascii):
            encode = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
            chunks = _json.make_encoder({}, default, encode, None, ": ", ", ", False, False, True)(obj, 0)
            return "".join(chunks)

        dumps({"probe": [1.5, None, True]}, None, True)  # the C signature differs across versions
        return loads, dumps
    except (ImportError, TypeError, AttributeError):
        import json

        def fallback_dumps(obj, default, ensure_ascii):
            return json.dumps(obj, default=default, ensure_ascii=ensure_ascii)

        return json.loads, fallback_dumps


json_loads, json_dumps = _make_json()


class RuntimeClient:
    """A minimal keep-alive HTTP/1.1 client for the Runtime API."""

    def __init__(self):
        self.sock = None
        self.buffer = b""

    def _connect(self):
        path = os.environ.get("_STRATUS_RUNTIME_API_SOCKET")
        if path:  # Stratus also serves the Runtime API on a Unix socket, cheaper than TCP on loopback
            self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            self.sock.connect(path)
        else:
            self.sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
            self.sock.connect((_HOST, int(_PORT)))
            self.sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        self.buffer = b""

    @staticmethod
    def _encode(method, path, body=b"", headers=()):
        head = [f"{method} {_BASE}{path} HTTP/1.1\r\nHost: {RUNTIME_API}\r\nContent-Length: {len(body)}\r\n"]
        for name, value in headers:
            head.append(f"{name}: {value}\r\n")
        head.append("\r\n")
        return "".join(head).encode("latin-1") + body

    def request(self, method, path, body=b"", headers=()):
        if self.sock is None:
            self._connect()
        self.sock.sendall(self._encode(method, path, body, headers))
        return self._read_response()

    def _read_response(self):
        buffer = self.buffer
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Runtime API closed the connection")
            buffer += chunk
        lines = buffer[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body_start = end + 4
        while len(buffer) - body_start < length:
            chunk = self.sock.recv(max(65536, length - (len(buffer) - body_start)))
            if not chunk:
                raise ConnectionError("Runtime API closed the connection")
            buffer += chunk
        self.buffer = buffer[body_start + length:]
        return status, headers, buffer[body_start:body_start + length]

    def next(self):
        status, headers, body = self.request("GET", "invocation/next")
        if status != 200:
            raise RuntimeError("Failed to get next")
        return headers, body

    def post_response_and_next(self, request_id, body, content_type="application/json"):
        """Post the response and ask for the next invocation in one write (HTTP/1.1 pipelining)."""
        self.sock.sendall(self._encode("POST", f"invocation/{request_id}/response", body,
                                       (("Content-Type", content_type),)) + self._encode("GET", "invocation/next"))
        status, _, refusal = self._read_response()
        if status != 202:
            # The next event is already asked for, so carry on rather than die as awslambdaric would.
            sys.stderr.write(f"Failed to post invocation response: {status} {refusal.decode(errors='replace')}\n")
        status, headers, body = self._read_response()
        if status != 200:
            raise RuntimeError("Failed to get next")
        return headers, body

    def post_error(self, request_id, error, error_type):
        body = _to_json_bytes(error)
        status, _, _ = self.request("POST", f"invocation/{request_id}/error", body,
                                    (("Content-Type", "application/json"),
                                     ("Lambda-Runtime-Function-Error-Type", error_type)))
        if status != 202:
            raise RuntimeError("Failed to post invocation error")

    def post_init_error(self, error, error_type):
        self.request("POST", "init/error", _to_json_bytes(error),
                     (("Lambda-Runtime-Function-Error-Type", error_type),))


# --------------------------------------------------------------------------- errors
class FaultException(Exception):
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace




def _to_json_bytes(obj):
    return json_dumps(obj, _decimal_default, _ENSURE_ASCII).encode("utf-8")


def _decimal_default(obj):
    if type(obj).__name__ == "Decimal":
        return float(obj) if obj % 1 else int(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def make_error(message, error_type, stack_trace, request_id):
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id,
            "stackTrace": stack_trace if stack_trace is not None else []}


def build_fault_result(exc, request_id):
    """The error shape for an exception raised by user code (init or handler)."""
    if isinstance(exc, FaultException):
        return make_error(exc.msg, exc.exception_type, exc.trace, request_id)
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    frames = [frame for frame in frames if frame.filename != __file__]
    return make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def log_error(error):
    """An uncaught error (init or handler) in the log, as awslambdaric writes it: one JSON record in
    JSON format; else `[ERROR] Type: message` and the traceback, its indentation made no-break
    spaces, in one line ("\r" between the lines)."""
    if _LOG_JSON:
        record = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "log_level": "ERROR"}
        record.update(error)
        sys.stdout.write(_to_json_bytes(record).decode("utf-8") + "\n")
        return
    description = "[ERROR]"
    if error["errorType"]:
        description += " " + error["errorType"]
    if error["errorMessage"]:
        description += (":" if error["errorType"] else "") + " " + error["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        if element == "":
            lines.append("")
            continue
        for line in element.splitlines():
            stripped = line.lstrip(" ")
            lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")


# --------------------------------------------------------------------------- handler
def load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultException(FaultException.MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {exc}") from exc
    if modname.split(".")[0] in sys.builtin_module_names:
        raise FaultException(FaultException.BUILT_IN_MODULE_CONFLICT,
                             f"Cannot use built-in module {modname} as a handler module")
    try:
        __import__(modname.replace("/", "."))
        module = sys.modules[modname.replace("/", ".")]
    except ImportError as exc:
        raise FaultException(FaultException.IMPORT_MODULE_ERROR, f"Unable to import module '{modname}': {exc}") from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultException(FaultException.USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{modname}': {exc}",
                             trace) from exc
    function = getattr(module, fname, None)
    if function is None:
        fault = FaultException(FaultException.HANDLER_NOT_FOUND, f"Handler '{fname}' missing on module '{modname}'")

        def missing_handler(event, context):
            raise fault

        return missing_handler
    return function


# --------------------------------------------------------------------------- context
class Client:
    def __init__(self, client):
        self.installation_id = client.get("installation_id")
        self.app_title = client.get("app_title")
        self.app_version_name = client.get("app_version_name")
        self.app_version_code = client.get("app_version_code")
        self.app_package_name = client.get("app_package_name")


class ClientContext:
    def __init__(self, document):
        client = document.get("client")
        self.client = Client(client) if client else None
        self.custom = document.get("custom")
        self.env = document.get("env")


class CognitoIdentity:
    def __init__(self, document):
        self.cognito_identity_id = document.get("cognitoIdentityId")
        self.cognito_identity_pool_id = document.get("cognitoIdentityPoolId")


class LambdaContext:
    """The context object handlers receive, attribute for attribute as AWS's Python runtime builds it."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, identity, tenant_id=None):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(identity or {})
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
                f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
                f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
                f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
                f"identity={self.identity},tenant_id={self.tenant_id}])")


# --------------------------------------------------------------------------- logging
# AWS's runtime puts its handler on the root logger before it imports the function's module, so a
# `logging.basicConfig()` there does nothing and libraries that look for the root handlers (Powertools'
# Logger) find it. Importing `logging` costs a cold start ~15 ms, so the handler is installed at the
# moment `logging` is first imported instead (by anyone: the function, a library): to Python code that
# is the same, and a function that never logs does not pay for it, nor for compiling the handler's code
# (lambda_logging.py, beside this file).
_current_request_id = None
_current_tenant_id = None
_lambda_logging = None


def configure():
    """What the bootstrap reads from its variables: at import, and again in an environment forked from
    the runtime's zygote (zygote.py), which loaded this module before the environment's variables existed."""
    global RUNTIME_API, _HOST, _PORT, _ENSURE_ASCII, _LOG_JSON, _LOG_LEVEL
    RUNTIME_API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    _HOST, _, _PORT = RUNTIME_API.rpartition(":")
    _ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV") not in {
        "AWS_Lambda_python3.12", "AWS_Lambda_python3.13", "AWS_Lambda_python3.14", "AWS_Lambda_python3.15"}
    _LOG_JSON = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
    _LOG_LEVEL = {None: "", "TRACE": "DEBUG"}.get(os.environ.get("AWS_LAMBDA_LOG_LEVEL"),
                                                 os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()


configure()


def lambda_logging():
    """lambda_logging.py's names (compiled on first use)."""
    global _lambda_logging
    if _lambda_logging is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_logging.py")
        with open(path, encoding="utf-8") as source:
            code = compile(source.read(), path, "exec")
        _lambda_logging = {"__name__": "lambda_logging", "__file__": path}
        exec(code, _lambda_logging)
    return _lambda_logging


def setup_logging(logging):
    """Lambda's handler on the root logger of `logging` (the module just loaded)."""
    lambda_logging()["setup_logging"](logging, globals())


class _InstallAfterLoading:
    """The loader of the first `import logging`: the standard one, then the Lambda handler installed."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        setup_logging(module)


class _LoggingImportHook:
    """A sys.meta_path finder that only waits for `logging`; it leaves sys.meta_path at that moment."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        if cls in sys.meta_path:
            sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _InstallAfterLoading(spec.loader)
                return spec
        return None


def install_logging_hook():
    """Install Lambda's root log handler now if `logging` is loaded, else at its first import."""
    if "logging" in sys.modules:
        setup_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingImportHook)


# --------------------------------------------------------------------------- debug mode
def start_debugger():
    """Stratus's debug mode (`stratus debug`): debugpy listens before the handler is imported, so a debugger
    attached through the server's relay sees the whole of INIT's imports and every invocation. debugpy comes
    from a read-only folder of the server's (not the function's code), put at the end of sys.path only for
    this import (its own modules stay importable: debugpy imports them later, lazily)."""
    port = os.environ.pop("_STRATUS_DEBUG_PORT", "")
    path = os.environ.pop("_STRATUS_DEBUGPY_PATH", "")
    if not port or not path:
        return
    sys.path.append(path)
    import debugpy

    deadline = time.monotonic() + 5
    while True:  # the environment this one replaces may still hold the port for a moment (plain sandbox)
        try:
            debugpy.listen(("127.0.0.1", int(port)))
            return
        except Exception as exc:  # noqa: BLE001 - RuntimeError or OSError, depending on where it failed
            if time.monotonic() > deadline:
                sys.stderr.write(f"debug mode: debugpy could not listen on port {port}: {exc}\n")
                return
            time.sleep(0.1)


# --------------------------------------------------------------------------- main loop
def initialize(client):
    """INIT: the search path, Lambda's log handler, the function's module imported; its handler (an INIT
    failure is reported to `client` and ends the runtime)."""
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    runtime_dir = os.path.dirname(os.path.abspath(__file__))
    # The layers' site-packages folder is named after the runtime (python3.12), as on AWS, also when another
    # version serves it on this host (Stratus's fallback).
    runtime = os.environ.get("AWS_EXECUTION_ENV", "")[len("AWS_Lambda_"):]
    minor = runtime if runtime.startswith("python3.") else f"python{sys.version_info.major}.{sys.version_info.minor}"
    # Layers are at /opt, or where the plain sandbox says they are; AWS's order: task root, then the
    # layers' site-packages, then /opt/python.
    opt = os.environ.get("STRATUS_OPT_DIR", "/opt")
    # The runtime's own library (snapshot_restore_py, as AWS's Python runtimes ship it) comes last.
    sys.path[:] = [task_root, f"{opt}/python/lib/{minor}/site-packages", f"{opt}/python"] + [
        entry for entry in sys.path if entry not in (runtime_dir, "")] + [os.path.join(runtime_dir, "lib")]
    handler_name = sys.argv[1] if len(sys.argv) > 1 else os.environ["_HANDLER"]
    install_logging_hook()
    start_debugger()

    try:
        handler = load_handler(handler_name)
    except SystemExit:  # the module ended the process (sys.exit): as under awslambdaric, the runtime exits with it
        raise           # (Runtime.ExitError: "Runtime exited without providing a reason" for status 0)
    except BaseException as exc:  # noqa: BLE001 - every init failure is reported, then the runtime exits
        error = build_fault_result(exc, "")
        try:
            import logging

            logging.warning(lambda_logging()["UNHANDLED_EXCEPTION_WARNING"])
        except Exception:  # noqa: BLE001 - the function's code may have broken logging; report its error anyway
            pass
        log_error(error)
        client.post_init_error(error, error["errorType"] if "." in error["errorType"] else "Runtime.Unknown")
        sys.exit(1)
    return handler


def main(client=None, handler=None):
    """The runtime's loop; `client`: a Runtime API connection already made (a forked environment's);
    `handler`: the function's handler, loaded already (an environment restored from a SnapStart snapshot)."""
    global _current_request_id, _current_tenant_id
    client = client or RuntimeClient()
    if handler is None:
        handler = initialize(client)
    loads = json_loads
    headers, body = client.next()
    while True:
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        _current_request_id = request_id
        _current_tenant_id = headers.get("lambda-runtime-aws-tenant-id")
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            client_context = headers.get("lambda-runtime-client-context")
            identity = headers.get("lambda-runtime-cognito-identity")
            try:
                client_context = loads(client_context) if client_context else None
                identity = loads(identity) if identity else None
            except ValueError as exc:
                raise FaultException(FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR,
                                     f"Unable to parse Client Context JSON: {exc}") from exc
            context = LambdaContext(request_id, int(headers.get("lambda-runtime-deadline-ms", "0")),
                                    headers.get("lambda-runtime-invoked-function-arn"), client_context, identity,
                                    _current_tenant_id)
            content_type = headers.get("content-type", "application/json")
            if content_type == "application/json":
                try:
                    event = loads(body) if body else {}
                except ValueError as exc:
                    raise FaultException(FaultException.UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from exc
            else:
                event = body
            result = handler(event, context)
            if isinstance(result, (bytes, bytearray)):
                payload, result_type = bytes(result), "application/unknown"
            else:
                try:
                    payload, result_type = _to_json_bytes(result), "application/json"
                except (TypeError, ValueError) as exc:
                    raise FaultException(FaultException.MARSHAL_ERROR, f"Unable to marshal response: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - a handler's exception is the invocation's error
            error = build_fault_result(exc, request_id)
            log_error(error)
            client.post_error(request_id, error, error["errorType"] if "." in error["errorType"] else "Unhandled")
            headers, body = client.next()
            continue
        headers, body = client.post_response_and_next(request_id, payload, result_type)


if __name__ == "__main__":
    main()

"""Lambda's root log handler for the Python runtime, as AWS's awslambdaric sets it up.

bootstrap.py compiles and runs this file only when it is needed (the first `import logging`, an init
error): a function that never logs does not pay for compiling it. `runtime` is the bootstrap's
globals: the current request and tenant ids, the log format and level from the environment, its
JSON encoder.
"""

import sys
import time

# What awslambdaric logs (a WARNING on the root logger) before an init error's record.
UNHANDLED_EXCEPTION_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. However, in rare "
    "cases, a Lambda runtime update can cause unexpected function behavior. For functions using managed runtimes, "
    "runtime updates can be triggered by a function change, or can be applied automatically. To determine if the "
    "runtime has been updated, check the runtime version in the INIT_START log entry. If this error correlates with "
    "a change in the runtime version, you may be able to mitigate this error by temporarily rolling back to the "
    "previous runtime version. For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update."
    "html\r")

# What awslambdaric's JsonFormatter leaves out of a record's extra keys.
_RESERVED_FIELDS = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "_frame_type"})


def setup_logging(logging, runtime):
    """awslambdaric's _setup_logging: one handler on the root logger, in the function's log format, at
    AWS_LAMBDA_LOG_LEVEL (when set); every record on one line of the log."""
    if not hasattr(logging, "Handler"):  # a module of the function's named `logging` shadowed the stdlib
        return
    logging.Formatter.converter = time.gmtime

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = runtime["_current_request_id"] or ""
            record.tenant_id = runtime["_current_tenant_id"]
            return True

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            message = self.format(record)
            sys.stdout.write(message.replace("\n", "\r").rstrip("\r") + "\n")

    handler = LambdaLoggerHandler()
    if runtime["_LOG_JSON"]:
        handler.setFormatter(_json_formatter(logging, runtime["json_dumps"])())
    else:
        handler.setFormatter(logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    level = runtime["_LOG_LEVEL"]
    if level in logging._nameToLevel:
        root.setLevel(level)
    handler.addFilter(LambdaLoggerFilter())
    root.addHandler(handler)


def _no_default(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _json_formatter(logging, json_dumps):
    """awslambdaric's JsonFormatter: timestamp, level, message, logger, requestId (and the exception's
    errorType, errorMessage, stackTrace, location), the record's extra keys, no null values."""

    class JsonFormatter(logging.Formatter):
        def __init__(self):
            super().__init__(datefmt="%Y-%m-%dT%H:%M:%SZ")

        def format(self, record):
            record.levelno = min(50, max(0, record.levelno)) // 10 * 10
            record.levelname = logging.getLevelName(record.levelno)
            exc_info = record.exc_info
            result = {
                "timestamp": self.formatTime(record, self.datefmt),
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
                "stackTrace": None,
                "errorType": None,
                "errorMessage": None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": None,
            }
            if exc_info:
                import traceback

                result["stackTrace"] = traceback.format_tb(exc_info[2])
                result["errorType"] = exc_info[0].__name__
                result["errorMessage"] = str(exc_info[1])
                result["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
            if getattr(record, "tenant_id", None) is not None:
                result["tenantId"] = record.tenant_id
            result.update((key, value) for key, value in record.__dict__.items()
                          if key not in _RESERVED_FIELDS and key not in result)
            return json_dumps({key: value for key, value in result.items() if value is not None},
                              _no_default, False) + "\n"

    return JsonFormatter

"""A function's LoggingConfig (advanced logging controls) as Lambda stores it, in AWS's words.

The model checks each member's values (enums, LogGroup's pattern and length); here are the rules
between members, as AWS's recorded answers show them:
- every function has a LogFormat (default Text) and a LogGroup (default /aws/lambda/<name>);
- in JSON, ApplicationLogLevel and SystemLogLevel default to INFO (and keep their values across
  updates that leave them out); in Text there are none, and asking for one is an error;
- an update changes only the members it names (switching to Text drops the levels).
"""

from __future__ import annotations

from stratus.errors import InvalidParameterValueException
from stratus.shapes import LoggingConfig

TEXT = "Text"
JSON = "JSON"
DEFAULT_LEVEL = "INFO"


def default_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def default_logging_config(function_name: str) -> LoggingConfig:
    """What a function created without a LoggingConfig gets."""
    return LoggingConfig(LogFormat=TEXT, LogGroup=default_log_group(function_name))


def merge_logging(requested: LoggingConfig | None, current: LoggingConfig | None,
                   function_name: str) -> LoggingConfig:
    """The LoggingConfig to store when `requested` (None: not in the request) applies to `current`
    (None: a new function); InvalidParameterValueException for log levels in Text format."""
    base = current or default_logging_config(function_name)
    if requested is None:
        return base
    log_format = requested.LogFormat or base.LogFormat or TEXT
    log_group = requested.LogGroup or base.LogGroup or default_log_group(function_name)
    if log_format != JSON:
        if requested.ApplicationLogLevel or requested.SystemLogLevel:
            raise InvalidParameterValueException(
                'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request '
                'or change the LogFormat to "JSON" and try again.')
        return LoggingConfig(LogFormat=TEXT, LogGroup=log_group)
    was_json = base.LogFormat == JSON
    return LoggingConfig(
        LogFormat=JSON,
        ApplicationLogLevel=requested.ApplicationLogLevel
        or (base.ApplicationLogLevel if was_json else None) or DEFAULT_LEVEL,
        SystemLogLevel=requested.SystemLogLevel or (base.SystemLogLevel if was_json else None) or DEFAULT_LEVEL,
        LogGroup=log_group,
    )

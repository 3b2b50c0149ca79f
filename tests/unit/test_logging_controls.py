"""Lambda's logging controls, piece by piece (issue 12): LoggingConfig's rules, the platform's records
in JSON, the application-level line filter, and log groups as the store keeps them."""

from __future__ import annotations

import json

import pytest

from stratus.control.logging_config import merge_logging
from stratus.errors import InvalidParameterValueException
from stratus.observe.app_log_filter import ApplicationLogFilter, line_level
from stratus.observe.log_store import LogStore
from stratus.observe.platform_log import TEXT, JsonPlatformLog, invocation_status, platform_log
from stratus.shapes import LoggingConfig

JSON_DEFAULTS = LoggingConfig(LogFormat="JSON", ApplicationLogLevel="INFO", SystemLogLevel="INFO",
                              LogGroup="/aws/lambda/fn")


def test_logging_config_defaults_and_merges():
    assert merge_logging(None, None, "fn") == LoggingConfig(LogFormat="Text", LogGroup="/aws/lambda/fn")
    assert merge_logging(LoggingConfig(LogFormat="JSON"), None, "fn") == JSON_DEFAULTS
    debug = merge_logging(LoggingConfig(ApplicationLogLevel="DEBUG"), JSON_DEFAULTS, "fn")
    assert debug.ApplicationLogLevel == "DEBUG" and debug.SystemLogLevel == "INFO"
    assert merge_logging(LoggingConfig(LogGroup="g"), debug, "fn").ApplicationLogLevel == "DEBUG"
    assert merge_logging(LoggingConfig(LogFormat="Text"), debug, "fn") == LoggingConfig(
        LogFormat="Text", LogGroup="/aws/lambda/fn")
    assert merge_logging(None, debug, "fn") is debug  # not in the request: unchanged


@pytest.mark.parametrize("requested, current", [
    (LoggingConfig(ApplicationLogLevel="WARN"), None),
    (LoggingConfig(LogFormat="Text", SystemLogLevel="WARN"), JSON_DEFAULTS),
    (LoggingConfig(SystemLogLevel="DEBUG"), LoggingConfig(LogFormat="Text", LogGroup="/aws/lambda/fn")),
])
def test_log_levels_need_json(requested, current):
    with pytest.raises(InvalidParameterValueException, match='LogLevel is not supported when LogFormat is set'):
        merge_logging(requested, current, "fn")


def test_platform_records_in_json_and_their_levels():
    assert platform_log("Text", "WARN") is TEXT
    assert TEXT.start("r1", "$LATEST") == b"START RequestId: r1 Version: $LATEST\n"
    info = JsonPlatformLog("INFO")
    start = json.loads(info.start("r1", "3"))
    assert start["type"] == "platform.start" and start["record"] == {"requestId": "r1", "version": "3"}
    assert start["time"].endswith("Z") and len(start["time"]) == len("2024-01-01T00:00:00.000Z")
    (report,) = [json.loads(line) for line in info.end("r1", 1.23456, 256, 40, 100.5, None, 10).splitlines()]
    assert report["type"] == "platform.report"  # runtimeDone of a success is DEBUG: left out at INFO
    assert report["record"] == {"requestId": "r1", "status": "success", "metrics": {
        "durationMs": 1.235, "billedDurationMs": 2, "memorySizeMB": 256, "maxMemoryUsedMB": 40,
        "initDurationMs": 100.5}}
    warn = JsonPlatformLog("WARN")
    assert warn.start("r1", "3") == b"" and warn.end("r1", 1.0, 128, 1, None, None, 0) == b""
    (done,) = [json.loads(line) for line in warn.end("r1", 3000.0, 128, 1, None, "Sandbox.Timedout", 0).splitlines()]
    assert done["type"] == "platform.runtimeDone" and done["record"]["status"] == "timeout"
    assert done["record"]["errorType"] == "Sandbox.Timedout"
    (failed,) = [json.loads(line) for line in warn.end("r1", 1.0, 128, 1, None, "ValueError", 0).splitlines()]
    assert failed["record"]["status"] == "error" and "errorType" not in failed["record"]
    records = JsonPlatformLog("DEBUG").end("r", 1, 128, 1, None, None, 2)
    debug = [json.loads(line)["type"] for line in records.splitlines()]
    assert debug == ["platform.runtimeDone", "platform.report"]
    assert json.loads(info.extension("ext", "Ready", ["INVOKE"], ""))["record"] == {
        "name": "ext", "state": "Ready", "events": ["INVOKE"]}
    assert TEXT.extension("ext", "Ready", ["INVOKE", "SHUTDOWN"], "") == \
        b"EXTENSION\tName: ext\tState: Ready\tEvents: [INVOKE,SHUTDOWN]\n"
    assert [invocation_status(t) for t in (None, "Unhandled", "Sandbox.Timedout", "Runtime.ExitError")] == [
        "success", "error", "timeout", "failure"]


def test_application_lines_are_kept_by_level():
    assert line_level(b"plain print") == 3
    assert line_level(b'{"level": "debug", "msg": "x"}') == 2
    assert line_level(b'{"timestamp": "t", "log_level": "ERROR"}') == 5
    assert line_level(b'{"level": "WARNING"}') == line_level(b'{"level": "WARN"}') == 4
    assert line_level(b'{"level": 5}') == line_level(b"{not json") == line_level(b'{"level": "LOUD"}') == 3
    kept = ApplicationLogFilter("WARN")
    assert kept.feed(b'print\n{"level":"ERROR","m":1}\n{"level":"ER') == b'{"level":"ERROR","m":1}\n'
    assert kept.feed(b'ROR","m":2}\n{"level":"INFO"}\n') == b'{"level":"ERROR","m":2}\n'  # a line across reads
    assert kept.feed(b'{"level":"FATAL"}', final=True) == b'{"level":"FATAL"}'  # unfinished, taken at the end
    assert kept.partial == b""
    everything = ApplicationLogFilter("TRACE")
    assert everything.feed(b"a\n\nb\r\n") == b"a\n\nb\r\n"


def test_log_groups_keep_any_name(tmp_path):
    """A custom LoggingConfig.LogGroup (any name the model allows, however long) is a group of its own, beside
    the function's default one; stream names are kept exactly."""
    long = "/g" + "x" * 500
    store = LogStore(tmp_path / "logs.db", flush_interval_s=60)
    try:
        store.write("/aws/lambda/fn", "2024/01/01/[$LATEST]abc", b"one\n")
        store.write(long, "s", b"two\n")
        store.write("cool_lambda", "s", b"three\n")
        assert [group.name for group in store.groups()] == ["/aws/lambda/fn", long, "cool_lambda"]
        group = store.group("/aws/lambda/fn")
        assert group is not None
        assert [stream.name for stream in store.streams(group.id)] == ["2024/01/01/[$LATEST]abc"]
        assert [row.message for row in store.events(group.id, None, 0, 1 << 62)] == ["one\n"]
    finally:
        store.close()


def test_stratus_warnings_follow_the_log_format():
    """A runtime-version fallback warning is a line in Text and a WARN-level JSON record in JSON, kept at every
    SystemLogLevel (WARN is the highest), so a JSON log stays all JSON."""
    message = "WARNING: Python 3.12 is not available on this Stratus host"
    assert TEXT.warning(message) == (message + "\n").encode()
    for level in ("DEBUG", "INFO", "WARN"):
        record = json.loads(JsonPlatformLog(level).warning(message))
        assert record["type"] == "stratus.warning" and record["record"] == {"message": message}

"""Application logs as AWS's runtime clients write them (issue 12).

Python: the same handler runs under Stratus's python runtime and under AWS's awslambdaric (a
`provided` function), and the lines each call prints are compared: one line per call, `basicConfig`
a no-op, Powertools' Logger printing once. JSON format with an ApplicationLogLevel: records with
AWS's keys, lower levels dropped, JSON platform records in place of START / END / REPORT, for Python
and Node.
"""

from __future__ import annotations

import base64
import json
import re
import shutil

import pytest

from tests.support import awslambdaric
from tests.support.server import HOST_PYTHON_RUNTIME, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
JSON_WARN = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}
PLATFORM_TEXT = re.compile(r"^(START|END|REPORT|INIT_START|EXTENSION)\b")
TEXT_RECORD = re.compile(r"^\[(\w+)\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t([0-9a-f-]*)\t(.*)$", re.S)
# Keys whose values differ between two runs of the same code (times, ids, paths).
VOLATILE = {"timestamp", "requestId", "xray_trace_id", "location", "stackTrace", "function_request_id"}

# Each handler makes two logging calls per invoke; `handlers` is how many handlers the root logger has.
CASES = {
    "root-setLevel": """
import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
def handler(event, context):
    logger.info("one %s", event["n"])
    logger.warning("two")
    return len(logging.getLogger().handlers)
""",
    "basicConfig": """
import logging
logging.basicConfig(level=logging.INFO, format="%(message)s")
def handler(event, context):
    logging.info("one %s", event["n"])
    logging.warning("two")
    return len(logging.getLogger().handlers)
""",
    "no-basicConfig": """
import logging
log = logging.getLogger(__name__)
def handler(event, context):
    log.info("one %s", event["n"])
    log.error("two", extra={"order": 42})
    return len(logging.getLogger().handlers)
""",
    "basicConfig-then-setLevel": """
import logging
logging.basicConfig()
logging.getLogger().setLevel(logging.DEBUG)
def handler(event, context):
    logging.getLogger("app.part").debug("one %s", event["n"])
    try:
        raise KeyError("missing")
    except KeyError:
        logging.exception("two")
    return len(logging.getLogger().handlers)
""",
    "powertools": """
import logging
from aws_lambda_powertools import Logger
logger = Logger(service="shop")
def handler(event, context):
    logger.info("one", extra={"n": event["n"]})
    logger.warning("two")
    return len(logging.getLogger().handlers)
""",
}


def tail(response) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def application_lines(log: str) -> list[str]:
    """The records of a log tail that the function wrote (platform lines and records left out). A text
    record's lines after its first (a traceback: awslambdaric writes them as they are, where AWS's log
    keeps one event per record and Stratus one line) join it, "\r" between them."""
    records: list[str] = []
    for line in log.split("\n"):
        if not line or PLATFORM_TEXT.match(line) or line.startswith('{"time":'):
            continue
        if records and TEXT_RECORD.match(records[-1]) and line[0] not in "[{":
            records[-1] += "\r" + line
        else:
            records.append(line)
    return records


def comparable(line: str, request_id: str):
    """What must be equal between two runtimes' versions of one log line."""
    if line.startswith("{"):
        record = json.loads(line)
        assert record.get("requestId", request_id) in (request_id, None), line
        return {key: value for key, value in record.items() if key not in VOLATILE} | {
            "keys": sorted(record)}
    match = TEXT_RECORD.match(line)
    if match:
        assert match.group(2) == request_id, line
        return match.group(1), match.group(3).split("\r")[0]
    return line


def run_case(lam, name: str, runtime: str, zip_bytes: bytes, logging_config: dict | None):
    extra = {"LoggingConfig": logging_config} if logging_config else {}
    lam.create_function(FunctionName=name, Runtime=runtime, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes}, Timeout=20, MemorySize=256, **extra)
    results = []
    for n in (1, 2):
        response, handlers = invoke_json(lam, name, {"n": n}, LogType="Tail")
        assert "FunctionError" not in response, handlers
        request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
        lines = application_lines(tail(response))
        results.append((handlers, [comparable(line, request_id) for line in lines]))
    return results


@pytest.mark.skipif(not awslambdaric.available(), reason="needs the host's /usr/bin/python3 for awslambdaric")
@pytest.mark.parametrize("log_format", ["Text", "JSON"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_python_logging_matches_awslambdaric(lam, fn_name, case, log_format):
    code = CASES[case]
    extra = awslambdaric.powertools_files() if case == "powertools" else {}
    config = JSON_WARN if log_format == "JSON" else None
    aws = run_case(lam, fn_name + "-ric", "provided.al2023", awslambdaric.awslambdaric_zip(code, extra), config)
    ours = run_case(lam, fn_name, "python3.11", make_zip({"app.py": code, **extra}), config)
    assert ours == aws
    for handlers, lines in ours:
        assert handlers == 1  # the runtime's handler, and no second one from basicConfig
        assert len(lines) == LINES[case, log_format], lines  # one line per call that passes the levels


# How many of a case's two calls print: basicConfig does nothing (the root logger keeps its handler and
# its WARNING level, so INFO is dropped); JSON with ApplicationLogLevel WARN keeps WARN and above only.
LINES = {("root-setLevel", "Text"): 2, ("basicConfig", "Text"): 1, ("no-basicConfig", "Text"): 1,
         ("basicConfig-then-setLevel", "Text"): 2, ("powertools", "Text"): 2,
         **{(case, "JSON"): 1 for case in CASES}}


def test_python_json_records_and_platform_records(lam, fn_name):
    code = """
import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
def handler(event, context):
    print("a print is INFO")
    logger.info("dropped")
    logger.warning("kept %s", event["n"], extra={"order": 7})
    if event.get("fail"):
        raise ValueError("asked to fail")
    return "ok"
"""
    lam.create_function(FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": code})}, LoggingConfig=JSON_WARN)
    assert lam.get_function(FunctionName=fn_name)["Configuration"]["LoggingConfig"] == {
        "LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{fn_name}"}
    response, body = invoke_json(lam, fn_name, {"n": 1}, LogType="Tail")
    assert body == "ok"
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    records = [json.loads(line) for line in tail(response).splitlines()]  # every line is JSON
    kinds = [record.get("type") or record.get("level") for record in records]
    assert kinds == ["platform.start", "WARNING", "platform.report"], records
    start, warning, report = records
    assert start["record"] == {"requestId": request_id, "version": "$LATEST"}
    assert set(warning) == {"timestamp", "level", "message", "logger", "requestId", "order"}
    assert warning["message"] == "kept 1" and warning["logger"] == "root" and warning["requestId"] == request_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", warning["timestamp"])
    assert report["record"]["requestId"] == request_id and report["record"]["status"] == "success"
    metrics = report["record"]["metrics"]
    assert set(metrics) == {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"}
    assert metrics["memorySizeMB"] == 128 and metrics["billedDurationMs"] >= 1

    failed, error = invoke_json(lam, fn_name, {"n": 2, "fail": True}, LogType="Tail")
    assert failed["FunctionError"] == "Unhandled" and error["errorType"] == "ValueError"
    uncaught = [json.loads(line) for line in tail(failed).splitlines() if '"log_level"' in line]
    assert len(uncaught) == 1  # awslambdaric's record of an uncaught error
    assert list(uncaught[0]) == ["timestamp", "log_level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert uncaught[0]["errorMessage"] == "asked to fail" and uncaught[0]["log_level"] == "ERROR"


def test_python_system_log_level_warn_drops_start_and_report(lam, fn_name):
    code = "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('no')\n    return 1\n"
    lam.create_function(FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": code})},
                        LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    response, _ = invoke_json(lam, fn_name, {}, LogType="Tail")
    assert tail(response) == ""  # no START / REPORT records, nothing printed
    failed, _ = invoke_json(lam, fn_name, {"fail": True}, LogType="Tail")
    types = [json.loads(line).get("type") for line in tail(failed).splitlines()]
    assert types == [None, "platform.runtimeDone"]  # the error record, then the WARN-level runtimeDone
    lam.update_function_configuration(FunctionName=fn_name, LoggingConfig={"SystemLogLevel": "DEBUG"})
    response, _ = invoke_json(lam, fn_name, {}, LogType="Tail")
    types = [json.loads(line)["type"] for line in tail(response).splitlines()]
    assert types == ["platform.start", "platform.runtimeDone", "platform.report"]


def test_python_never_importing_logging_never_loads_it(lam, fn_name):
    """The root handler waits for the first `import logging`: a function that does not log does not
    pay for it; one that imports it only at invoke time still gets the handler, once."""
    code = """
import sys
def handler(event, context):
    loaded = "logging" in sys.modules
    if event.get("log"):
        import logging
        logging.getLogger().setLevel(logging.INFO)
        logging.info("late %s", context.aws_request_id)
        return [loaded, len(logging.getLogger().handlers)]
    return [loaded]
"""
    lam.create_function(FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": code})})
    assert invoke_json(lam, fn_name, {})[1] == [False]
    response, body = invoke_json(lam, fn_name, {"log": True}, LogType="Tail")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert body == [False, 1]
    lines = application_lines(tail(response))
    assert len(lines) == 1 and TEXT_RECORD.match(lines[0]).groups() == ("INFO", request_id, f"late {request_id}")


@pytest.mark.skipif(not awslambdaric.available(), reason="needs the host's /usr/bin/python3 for awslambdaric")
def test_python_init_error_is_logged_as_awslambdaric_does(lam, fn_name):
    code = "raise ValueError('broken at import')\n"
    lines = {}
    for name, runtime, zip_bytes in ((fn_name, "python3.11", make_zip({"app.py": code})),
                                     (fn_name + "-ric", "provided.al2023", awslambdaric.awslambdaric_zip(code))):
        lam.create_function(FunctionName=name, Runtime=runtime, Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes}, Timeout=10)
        response, error = invoke_json(lam, name, {}, LogType="Tail")
        assert response["FunctionError"] == "Unhandled" and error["errorMessage"] == "broken at import"
        lines[runtime] = [line.split("\t")[0] + line.split("\t")[-1][:16] if line.startswith("[WARNING]")
                          else line.split("\r")[0] for line in application_lines(tail(response))]
    assert lines["python3.11"] == lines["provided.al2023"] == [
        "[WARNING]LAMBDA_WARNING: ", "[ERROR] ValueError: broken at import"]


NODE_APP = """
exports.handler = async (event) => {
  console.log('log is info');
  console.info('info', event.n);
  console.warn('warn', event.n, {a: 1});
  console.error(new TypeError('an error object'));
  process.stdout.write('raw write is INFO\\n');
  return 'done';
};
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not on PATH")
def test_node_json_format_with_warn_level(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="nodejs20.x", Handler="index.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"index.js": NODE_APP})}, LoggingConfig=JSON_WARN)
    response, body = invoke_json(lam, fn_name, {"n": 3}, LogType="Tail")
    assert body == "done"
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    records = [json.loads(line) for line in tail(response).splitlines()]
    kinds = [record.get("type") or record.get("level") for record in records]
    assert kinds == ["platform.start", "WARN", "ERROR", "platform.report"], records
    warn, error = records[1], records[2]
    assert list(warn) == ["timestamp", "level", "requestId", "message"]
    assert warn["message"] == "warn 3 { a: 1 }" and warn["requestId"] == request_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", warn["timestamp"])
    assert error["message"]["errorType"] == "TypeError" and error["message"]["errorMessage"] == "an error object"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not on PATH")
def test_node_text_format_keeps_every_level(lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime="nodejs20.x", Handler="index.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"index.js": NODE_APP})})
    response, _ = invoke_json(lam, fn_name, {"n": 4}, LogType="Tail")
    lines = application_lines(tail(response))
    assert [line.split("\t")[2] for line in lines[:4]] == ["INFO", "INFO", "WARN", "ERROR"]
    assert lines[4] == "raw write is INFO"
    assert tail(response).startswith("START RequestId:")

"""Node.js runtimes (nodejs18.x / 20.x / 22.x, served by the host's Node): handlers, context, errors
and logs as AWS's Node.js runtime gives them; after each failure the next invoke works."""

import base64
import json
import os
import re
import shutil
import sys
import time
import urllib.request

import pytest

from stratus.runtime.runtimes import host_python
from tests.support.server import invoke_json, make_zip
from tests.support.signing import signed_request


@pytest.fixture(autouse=True)
def needs_node(request):
    """Every test here needs the host's Node.js, except the ones marked as checking its absence."""
    if shutil.which("node") is None and not getattr(request.function, "runs_without_node", False):
        pytest.skip("Node.js is not on PATH; the nodejs runtimes need it")


ROLE = "arn:aws:iam::000000000000:role/lambda-role"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t(\S+)\t(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\t(.*)$")

# One module that succeeds, or fails the way the event asks; it counts its invocations.
APP = r"""
let counter = 0;
const initStream = process.env.AWS_LAMBDA_LOG_STREAM_NAME;
console.log('init of', process.env.AWS_LAMBDA_FUNCTION_NAME);

exports.handler = async (event, context) => {
  counter += 1;
  switch (event.mode) {
    case 'throw': throw new Error('boom ' + event.n);
    case 'type_error': null.nope; break;
    case 'reject': return Promise.reject(new RangeError('rejected'));
    case 'never': return new Promise(() => {});
    case 'unhandled':
      Promise.reject(new Error('lost'));
      return new Promise((resolve) => setTimeout(() => resolve('late'), 2000));
    case 'uncaught':
      setTimeout(() => { throw new TypeError('thrown later'); }, 0);
      return new Promise((resolve) => setTimeout(() => resolve('late'), 2000));
    case 'exit': process.exit(3);
    case 'spin': for (;;) {}
    case 'big': return 'x'.repeat(7 * 1024 * 1024);
    case 'circular': { const o = {}; o.self = o; return o; }
    case 'log':
      console.log('hello %s', 'world', 42);
      console.info('info line');
      console.warn('warn line');
      console.error('error line', new Error('logged'));
      console.debug('two\nlines');
      return 'logged';
  }
  return {ok: true, counter, stream: context.logStreamName, initStream, event,
          requestId: context.awsRequestId};
};

exports.notFn = 42;
exports.nested = {deeper: {handler: async () => 'nested ok'}};
"""

CALLBACKS = r"""
exports.callback = (event, context, callback) => {
  if (event.mode === 'error') return callback(new Error('cb failed'));
  if (event.mode === 'string') return callback('plain string');
  if (event.mode === 'forget') return;  // never calls back: null once the event loop is empty
  if (event.mode === 'nowait') context.callbackWaitsForEmptyEventLoop = false;
  const result = {style: 'callback', value: event.value, timerFired: false};
  // With callbackWaitsForEmptyEventLoop (the default) the response is sent once the event loop
  // is empty, so the timer's change is part of it; without, it is sent at once.
  setTimeout(() => { result.timerFired = true; }, 100);
  callback(null, result);
};

exports.legacy = (event, context) => {
  if (event.mode === 'succeed') context.succeed({via: 'succeed'});
  else if (event.mode === 'done') context.done(null, {via: 'done'});
  else if (event.mode === 'done_error') context.done(new Error('done failed'));
  else context.fail(new Error('fail called'));
};

exports.sync = (event) => 'returned, not called back';
"""

CONTEXT = r"""
exports.handler = async (event, context) => ({
  keys: Object.keys(context),
  awsRequestId: context.awsRequestId,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  remaining: context.getRemainingTimeInMillis(),
  identityUndefined: context.identity === undefined,
  clientContext: context.clientContext === undefined ? 'undefined' : context.clientContext,
  waits: context.callbackWaitsForEmptyEventLoop,
  trace: process.env._X_AMZN_TRACE_ID === undefined ? null : process.env._X_AMZN_TRACE_ID,
  executionEnv: process.env.AWS_EXECUTION_ENV,
  taskRoot: process.env.LAMBDA_TASK_ROOT,
  cwd: process.cwd(),
  nodeVersion: process.version,
});
"""


def create(lam, name, files, **kwargs):
    kwargs.setdefault("Runtime", "nodejs20.x")
    kwargs.setdefault("Handler", "index.handler")
    files = files if isinstance(files, dict) else {"index.js": files}
    return lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": make_zip(files)}, **kwargs)


def tail(response) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def request_id(response) -> str:
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def assert_next_invoke_works(lam, name) -> str:
    response, body = invoke_json(lam, name, {"mode": "ok"})
    assert "FunctionError" not in response, body
    assert body["ok"] is True
    return body["stream"]


def assert_function_error(response, body, error_type):
    assert response["StatusCode"] == 200
    assert response.get("FunctionError") == "Unhandled", body
    assert body["errorType"] == error_type, body


# ------------------------------------------------------------------------------------ handlers
def test_async_handler_returns_value_and_environment_is_reused(lam, fn_name):
    create(lam, fn_name, APP)
    bodies = [invoke_json(lam, fn_name, {"mode": "ok", "n": n})[1] for n in range(3)]
    assert [body["counter"] for body in bodies] == [1, 2, 3]
    assert [body["event"] for body in bodies] == [{"mode": "ok", "n": n} for n in range(3)]
    streams = {body["stream"] for body in bodies} | {body["initStream"] for body in bodies}
    assert len(streams) == 1 and "[$LATEST]" in streams.pop()
    assert len({body["requestId"] for body in bodies}) == 3


def test_callback_handler_waits_for_the_empty_event_loop_unless_told_not_to(lam, fn_name):
    create(lam, fn_name, CALLBACKS, Handler="index.callback")
    response, body = invoke_json(lam, fn_name, {"value": [1, "two"]})
    assert "FunctionError" not in response
    assert body == {"style": "callback", "value": [1, "two"], "timerFired": True}
    response, body = invoke_json(lam, fn_name, {"value": 3, "mode": "nowait"})
    assert body == {"style": "callback", "value": 3, "timerFired": False}
    response, body = invoke_json(lam, fn_name, {"mode": "forget"})
    assert "FunctionError" not in response and body is None


def test_callback_errors_and_legacy_context_methods(lam, fn_name):
    create(lam, fn_name, CALLBACKS, Handler="index.callback")
    response, body = invoke_json(lam, fn_name, {"mode": "error"}, LogType="Tail")
    assert_function_error(response, body, "Error")
    assert body["errorMessage"] == "cb failed"
    assert body["trace"][0] == "Error: cb failed"
    assert "\tERROR\tInvoke Error \t{" in tail(response)
    response, body = invoke_json(lam, fn_name, {"mode": "string"})
    assert_function_error(response, body, "string")
    assert body == {"errorType": "string", "errorMessage": "plain string", "trace": []}

    lam.update_function_configuration(FunctionName=fn_name, Handler="index.legacy")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    assert invoke_json(lam, fn_name, {"mode": "succeed"})[1] == {"via": "succeed"}
    assert invoke_json(lam, fn_name, {"mode": "done"})[1] == {"via": "done"}
    response, body = invoke_json(lam, fn_name, {"mode": "done_error"})
    assert_function_error(response, body, "Error")
    assert body["errorMessage"] == "done failed"
    response, body = invoke_json(lam, fn_name, {"mode": "fail"})
    assert_function_error(response, body, "Error")
    assert body["errorMessage"] == "fail called"

    # A non-async handler's return value is ignored, as on AWS: it must call back.
    lam.update_function_configuration(FunctionName=fn_name, Handler="index.sync")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    response, body = invoke_json(lam, fn_name, {})
    assert "FunctionError" not in response and body is None


def test_es_module_handlers(lam, fn_name):
    mjs = ("const started = await Promise.resolve('top-level await');\n"
           "export const handler = async (event, context) => ({esm: true, started, name: context.functionName});\n")
    create(lam, fn_name, {"index.mjs": mjs})
    response, body = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, body
    assert body == {"esm": True, "started": "top-level await", "name": fn_name}
    # A .js file is an ES module too when its package.json says "type": "module".
    lam.update_function_code(FunctionName=fn_name, ZipFile=make_zip({
        "package.json": '{"type": "module"}',
        "index.js": "export async function handler() { return import.meta.url.startsWith('file://'); }\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    response, body = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, body
    assert body is True


def test_handler_in_a_subfolder_and_nested_handler_names(lam, fn_name):
    create(lam, fn_name, {"src/app.js": APP}, Handler="src/app.handler")
    assert_next_invoke_works(lam, fn_name)
    lam.update_function_configuration(FunctionName=fn_name, Handler="src/app.nested.deeper.handler")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    response, body = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, body
    assert body == "nested ok"


def test_nested_handler_name_is_accepted_at_create(lam, fn_name):
    create(lam, fn_name, {"src/app.js": APP}, Handler="src/app.nested.deeper.handler")
    response, body = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, body
    assert body == "nested ok"


# ------------------------------------------------------------------------------------- context
def test_context_object_as_aws_node_runtime_gives_it(lam, server, fn_name):
    create(lam, fn_name, CONTEXT, MemorySize=256, Timeout=7)
    client_context = base64.b64encode(json.dumps({"client": {"app_title": "demo"}, "custom": {"k": "v"}}).encode())
    response, body = invoke_json(lam, fn_name, ClientContext=client_context.decode())
    assert "FunctionError" not in response, body
    assert body["keys"] == [
        "callbackWaitsForEmptyEventLoop", "succeed", "fail", "done", "functionVersion", "functionName",
        "memoryLimitInMB", "logGroupName", "logStreamName", "clientContext", "identity", "invokedFunctionArn",
        "awsRequestId", "tenantId", "getRemainingTimeInMillis"]
    assert body["awsRequestId"] == request_id(response)
    assert body["functionName"] == fn_name
    assert body["functionVersion"] == "$LATEST"
    assert body["invokedFunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert body["memoryLimitInMB"] == "256"
    assert body["logGroupName"] == f"/aws/lambda/{fn_name}"
    assert "[$LATEST]" in body["logStreamName"]
    assert 5000 < body["remaining"] <= 7000
    assert body["identityUndefined"] is True
    assert body["clientContext"] == {"client": {"app_title": "demo"}, "custom": {"k": "v"}}
    assert body["waits"] is True
    assert body["trace"].startswith("Root=1-")  # a new trace when the caller sends none
    assert body["executionEnv"] == "AWS_Lambda_nodejs20.x"
    assert body["cwd"] == body["taskRoot"]

    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    request = signed_request(f"{server.endpoint}/2015-03-31/functions/{fn_name}/invocations",
                             data=b"{}", method="POST", headers={"X-Amzn-Trace-Id": trace})
    with urllib.request.urlopen(request) as answer:
        traced = json.loads(answer.read())
    assert traced["trace"].startswith(trace + ";Lineage=1:") and traced["clientContext"] == "undefined"
    assert not invoke_json(lam, fn_name)[1]["trace"].startswith(trace), "the trace id is per invocation"


@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs22.x"])
def test_every_node_runtime_name_is_served_by_the_host_node(lam, fn_name, runtime):
    create(lam, fn_name, CONTEXT, Runtime=runtime)
    response, body = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, body
    assert body["executionEnv"] == f"AWS_Lambda_{runtime}"
    assert body["nodeVersion"].startswith("v")


# ---------------------------------------------------------------------------------------- logs
def test_console_output_in_aws_format_in_the_log_tail(lam, fn_name):
    create(lam, fn_name, APP)
    first, _ = invoke_json(lam, fn_name, {"mode": "ok"}, LogType="Tail")
    init_lines = [LOG_LINE.match(line) for line in tail(first).split("\n")]
    assert any(m and m.groups() == ("undefined", "INFO", f"init of {fn_name}") for m in init_lines), tail(first)

    response, body = invoke_json(lam, fn_name, {"mode": "log"}, LogType="Tail")
    assert body == "logged"
    log = tail(response)
    rid = request_id(response)
    entries = [m.groups() for m in map(LOG_LINE.match, log.split("\n")) if m]
    assert (rid, "INFO", "hello world 42") in entries
    assert (rid, "INFO", "info line") in entries
    assert (rid, "WARN", "warn line") in entries
    assert (rid, "DEBUG", "two\rlines") in entries, "newlines in a message become \\r, as on AWS"
    error = [message for (who, level, message) in entries if level == "ERROR"]
    assert len(error) == 1 and error[0].startswith("error line Error: logged\r    at ")
    assert "init of" not in log, "INIT output belongs to the first invocation only"


def test_log_level_and_json_format_settings(lam, fn_name):
    create(lam, fn_name, APP,
           Environment={"Variables": {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}})
    invoke_json(lam, fn_name, {"mode": "ok"})
    response, body = invoke_json(lam, fn_name, {"mode": "log"}, LogType="Tail")
    rid = request_id(response)
    records = [json.loads(line) for line in tail(response).splitlines() if line.startswith("{")]
    assert [(r["level"], r["requestId"]) for r in records] == [("WARN", rid), ("ERROR", rid)]
    assert records[0]["message"] == "warn line"
    assert records[1]["errorType"] == "Error" and records[1]["errorMessage"] == "logged"


# -------------------------------------------------------------------------------------- errors
def test_thrown_error_has_aws_shape_and_keeps_the_environment(lam, fn_name):
    create(lam, fn_name, APP)
    stream = assert_next_invoke_works(lam, fn_name)
    response, body = invoke_json(lam, fn_name, {"mode": "throw", "n": 7}, LogType="Tail")
    assert_function_error(response, body, "Error")
    assert set(body) == {"errorType", "errorMessage", "trace"}
    assert body["errorMessage"] == "boom 7"
    assert body["trace"][0] == "Error: boom 7"
    assert re.search(r"^    at .*index\.js:\d+:\d+\)?$", body["trace"][1]), body["trace"]
    log = tail(response)
    line = next(line for line in log.split("\n") if "\tERROR\tInvoke Error" in line)
    logged = json.loads(line.split("Invoke Error \t", 1)[1].replace("\r", "\\n"))
    assert logged["errorType"] == "Error" and logged["errorMessage"] == "boom 7"
    assert line.split("\t")[1] == request_id(response)

    for mode, error_type, message in [("type_error", "TypeError", "Cannot read properties of null (reading 'nope')"),
                                      ("reject", "RangeError", "rejected")]:
        response, body = invoke_json(lam, fn_name, {"mode": mode})
        assert_function_error(response, body, error_type)
        assert body["errorMessage"] == message
    assert assert_next_invoke_works(lam, fn_name) == stream, "a handled error keeps the environment"


def test_promise_never_settled_is_runtime_node_js_exit(lam, fn_name):
    create(lam, fn_name, APP)
    stream = assert_next_invoke_works(lam, fn_name)
    response, body = invoke_json(lam, fn_name, {"mode": "never"})
    assert_function_error(response, body, "Runtime.NodeJsExit")
    assert body["errorMessage"].startswith("The Lambda runtime client detected an unexpected Node.js exit code.")
    assert assert_next_invoke_works(lam, fn_name) == stream


@pytest.mark.parametrize("mode,error_type,message", [
    ("unhandled", "Runtime.UnhandledPromiseRejection", "Error: lost"),
    ("uncaught", "TypeError", "thrown later"),
])
def test_unhandled_rejection_and_uncaught_exception_end_the_environment(lam, fn_name, mode, error_type, message):
    create(lam, fn_name, APP)
    stream = assert_next_invoke_works(lam, fn_name)
    started = time.monotonic()
    response, body = invoke_json(lam, fn_name, {"mode": mode}, LogType="Tail")
    assert time.monotonic() - started < 1.5, "reported at once, not when the handler's promise settles"
    assert_function_error(response, body, error_type)
    assert body["errorMessage"] == message
    label = "Unhandled Promise Rejection" if mode == "unhandled" else "Uncaught Exception"
    assert f"\tERROR\t{label} \t{{" in tail(response)
    assert assert_next_invoke_works(lam, fn_name) != stream, "the runtime exits after such an error"


def test_unserializable_result_and_oversized_response(lam, fn_name):
    create(lam, fn_name, APP, MemorySize=512)
    response, body = invoke_json(lam, fn_name, {"mode": "circular"})
    assert_function_error(response, body, "Error")
    assert body["errorMessage"] == "Unable to stringify response body"
    assert_next_invoke_works(lam, fn_name)
    response, body = invoke_json(lam, fn_name, {"mode": "big"})
    assert_function_error(response, body, "Function.ResponseSizeTooLarge")
    assert_next_invoke_works(lam, fn_name)


@pytest.mark.parametrize("mode,error_type", [("exit", "Runtime.ExitError"), ("spin", "Sandbox.Timedout")])
def test_crash_and_timeout(lam, fn_name, mode, error_type):
    create(lam, fn_name, APP, Timeout=1)
    stream = assert_next_invoke_works(lam, fn_name)
    response, body = invoke_json(lam, fn_name, {"mode": mode})
    assert_function_error(response, body, error_type)
    assert assert_next_invoke_works(lam, fn_name) != stream


def test_module_not_found_is_import_module_error(lam, fn_name):
    create(lam, fn_name, APP)
    lam.update_function_configuration(FunctionName=fn_name, Handler="missing.handler")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    for _ in range(2):  # every cold start fails the same way
        response, body = invoke_json(lam, fn_name, LogType="Tail")
        assert_function_error(response, body, "Runtime.ImportModuleError")
        message = body["errorMessage"]
        assert message.startswith("Error: Cannot find module 'missing'\nRequire stack:\n- "), message
        assert message.endswith("/bootstrap.js") and message.count("\n- ") == 1, message
        assert body["trace"][0] == "Runtime.ImportModuleError: Error: Cannot find module 'missing'"
        log = tail(response)
        assert "\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"Runtime.ImportModuleError\"" in log, log
    lam.update_function_configuration(FunctionName=fn_name, Handler="index.handler")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    assert_next_invoke_works(lam, fn_name)


def test_missing_dependency_is_import_module_error(lam, fn_name):
    create(lam, fn_name, "const dep = require('no-such-package');\nexports.handler = async () => dep;\n")
    response, body = invoke_json(lam, fn_name)
    assert_function_error(response, body, "Runtime.ImportModuleError")
    lines = body["errorMessage"].split("\n")
    assert lines[:2] == ["Error: Cannot find module 'no-such-package'", "Require stack:"]
    assert lines[2].endswith("/index.js") and lines[3].endswith("/bootstrap.js")
    lam.update_function_code(FunctionName=fn_name, ZipFile=make_zip({
        "index.js": "const dep = require('no-such-package');\n" + APP,
        "node_modules/no-such-package/index.js": "module.exports = 'found';\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    assert_next_invoke_works(lam, fn_name)


@pytest.mark.parametrize("handler,error_type,message", [
    ("index.nope", "Runtime.HandlerNotFound", "index.nope is undefined or not exported"),
    ("index.notFn", "Runtime.HandlerNotFound", "index.notFn is not a function"),
    ("index", "Runtime.MalformedHandlerName", "Bad handler"),
    ("../index.handler", "Runtime.MalformedHandlerName",
     "'../index.handler' is not a valid handler name. Use absolute paths when specifying root directories in "
     "handler names."),
], ids=["missing", "not-a-function", "no-dot", "relative-path"])
def test_bad_handler_names(lam, fn_name, handler, error_type, message):
    create(lam, fn_name, APP)
    lam.update_function_configuration(FunctionName=fn_name, Handler=handler)
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    response, body = invoke_json(lam, fn_name)
    assert_function_error(response, body, error_type)
    assert body["errorMessage"] == message
    assert body["trace"][0] == f"{error_type}: {message.splitlines()[0]}"
    lam.update_function_configuration(FunctionName=fn_name, Handler="index.handler")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    assert_next_invoke_works(lam, fn_name)


def test_exception_in_module_code_is_an_init_error(lam, fn_name):
    create(lam, fn_name, "throw new TypeError('cannot start');\n")
    response, body = invoke_json(lam, fn_name, LogType="Tail")
    assert_function_error(response, body, "TypeError")
    assert body["errorMessage"] == "cannot start"
    assert body["trace"][0] == "TypeError: cannot start"
    assert any("index.js:1" in frame for frame in body["trace"])
    assert "\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"TypeError\"" in tail(response)
    lam.update_function_code(FunctionName=fn_name, ZipFile=make_zip({"index.js": APP}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    assert_next_invoke_works(lam, fn_name)


def test_syntax_error_is_user_code_syntax_error(lam, fn_name):
    create(lam, fn_name, {"index.mjs": "export const handler = async () => {\n"})
    response, body = invoke_json(lam, fn_name)
    assert_function_error(response, body, "Runtime.UserCodeSyntaxError")
    assert body["errorMessage"].startswith("SyntaxError: ")
    lam.update_function_code(FunctionName=fn_name, ZipFile=make_zip({"index.js": APP}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    assert_next_invoke_works(lam, fn_name)


# ----------------------------------------------------------------------------------- streaming
def test_streamify_response_handler_is_buffered_into_the_response(lam, fn_name):
    source = ("exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {\n"
              "  if (event.http) {\n"
              "    responseStream = awslambda.HttpResponseStream.from(responseStream, {statusCode: 201});\n"
              "    responseStream.write(Buffer.from([0xff, 0x00, 0x80]));\n"
              "    responseStream.end();\n"
              "    return;\n"
              "  }\n"
              "  responseStream.setContentType('text/plain');\n"
              "  responseStream.write('hello ');\n"
              "  await new Promise((resolve) => setTimeout(resolve, 10));\n"
              "  responseStream.write(context.functionName);\n"
              "  responseStream.end();\n"
              "});\n")
    create(lam, fn_name, source)
    response = lam.invoke(FunctionName=fn_name, Payload=b"{}")
    assert "FunctionError" not in response
    assert response["Payload"].read() == f"hello {fn_name}".encode()
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"].startswith("text/plain")
    response = lam.invoke(FunctionName=fn_name, Payload=b'{"http": true}')
    assert "FunctionError" not in response
    assert response["Payload"].read() == b'{"statusCode":201}' + bytes(8) + b"\xff\x00\x80", "bytes pass unchanged"
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == \
        "application/vnd.awslambda.http-integration-response"


def test_without_node_on_the_host_creating_a_node_function_fails_clearly(fresh_server, tmp_path):
    # Discovery narrowed to a folder with a Python and no node (nor the install step's Node.js wheels).
    os.symlink(host_python(), tmp_path / f"python{sys.version_info.major}.{sys.version_info.minor}")
    srv = fresh_server(env={"STRATUS_SANDBOX": "plain", "STRATUS_RUNTIME_SEARCH_PATH": str(tmp_path)})
    lam = srv.client()
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="needs Node.js"):
        create(lam, "no-node", APP)
    lam.create_function(FunctionName="still-python", Role=ROLE, Runtime="python3.12", Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 'ok'\n"})})
    assert invoke_json(lam, "still-python")[1] == "ok"


test_without_node_on_the_host_creating_a_node_function_fails_clearly.runs_without_node = True

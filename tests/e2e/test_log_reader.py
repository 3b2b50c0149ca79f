"""observe/log_reader.py, the reading interface a `stratus logs` command uses: all through the HTTP API."""

from __future__ import annotations

import threading
import time

from stratus.observe.log_reader import LogReader, function_group, logs_client
from tests.support.server import HOST_PYTHON_RUNTIME, invoke_json, make_zip

CODE = make_zip({"app.py": "def handler(event, context):\n    print(event['say'])\n    return 'ok'\n"})


def test_log_reader_lists_reads_and_follows(server, lam, fn_name):
    lam.create_function(FunctionName=fn_name, Runtime=HOST_PYTHON_RUNTIME, Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": CODE})
    invoke_json(lam, fn_name, {"say": "first"})
    reader = LogReader(logs_client(server.endpoint, "us-east-1", "test", "test"))
    group = function_group(fn_name)
    deadline = time.monotonic() + 10
    while not any(e["message"] == "first\n" for e in reader.events(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [g["logGroupName"] for g in reader.groups(prefix=group)] == [group]
    (stream,) = reader.streams(group)
    assert [e["message"] for e in reader.events(group, pattern="first")] == ["first\n"]
    assert [e["logStreamName"] for e in reader.events(group, streams=[stream["logStreamName"]])][0] == \
        stream["logStreamName"]
    followed = reader.follow([group], pattern="second")
    threading.Timer(0.3, lambda: invoke_json(lam, fn_name, {"say": "second"})).start()
    event = next(followed)
    followed.close()
    assert event["message"] == "second\n"

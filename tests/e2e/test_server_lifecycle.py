"""`stratus serve` itself: state survives a restart; SIGTERM lets running invokes finish, then exits 0."""

import concurrent.futures

from tests.support.environments import processes_of, wait_for_log
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def test_functions_survive_a_restart(fresh_server, tmp_path):
    data_dir = tmp_path / "persistent"
    srv = fresh_server(data_dir=data_dir)
    lam = srv.client()
    lam.create_function(FunctionName="keeper", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "import os\ndef handler(e, c):\n"
                                                              "    return os.environ['KK']\n"})},
                        Environment={"Variables": {"KK": "kept"}}, Timeout=9, MemorySize=192)
    before = lam.get_function_configuration(FunctionName="keeper")
    assert srv.stop() == 0

    again = fresh_server(data_dir=data_dir)
    lam = again.client()
    after = lam.get_function_configuration(FunctionName="keeper")
    assert after == {**before, "ResponseMetadata": after["ResponseMetadata"]}
    assert invoke_json(lam, "keeper")[1] == "kept"


def test_sigterm_finishes_running_invokes_then_shuts_environments_down(fresh_server):
    srv = fresh_server()
    lam = srv.client()
    lam.create_function(FunctionName="slow", Runtime="python3.12", Handler="app.handler", Role=ROLE, Timeout=10,
                        Code={"ZipFile": make_zip({"app.py": "import time\ndef handler(e, c):\n    print(e['tag'])\n"
                                                          "    time.sleep(e['s'])\n    return c.log_stream_name\n"})})
    _, warm = invoke_json(lam, "slow", {"s": 0, "tag": "warm-up"})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(invoke_json, lam, "slow", {"s": 1.5, "tag": "long-one"})
        assert "long-one" in wait_for_log(srv, "slow", "long-one")  # it is running in its environment
        code = srv.stop()
        response, stream = running.result(timeout=30)
    assert code == 0
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert stream == warm
    assert processes_of(stream) == [], "the environment outlived the server"


def test_a_killed_server_leaves_nothing_behind_after_restart(fresh_server, tmp_path):
    """kill -9 of the server: its environments die with it (bwrap --die-with-parent / the process
    group), and the next start removes the cgroups and sandbox folders they left."""
    from pathlib import Path

    data_dir = tmp_path / "crash"
    srv = fresh_server(data_dir=data_dir)
    lam = srv.client()
    lam.create_function(FunctionName="victim", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return c.log_stream_name\n"})})
    _, stream = invoke_json(lam, "victim")
    env_id = stream.rsplit("]", 1)[1]
    leftovers = [path for path in Path("/sys/fs/cgroup").glob(f"*/**/stratus-*-{env_id}")]
    if "sandbox namespaced" in srv.log():
        assert leftovers, "the environment's cgroups were not found"
    srv.kill()
    from tests.support.environments import wait_until_gone
    assert wait_until_gone(stream, 10) == [], "an environment outlived a killed server"

    again = fresh_server(data_dir=data_dir)
    assert invoke_json(again.client(), "victim")[1] != stream
    assert [path for path in leftovers if path.exists()] == []
    assert not (data_dir / "sandboxes" / env_id).exists()


def test_account_concurrency_limit_throttles_the_excess_with_429(fresh_server):
    from botocore.exceptions import ClientError

    srv = fresh_server(env={"STRATUS_ACCOUNT_CONCURRENCY_LIMIT": "2"})
    lam = srv.client(max_pool_connections=8)
    assert lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 2
    lam.create_function(FunctionName="busy", Runtime="python3.12", Handler="app.handler", Role=ROLE, Timeout=10,
                        Code={"ZipFile": make_zip({"app.py": "import time\ndef handler(e, c):\n"
                                                              "    time.sleep(1.5)\n    return 'done'\n"})})

    def call(_):
        try:
            return invoke_json(lam, "busy")[1]
        except ClientError as error:
            return (error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"],
                    error.response.get("Reason"), error.response["Error"].get("Message"))

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(call, range(5)))
    done = [result for result in results if result == "done"]
    throttled = [result for result in results if result != "done"]
    assert len(done) == 2, results
    assert len(throttled) == 3
    for status, code, reason, _message in throttled:
        assert (status, code) == (429, "TooManyRequestsException")
        assert reason == "ConcurrentInvocationLimitExceeded"
    # The slots come back: the next invoke runs.
    assert invoke_json(lam, "busy")[1] == "done"

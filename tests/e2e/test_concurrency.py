"""Concurrency: reserved concurrency (throttling, the unreserved minimum, Get/Delete, account figures)
and provisioned concurrency (environments initialized ahead of time, used first, kept warm, restored
at start), through boto3 and the AWS CLI v1."""

import base64
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

from tests.support.environments import processes_of, wait_until_gone
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ACCOUNT = "arn:aws:lambda:us-east-1:000000000000"

# Holds each invocation at a TCP gate of the test's (when the event names one), so the test decides
# when invocations end instead of guessing with sleeps.
GATED_APP = """
import os, socket
def handler(event, context):
    if "gate" in event:
        with socket.create_connection(("127.0.0.1", event["gate"]), timeout=60) as gate:
            gate.sendall(b"in")
            gate.recv(16)
    return {"stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"], "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""


class Gate:
    """A listening socket on loopback: gated invocations connect and wait until open(). It is the
    session server's `host_service` socket, the host port functions are allowed to reach."""

    def __init__(self, server_socket: socket.socket):
        self.server = server_socket
        self.port = self.server.getsockname()[1]
        self.waiting: list[socket.socket] = []
        self.server.setblocking(False)
        while True:  # an earlier test's late arrivals: let them go
            try:
                conn, _ = self.server.accept()
            except BlockingIOError:
                break
            with conn:
                conn.setblocking(True)
                conn.settimeout(1)
                try:
                    conn.sendall(b"go")
                except OSError:
                    pass
        self.server.setblocking(True)

    def wait_for(self, count: int, timeout_s: float = 30.0) -> None:
        """Wait (bounded) until `count` invocations are held at the gate."""
        deadline = time.monotonic() + timeout_s
        while len(self.waiting) < count:
            self.server.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                raise AssertionError(f"{len(self.waiting)} of {count} invocations reached the gate") from None
            conn.settimeout(10)
            assert conn.recv(2) == b"in"
            self.waiting.append(conn)

    def open(self) -> None:
        for conn in self.waiting:
            conn.sendall(b"go")
            conn.close()
        self.waiting.clear()

    def close(self) -> None:
        self.open()  # the listening socket stays: it is the session's


@pytest.fixture
def gate(server):
    opened = Gate(server.host_service)
    yield opened
    opened.close()


def create(lam, name, code=GATED_APP, **kwargs):
    return lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                               Timeout=kwargs.pop("Timeout", 60), Code={"ZipFile": make_zip({"app.py": code})},
                               **kwargs)


def error_of(call, *args, **kwargs) -> dict:
    """The ClientError response a call must fail with."""
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    return raised.value.response


def throttle_or_result(lam, name, payload, **kwargs):
    try:
        return invoke_json(lam, name, payload, **kwargs)
    except ClientError as error:
        return error.response


def environments_of(function_name: str) -> dict[str, dict[str, str]]:
    """Live environments of a function, found on the host: log stream → the environment's variables."""
    found = {}
    for pid in processes_of(function_name, variable="AWS_LAMBDA_FUNCTION_NAME"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                pairs = [item.split(b"=", 1) for item in environ.read().split(b"\0") if b"=" in item]
        except OSError:
            continue
        variables = {key.decode(): value.decode(errors="replace") for key, value in pairs}
        if "AWS_LAMBDA_LOG_STREAM_NAME" in variables:
            found[variables["AWS_LAMBDA_LOG_STREAM_NAME"]] = variables
    return found


def wait_status(lam, name, qualifier, wanted=("READY", "FAILED"), timeout_s=60.0,
                available: int | None = None) -> tuple[dict, list[str]]:
    """Poll GetProvisionedConcurrencyConfig until its Status is one of `wanted` (and, if given, that
    many environments are available); (last answer, statuses seen)."""
    deadline = time.monotonic() + timeout_s
    seen = []
    while True:
        config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        seen.append(config["Status"])
        if config["Status"] in wanted and available in (None, config["AvailableProvisionedConcurrentExecutions"]):
            return config, seen
        assert time.monotonic() < deadline, f"provisioned concurrency of {name}:{qualifier} stuck at {seen[-1]}"
        time.sleep(0.05)


def report_line(response) -> str:
    log = base64.b64decode(response["LogResult"]).decode()
    lines = [line for line in log.splitlines() if line.startswith("REPORT ")]
    assert len(lines) == 1, log
    return lines[0]


# ---------------------------------------------------------------- reserved concurrency
def test_reserved_concurrency_throttles_exactly_the_excess(server, fn_name, gate):
    lam = server.client(max_pool_connections=10)
    create(lam, fn_name)
    assert lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=2)[
        "ReservedConcurrentExecutions"] == 2
    try:
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            futures = [pool.submit(throttle_or_result, lam, fn_name, {"gate": gate.port}) for _ in range(5)]
            gate.wait_for(2)  # two run, held at the gate ...
            deadline = time.monotonic() + 30
            while sum(future.done() for future in futures) < 3 and time.monotonic() < deadline:
                concurrent.futures.wait(futures, timeout=0.1)
            throttled = [future.result() for future in futures if future.done()]
            assert len(throttled) == 3, throttled  # ... and the other three were refused meanwhile
            for response in throttled:
                assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
                assert response["Error"]["Code"] == "TooManyRequestsException"
                assert response["Error"]["Message"] == "Rate Exceeded."
                assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
            gate.open()
        succeeded = [result for result in (future.result(timeout=60) for future in futures)
                     if isinstance(result, tuple)]
        assert len(succeeded) == 2 and all(body["init"] == "on-demand" for _, body in succeeded)
        # The slots come back.
        assert invoke_json(lam, fn_name)[1]["init"] == "on-demand"
    finally:
        lam.delete_function_concurrency(FunctionName=fn_name)


def test_reserved_zero_throttles_every_invoke(lam, fn_name):
    create(lam, fn_name)
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=0)
    try:
        for _ in range(3):
            response = error_of(lam.invoke, FunctionName=fn_name, Payload=b"{}")
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert environments_of(fn_name) == {}  # nothing was started
    finally:
        lam.delete_function_concurrency(FunctionName=fn_name)
    assert invoke_json(lam, fn_name)[1]["init"] == "on-demand"


def test_get_delete_and_get_function_show_the_reservation(server, lam, fn_name, tmp_path):
    create(lam, fn_name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn_name)
    assert "Concurrency" not in lam.get_function(FunctionName=fn_name)
    put = lam.put_function_concurrency(FunctionName=f"{ACCOUNT}:function:{fn_name}", ReservedConcurrentExecutions=5)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200 and put["ReservedConcurrentExecutions"] == 5
    assert lam.get_function_concurrency(FunctionName=fn_name)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function(FunctionName=fn_name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}

    # The AWS CLI v1 reads the same.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
    cli = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint, "--output", "json",
                          "lambda", "get-function-concurrency", "--function-name", fn_name],
                         env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == {"ReservedConcurrentExecutions": 5}

    deleted = lam.delete_function_concurrency(FunctionName=fn_name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn_name)
    assert "Concurrency" not in lam.get_function(FunctionName=fn_name)


def test_over_reservation_is_refused_and_changes_nothing(fresh_server):
    lam = fresh_server().client()
    create(lam, "big")
    create(lam, "small")
    assert lam.put_function_concurrency(FunctionName="big", ReservedConcurrentExecutions=900)[
        "ReservedConcurrentExecutions"] == 900
    message = ("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
               "below its minimum value of [100].")
    for name, value in (("small", 1), ("big", 901), ("big", 1000), ("small", 1001)):
        response = error_of(lam.put_function_concurrency, FunctionName=name, ReservedConcurrentExecutions=value)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert response["Error"] == {"Code": "InvalidParameterValueException", "Message": message}
    assert lam.get_function_concurrency(FunctionName="big")["ReservedConcurrentExecutions"] == 900
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="small")
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    # A function's own reservation is replaced, not added to.
    lam.put_function_concurrency(FunctionName="big", ReservedConcurrentExecutions=899)
    lam.put_function_concurrency(FunctionName="small", ReservedConcurrentExecutions=1)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100


def test_account_settings_report_reservations_and_provisioned(fresh_server):
    lam = fresh_server().client()
    create(lam, "reserved-fn")
    create(lam, "provisioned-fn")
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    assert settings["AccountUsage"]["FunctionCount"] == 2
    code_size = sum(lam.get_function_configuration(FunctionName=name)["CodeSize"]
                    for name in ("reserved-fn", "provisioned-fn"))
    assert settings["AccountUsage"]["TotalCodeSize"] >= code_size > 0

    lam.put_function_concurrency(FunctionName="reserved-fn", ReservedConcurrentExecutions=10)
    version = lam.publish_version(FunctionName="provisioned-fn")["Version"]
    lam.put_provisioned_concurrency_config(FunctionName="provisioned-fn", Qualifier=version,
                                           ProvisionedConcurrentExecutions=3)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000 - 10 - 3
    # Provisioned concurrency of a function with a reservation counts inside the reservation.
    lam.put_function_concurrency(FunctionName="provisioned-fn", ReservedConcurrentExecutions=5)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000 - 10 - 5
    lam.delete_function_concurrency(FunctionName="provisioned-fn")
    lam.delete_function(FunctionName="reserved-fn")  # its reservation goes with it
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000 - 3
    assert lam.get_account_settings()["AccountUsage"]["FunctionCount"] == 1
    lam.delete_provisioned_concurrency_config(FunctionName="provisioned-fn", Qualifier=version)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000


def test_reserved_concurrency_bad_input(server, lam, fn_name):
    unchecked = server.client(parameter_validation=False)
    response = error_of(lam.put_function_concurrency, FunctionName="no-such-fn", ReservedConcurrentExecutions=1)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Error"] == {"Code": "ResourceNotFoundException",
                                 "Message": f"Function not found: {ACCOUNT}:function:no-such-fn:$LATEST"}
    response = error_of(lam.get_function_concurrency, FunctionName="no-such-fn")
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    create(lam, fn_name)
    for reference in (f"{fn_name}:$LATEST", f"{ACCOUNT}:function:{fn_name}:1"):
        response = error_of(lam.put_function_concurrency, FunctionName=reference, ReservedConcurrentExecutions=1)
        assert response["Error"]["Code"] == "InvalidParameterValueException"
        assert response["Error"]["Message"].startswith("This operation is permitted on Lambda functions only.")
    response = error_of(unchecked.put_function_concurrency, FunctionName=fn_name, ReservedConcurrentExecutions=-1)
    assert response["Error"]["Code"] == "ValidationException"
    assert "Member must have value greater than or equal to 0" in response["Error"]["Message"]
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn_name)


# ---------------------------------------------------------------- provisioned concurrency
def test_provisioned_environments_start_ahead_and_serve_first(server, fn_name, gate):
    lam = server.client(max_pool_connections=10)
    create(lam, fn_name)
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    put = lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version,
                                                 ProvisionedConcurrentExecutions=3)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (put["Status"], put["RequestedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 3)
    assert put["AllocatedProvisionedConcurrentExecutions"] == put["AvailableProvisionedConcurrentExecutions"] == 0
    ready, _ = wait_status(lam, fn_name, version)
    assert ready["Status"] == "READY", ready
    assert ready["RequestedProvisionedConcurrentExecutions"] == 3
    assert ready["AllocatedProvisionedConcurrentExecutions"] == ready["AvailableProvisionedConcurrentExecutions"] == 3
    assert ready["LastModified"] == put["LastModified"]

    # Three initialized environments exist before any invoke.
    environments = environments_of(fn_name)
    assert len(environments) == 3, environments.keys()
    for stream, variables in environments.items():
        assert f"[{version}]" in stream
        assert variables["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(invoke_json, lam, fn_name, {"gate": gate.port}, Qualifier=version, LogType="Tail")
                   for _ in range(3)]
        gate.wait_for(3)  # all three run at once
        # A fourth concurrent invoke spills over to an on-demand environment (a cold start).
        spill, body = invoke_json(lam, fn_name, Qualifier=version, LogType="Tail")
        assert body["init"] == "on-demand" and body["stream"] not in environments
        assert "Init Duration: " in report_line(spill)
        gate.open()
        results = [future.result(timeout=60) for future in futures]
    assert sorted(body["stream"] for _, body in results) == sorted(environments)
    for response, body in results:
        assert body["init"] == "provisioned-concurrency"
        assert response["ExecutedVersion"] == version
        assert "Init Duration" not in report_line(response)

    # Deleting the config shuts the provisioned environments down.
    assert lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    for stream in environments:
        assert wait_until_gone(stream, 15) == [], f"provisioned environment {stream} outlived its config"
    assert error_of(lam.get_provisioned_concurrency_config, FunctionName=fn_name, Qualifier=version)[
        "Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"


def test_provisioned_concurrency_counts_inside_the_reservation(server, fn_name, gate):
    lam = server.client(max_pool_connections=10)
    create(lam, fn_name)
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=2)
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    try:
        assert wait_status(lam, fn_name, version)[0]["Status"] == "READY"
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            provisioned = pool.submit(invoke_json, lam, fn_name, {"gate": gate.port}, Qualifier=version)
            gate.wait_for(1)
            on_demand = pool.submit(invoke_json, lam, fn_name, {"gate": gate.port})  # $LATEST, same reservation
            gate.wait_for(2)
            # Reserved 2 = 1 provisioned (busy) + 1 on-demand (busy): a third invoke of any version is throttled.
            for qualifier in (version, "$LATEST"):
                response = error_of(lam.invoke, FunctionName=fn_name, Qualifier=qualifier, Payload=b"{}")
                assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
            gate.open()
            assert provisioned.result(timeout=60)[1]["init"] == "provisioned-concurrency"
            assert on_demand.result(timeout=60)[1]["init"] == "on-demand"
    finally:
        lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)
        lam.delete_function_concurrency(FunctionName=fn_name)


def test_provisioned_environments_are_kept_warm_and_replaced(fresh_server):
    srv = fresh_server(env={"STRATUS_IDLE_TIMEOUT_S": "0.5"})
    lam = srv.client()
    create(lam, "warm")
    version = lam.publish_version(FunctionName="warm")["Version"]
    lam.create_alias(FunctionName="warm", Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(FunctionName="warm", Qualifier="live", ProvisionedConcurrentExecutions=2)
    assert wait_status(lam, "warm", "live")[0]["Status"] == "READY"
    provisioned = set(environments_of("warm"))
    assert len(provisioned) == 2

    # An on-demand environment is reaped when idle; the provisioned ones stay.
    on_demand = invoke_json(lam, "warm")[1]["stream"]
    assert wait_until_gone(on_demand, 15) == [], "the idle on-demand environment was not reaped"
    assert set(environments_of("warm")) == provisioned

    # A provisioned environment that dies is replaced.
    victim = sorted(provisioned)[0]
    for pid in processes_of(victim):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert wait_until_gone(victim, 15) == []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = environments_of("warm")
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.05)
    replacement = set(now) - provisioned
    assert len(now) == 2 and len(replacement) == 1, now.keys()
    assert now[replacement.pop()]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"
    config, _ = wait_status(lam, "warm", "live", available=2)
    assert config["Status"] == "READY"
    response, body = invoke_json(lam, "warm", Qualifier="live", LogType="Tail")
    assert body["init"] == "provisioned-concurrency" and "Init Duration" not in report_line(response)


def test_configs_survive_a_restart_and_are_provisioned_again(fresh_server, tmp_path):
    data_dir = tmp_path / "kept"
    first = fresh_server(data_dir=data_dir)
    lam = first.client()
    create(lam, "kept")
    version = lam.publish_version(FunctionName="kept")["Version"]
    lam.create_alias(FunctionName="kept", Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(FunctionName="kept", Qualifier="live", ProvisionedConcurrentExecutions=2)
    lam.put_function_concurrency(FunctionName="kept", ReservedConcurrentExecutions=4)
    before = wait_status(lam, "kept", "live")[0]
    assert before["Status"] == "READY"
    old = set(environments_of("kept"))
    assert first.stop() == 0
    for stream in old:
        assert wait_until_gone(stream, 15) == []

    again = fresh_server(data_dir=data_dir)
    lam = again.client()
    assert lam.get_function_concurrency(FunctionName="kept")["ReservedConcurrentExecutions"] == 4
    config, _ = wait_status(lam, "kept", "live")
    assert config["Status"] == "READY"
    assert config["RequestedProvisionedConcurrentExecutions"] == 2
    assert config["LastModified"] == before["LastModified"]
    environments = environments_of("kept")
    assert len(environments) == 2 and not set(environments) & old  # new environments, before any invoke
    response, body = invoke_json(lam, "kept", Qualifier="live", LogType="Tail")
    assert body["init"] == "provisioned-concurrency" and body["stream"] in environments
    assert "Init Duration" not in report_line(response)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000 - 4


def test_provisioned_init_failure_is_reported(lam, fn_name):
    create(lam, fn_name, code="raise RuntimeError('init fails')\ndef handler(event, context):\n    return 1\n")
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    config, seen = wait_status(lam, fn_name, version)
    assert config["Status"] == "FAILED", seen
    assert config["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert config["AllocatedProvisionedConcurrentExecutions"] == config["AvailableProvisionedConcurrentExecutions"] == 0
    lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)


def test_list_provisioned_configs(lam, fn_name):
    create(lam, fn_name)
    assert lam.list_provisioned_concurrency_configs(FunctionName=fn_name)["ProvisionedConcurrencyConfigs"] == []
    first = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.update_function_configuration(FunctionName=fn_name, Description="second")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    second = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=second)
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=first, ProvisionedConcurrentExecutions=1)
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    page = lam.list_provisioned_concurrency_configs(FunctionName=fn_name, MaxItems=1)
    assert len(page["ProvisionedConcurrencyConfigs"]) == 1 and page["NextMarker"]
    rest = lam.list_provisioned_concurrency_configs(FunctionName=fn_name, Marker=page["NextMarker"])
    items = page["ProvisionedConcurrencyConfigs"] + rest["ProvisionedConcurrencyConfigs"]
    assert "NextMarker" not in rest
    assert sorted(item["FunctionArn"] for item in items) == sorted(
        f"{ACCOUNT}:function:{fn_name}:{qualifier}" for qualifier in (first, "live"))
    for item in items:
        assert item["RequestedProvisionedConcurrentExecutions"] == 1 and item["Status"] in ("IN_PROGRESS", "READY")
    for qualifier in (first, "live"):
        lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=qualifier)
    assert lam.list_provisioned_concurrency_configs(FunctionName=fn_name)["ProvisionedConcurrencyConfigs"] == []


def test_provisioned_environments_follow_their_alias_and_go_with_it(lam, fn_name):
    def unreserved():
        return lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]

    unreserved_before = unreserved()
    create(lam, fn_name)
    first = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.update_function_configuration(FunctionName=fn_name, Description="second")
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
    second = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=first)
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    assert wait_status(lam, fn_name, "live")[0]["Status"] == "READY"
    (old,) = environments_of(fn_name)
    assert f"[{first}]" in old

    # The alias moves to another version: its provisioned environment is started there, the old one stops.
    lam.update_alias(FunctionName=fn_name, Name="live", FunctionVersion=second)
    assert wait_until_gone(old, 30) == []
    assert wait_status(lam, fn_name, "live", available=1)[0]["Status"] == "READY"
    (new,) = environments_of(fn_name)
    assert f"[{second}]" in new
    response, body = invoke_json(lam, fn_name, Qualifier="live", LogType="Tail")
    assert body["stream"] == new and "Init Duration" not in report_line(response)

    # Deleting the alias deletes its config and stops its environments.
    lam.delete_alias(FunctionName=fn_name, Name="live")
    assert lam.list_provisioned_concurrency_configs(FunctionName=fn_name)["ProvisionedConcurrencyConfigs"] == []
    assert wait_until_gone(new, 15) == []
    # ... and so does deleting a version.
    lam.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=first, ProvisionedConcurrentExecutions=1)
    assert wait_status(lam, fn_name, first)[0]["Status"] == "READY"
    (kept,) = environments_of(fn_name)
    lam.delete_function(FunctionName=fn_name, Qualifier=first)
    assert lam.list_provisioned_concurrency_configs(FunctionName=fn_name)["ProvisionedConcurrencyConfigs"] == []
    assert wait_until_gone(kept, 15) == []
    assert unreserved() == unreserved_before  # nothing of it is set aside any more


def test_provisioned_concurrency_bad_input(server, lam, fn_name):
    unchecked = server.client(parameter_validation=False)
    create(lam, fn_name)
    version = lam.publish_version(FunctionName=fn_name)["Version"]
    lam.create_alias(FunctionName=fn_name, Name="live", FunctionVersion=version)
    lam.create_alias(FunctionName=fn_name, Name="latest", FunctionVersion="$LATEST")

    def refused(call, code, message, status=400, **kwargs):
        response = error_of(call, **kwargs)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert response["Error"] == {"Code": code, "Message": message}

    unpublished = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
    not_version = "The function resource provided must be an alias or a published version."
    put = lam.put_provisioned_concurrency_config
    for qualifier in ("$LATEST", "latest"):
        refused(put, "InvalidParameterValueException", unpublished, FunctionName=fn_name, Qualifier=qualifier,
                ProvisionedConcurrentExecutions=1)
    for call in (lam.get_provisioned_concurrency_config, lam.delete_provisioned_concurrency_config):
        refused(call, "InvalidParameterValueException", not_version, FunctionName=fn_name, Qualifier="$LATEST")
    for call, extra in ((put, {"ProvisionedConcurrentExecutions": 1}), (lam.get_provisioned_concurrency_config, {}),
                        (lam.delete_provisioned_concurrency_config, {})):
        refused(call, "ResourceNotFoundException", f"Function not found: {ACCOUNT}:function:{fn_name}:10", 404,
                FunctionName=fn_name, Qualifier="10", **extra)
        refused(call, "ResourceNotFoundException", f"Cannot find alias arn: {ACCOUNT}:function:{fn_name}:nope", 404,
                FunctionName=fn_name, Qualifier="nope", **extra)
        refused(call, "ResourceNotFoundException", f"Function not found: {ACCOUNT}:function:no-such-fn:1", 404,
                FunctionName="no-such-fn", Qualifier="1", **extra)
    refused(lam.list_provisioned_concurrency_configs, "ResourceNotFoundException",
            f"Function not found: {ACCOUNT}:function:no-such-fn", 404, FunctionName="no-such-fn")
    refused(lam.get_provisioned_concurrency_config, "ProvisionedConcurrencyConfigNotFoundException",
            "No Provisioned Concurrency Config found for this function", 404, FunctionName=fn_name, Qualifier=version)
    # Deleting a config that does not exist succeeds, as on AWS.
    assert lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    response = error_of(unchecked.put_provisioned_concurrency_config, FunctionName=fn_name, Qualifier=version,
                        ProvisionedConcurrentExecutions=0)
    assert response["Error"] == {"Code": "ValidationException", "Message": (
        "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1")}
    refused(put, "InvalidParameterValueException",
            "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [1000].",
            FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=1001)
    refused(put, "InvalidParameterValueException",
            "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its "
            "minimum value of [100].", FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=1000)

    # Provisioned concurrency must fit in the function's reserved concurrency, and the other way round.
    lam.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=1)
    try:
        refused(put, "InvalidParameterValueException",
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for "
                "function", FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=2)
        put(FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=1)
        refused(lam.put_function_concurrency, "InvalidParameterValueException",
                " ReservedConcurrentExecutions  0 should not be lower than function's total provisioned "
                "concurrency [1].",
                FunctionName=fn_name, ReservedConcurrentExecutions=0)
        assert lam.get_function_concurrency(FunctionName=fn_name)["ReservedConcurrentExecutions"] == 1
        # One config per version: an alias of a provisioned version cannot have one too, and vice versa.
        refused(put, "ResourceConflictException",
                "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
                409, FunctionName=fn_name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    finally:
        lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier=version)
        lam.delete_function_concurrency(FunctionName=fn_name)
    put(FunctionName=fn_name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    try:
        refused(put, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias", 409,
                FunctionName=fn_name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    finally:
        lam.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live")
    configs = lam.list_provisioned_concurrency_configs(FunctionName=fn_name)["ProvisionedConcurrencyConfigs"]
    assert configs == []  # every refusal above left nothing behind

"""Python cold starts forked from the runtime zygote (sandbox/zygote.py), in the namespaced sandbox.

The facts are observed from the host, as an operator would: an environment's processes (found by their
variables, tests/support/environments.py) descend from the zygote process, started before them; two
forked environments of different functions share nothing a function can see; a zygote that dies is
rebuilt; the server's stop leaves no zygote, environment or cgroup behind. The isolation checks run on
both Python paths (forked and spawned)."""

import base64
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.environments import processes_of, wait_until_gone
from tests.support.server import invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ZYGOTE_SCRIPT = b"/var/runtime/zygote.py"

pytestmark = pytest.mark.both_python_paths  # forked and spawned Python environments alike

STREAM_APP = "def handler(event, context):\n    return context.log_stream_name\n"


@pytest.fixture
def namespaced(server):
    if server.sandbox != "namespaced":
        pytest.skip("the fork path is the namespaced sandbox's")


def create(lam, name, source, **kwargs):
    kwargs.setdefault("Runtime", "python3.12")
    lam.create_function(FunctionName=name, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": source})}, **kwargs)


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as source:
            return source.read()
    except OSError:
        return b""


def stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(") ", 1)[1].split()


def parent(pid: int) -> int:
    return int(stat_fields(pid)[1])


def start_ticks(pid: int) -> int:
    return int(stat_fields(pid)[19])  # field 22: when the process started, in clock ticks since boot


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        pid = parent(pid)
        chain.append(pid)
    return chain


def zygotes_of(server_pid: int) -> list[int]:
    """Host pids of the zygotes a server runs: its descendants running zygote.py whose parent is bubblewrap
    (the environments they fork show the zygote's command line too)."""
    found = []
    for entry in os.listdir("/proc"):
        argv = cmdline(int(entry)).split(b"\0") if entry.isdigit() else []
        if ZYGOTE_SCRIPT in argv and b"bwrap" not in argv[0] \
                and os.path.basename(cmdline(parent(int(entry))).split(b"\0")[0]) == b"bwrap":
            try:
                if server_pid in ancestors(int(entry)):
                    found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def runtime_of(stream: str) -> int:
    """The environment's runtime: of its processes, the one that is no other's parent (above it: the zygote's
    clone when forked, bubblewrap and its reaper when spawned)."""
    pids = processes_of(stream)
    parents = {parent(pid) for pid in pids}
    runtimes = [pid for pid in pids if pid not in parents]
    assert len(runtimes) == 1, (pids, runtimes)
    return runtimes[0]


def test_a_cold_start_is_a_fork_of_the_zygote(server, lam, fn_name, namespaced):
    """Forked: the runtime descends from the server's zygote, which started before it; the zygote's
    interpreter serves it (its command line), INIT is reported, and the zygote served the next cold start
    too. Spawned (STRATUS_PYTHON_ZYGOTE=0): no zygote at all."""
    create(lam, fn_name, STREAM_APP)
    response, stream = invoke_json(lam, fn_name, LogType="Tail")
    assert "FunctionError" not in response, stream
    assert "Init Duration: " in base64.b64decode(response["LogResult"]).decode()
    runtime = runtime_of(stream)
    zygotes = zygotes_of(server.process.pid)
    if server.python_path == "spawn":
        assert zygotes == []
        assert ZYGOTE_SCRIPT not in cmdline(runtime)
        return
    # (the shared server may run other zygotes: other Pythons', Node's pre-started runtimes')
    mine = [zygote for zygote in zygotes if zygote in ancestors(runtime)]
    assert len(mine) == 1, (zygotes, ancestors(runtime))
    zygote = mine[0]
    assert ZYGOTE_SCRIPT in cmdline(runtime), "the runtime is the zygote's interpreter, not a new one"
    assert start_ticks(zygote) <= start_ticks(runtime)
    # A second function's cold start forks from the same zygote.
    create(lam, f"{fn_name}-2", STREAM_APP)
    _, second = invoke_json(lam, f"{fn_name}-2")
    assert zygote in ancestors(runtime_of(second))


SNOOP = """
import os, socket
HELD = []
def attempt(action):
    try:
        return action()
    except OSError as exc:
        return type(exc).__name__
def abstract(name):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(b"\\0" + name.encode())
    return "connected"
def plant(secret):
    open("/tmp/secret", "w").write(secret)
    open("/dev/shm/secret", "w").write(secret)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(b"\\0stratus-" + secret.encode())
    listener.listen(1)
    HELD.append(listener)
def handler(event, context):
    if event.get("plant"):
        plant(event["plant"])
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    return {
        "stream": context.log_stream_name,
        "tmp": sorted(os.listdir("/tmp")), "shm": sorted(os.listdir("/dev/shm")),
        "task": sorted(os.listdir("/var/task")), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "abstract": attempt(lambda: abstract("stratus-" + event.get("peer", "none"))),
        "other code": attempt(lambda: os.listdir(event.get("other_code", "/nonexistent"))),
        "peer runtime api": attempt(lambda: socket.create_connection(("127.0.0.1", 9001), timeout=2).close() or
                                    "own"),
        "sources": attempt(lambda: os.listdir("/var/stratus-sources")),
        "uid": os.getuid(), "caps": status["CapEff"].strip(),
    }
"""


def test_two_forked_environments_see_nothing_of_each_other(server, lam, fn_name, namespaced):
    """Files in /tmp and /dev/shm, processes, an abstract Unix socket (per network namespace), code, the
    zygote's source folders, host uids: each environment has its own."""
    planter, snooper = f"{fn_name}-a", f"{fn_name}-b"
    create(lam, planter, SNOOP + "\n# a\n")
    create(lam, snooper, SNOOP + "\n# b\n")
    _, planted = invoke_json(lam, planter, {"plant": "s3cret"})
    assert planted["tmp"] == ["secret"] and planted["shm"] == ["secret"], planted
    other_code = [str(path) for path in (server.data_dir / "code").iterdir() if path.is_dir()]
    _, seen = invoke_json(lam, snooper, {"peer": "s3cret", "other_code": other_code[0]})
    assert seen["tmp"] == [] and seen["shm"] == [], seen
    assert seen["pids"] == [1, 2], seen
    assert seen["task"] == ["app.py"], seen
    assert seen["abstract"] == "ConnectionRefusedError", "the other environment's abstract socket was reachable"
    assert seen["other code"] in ("FileNotFoundError", "PermissionError"), seen
    assert seen["peer runtime api"] == "own", seen  # 127.0.0.1:9001 is its own (its own network namespace)
    assert seen["sources"] in ("FileNotFoundError", []), seen
    assert seen["uid"] == 993 and seen["caps"] == "0000000000000000", seen
    # The planter still has its files (its environment is alive and its own), and connects to its own socket.
    _, again = invoke_json(lam, planter, {"peer": "s3cret"})
    assert again["stream"] == planted["stream"] and again["tmp"] == ["secret"], again
    assert again["abstract"] == "connected", again
    # On the host, the two runtimes are different uids (forked: one host uid per environment).
    uids = {runtime_of(env["stream"]): _host_uid(runtime_of(env["stream"])) for env in (planted, seen)}
    if server.python_path == "fork":
        assert len(set(uids.values())) == 2 and 0 not in uids.values(), uids


def _host_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("Uid:")).split()[1])


def test_a_zygote_that_dies_is_rebuilt(fresh_server, tmp_path):
    from tests.conftest import namespaced_unavailable_reason
    if namespaced_unavailable_reason():
        pytest.skip("the fork path is the namespaced sandbox's")
    srv = fresh_server(env={"STRATUS_SANDBOX": "namespaced"})
    lam = srv.client()
    create(lam, "first", STREAM_APP)
    _, first = invoke_json(lam, "first")
    [zygote] = zygotes_of(srv.process.pid)
    os.kill(zygote, signal.SIGKILL)
    assert wait_until_gone(first, 10) == [], "the environments of a dead zygote end with it"
    create(lam, "second", STREAM_APP)
    response, second = invoke_json(lam, "second")
    assert "FunctionError" not in response, second
    [rebuilt] = zygotes_of(srv.process.pid)
    assert rebuilt != zygote and rebuilt in ancestors(runtime_of(second))
    response, again = invoke_json(lam, "first")  # its old environment is gone: a new one, forked
    assert "FunctionError" not in response and again != first, again
    assert "zygote of" in srv.log() and "ended" in srv.log()


def test_the_servers_stop_ends_zygotes_environments_and_cgroups(fresh_server):
    from tests.conftest import namespaced_unavailable_reason
    if namespaced_unavailable_reason():
        pytest.skip("the fork path is the namespaced sandbox's")
    srv = fresh_server(env={"STRATUS_SANDBOX": "namespaced"})
    lam = srv.client()
    streams = []
    for name in ("one", "two"):
        create(lam, name, STREAM_APP)
        streams.append(invoke_json(lam, name)[1])
    zygotes = zygotes_of(srv.process.pid)
    assert len(zygotes) == 1
    env_ids = [stream.rsplit("]", 1)[1] for stream in streams]
    cgroups = [path for env_id in env_ids for path in Path("/sys/fs/cgroup").glob(f"*/**/stratus-*-{env_id}")]
    assert cgroups
    assert srv.stop() == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in zygotes):
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in zygotes), "a zygote outlived the server"
    for stream in streams:
        assert wait_until_gone(stream, 10) == []
    assert [path for path in cgroups if path.exists()] == []

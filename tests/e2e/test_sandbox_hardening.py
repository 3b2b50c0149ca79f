"""What a function may not do to its host, in both sandboxes: the namespaced sandbox's seccomp
filter denies dangerous kernel calls; the plain sandbox never runs functions as root and keeps them
out of the data dir; the plain sandbox warns, and is refused beyond loopback."""

import errno
import os
import subprocess
import sys

import pytest

from tests.support.server import free_port, invoke_json, make_zip

pytestmark = pytest.mark.both_python_paths  # forked and spawned Python environments alike

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

SYSCALLS = """
import ctypes, errno, os, platform
libc = ctypes.CDLL(None, use_errno=True)
X86 = platform.machine() == "x86_64"
NUMBERS = {  # x86_64, aarch64
    "unshare": (272, 97), "keyctl": (250, 219), "add_key": (248, 217), "bpf": (321, 280),
    "perf_event_open": (298, 241), "userfaultfd": (323, 282), "mount": (165, 40), "umount2": (166, 39),
    "setns": (308, 268), "ptrace": (101, 117), "init_module": (175, 105), "kexec_load": (246, 104),
    "open_by_handle_at": (304, 265), "swapoff": (168, 225), "settimeofday": (164, 170), "getpid": (39, 172),
}
def call(name, *args):
    ctypes.set_errno(0)
    result = libc.syscall(NUMBERS[name][0 if X86 else 1], *[ctypes.c_long(a) for a in args])
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]
def handler(event, context):
    return {
        "unshare(CLONE_NEWUSER)": call("unshare", 0x10000000),
        "unshare(CLONE_NEWNS)": call("unshare", 0x00020000),
        "keyctl": call("keyctl", 0, 0), "add_key": call("add_key", 0, 0, 0, 0, 0),
        "bpf": call("bpf", 0, 0, 0), "perf_event_open": call("perf_event_open", 0, 0, -1, -1, 0),
        "userfaultfd": call("userfaultfd", 0), "mount": call("mount", 0, 0, 0, 0, 0),
        "umount2": call("umount2", 0, 0), "setns": call("setns", 0, 0), "ptrace": call("ptrace", 0, 0, 0, 0),
        "init_module": call("init_module", 0, 0, 0), "kexec_load": call("kexec_load", 0, 0, 0, 0),
        "open_by_handle_at": call("open_by_handle_at", 0, 0, 0), "swapoff": call("swapoff", 0),
        "settimeofday": call("settimeofday", 0, 0),
        "getpid": call("getpid"), "fork": "ok" if (os.waitpid(pid, 0) if (pid := os.fork()) else os._exit(0)) else "?",
    }
"""


def create(lam, name, source, runtime="python3.12", **kwargs):
    lam.create_function(FunctionName=name, Runtime=runtime, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": source})}, **kwargs)


def test_the_seccomp_filter_denies_dangerous_calls_with_eperm(server, lam, fn_name):
    if server.sandbox != "namespaced":
        pytest.skip("the seccomp filter is the namespaced sandbox's (bubblewrap applies it)")
    create(lam, fn_name, SYSCALLS)
    response, results = invoke_json(lam, fn_name)
    assert "FunctionError" not in response, results
    assert results.pop("getpid") == "ok" and results.pop("fork") == "ok", "ordinary calls still work"
    assert results == {name: "EPERM" for name in results}, results
    assert len(results) == 16


PROBE = """
import os
def attempt(action):
    try:
        action()
        return "done"
    except OSError as exc:
        return errno_name(exc)
def errno_name(exc):
    import errno
    return errno.errorcode.get(exc.errno, str(exc.errno))
def write(path):
    with open(path, "w") as out:
        out.write("x")
    os.remove(path)
def handler(event, context):
    seen = {"read " + path: attempt(lambda path=path: open(path, "rb").read(1)) for path in event["read"]}
    seen.update({"list " + path: attempt(lambda path=path: os.listdir(path)) for path in event["list"]})
    seen.update({"write " + path: attempt(lambda path=path: write(path)) for path in event["write"]})
    tmp = os.environ.get("TMPDIR", "/tmp")
    seen["write own tmp"] = attempt(lambda: write(os.path.join(tmp, "mine")))
    seen["write /tmp/literal"] = attempt(lambda: write("/tmp/literal-" + str(os.getpid())))
    seen["kill server"] = attempt(lambda: os.kill(event["server_pid"], 0))
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    seen["uid"] = os.getuid()
    seen["gid"] = os.getgid()
    seen["caps"] = [status[key].strip() for key in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb")]
    seen["no_new_privs"] = status["NoNewPrivs"].strip()
    return seen
"""


def test_a_function_is_unprivileged_and_kept_out_of_the_data_dir(server, lam, fn_name):
    """The plain sandbox's finding 9 (it read secret.key, the DB, /etc/shadow and the server's environ,
    wrote /usr) and the same checks against the namespaced one."""
    if os.geteuid() != 0:
        pytest.skip("a server not running as root cannot switch its functions to another user")
    data = server.data_dir
    create(lam, fn_name, PROBE)
    create(lam, f"{fn_name}-other", "def handler(e, c):\n    return 1\n")
    invoke_json(lam, f"{fn_name}-other")  # its code is unpacked
    pid = server.process.pid
    event = {
        "read": [str(data / "secret.key"), str(data / "stratus.db"), str(data / "stratus.db-wal"),
                 str(data / "queue.db"), str(data / "logs.db"), "/etc/shadow", f"/proc/{pid}/environ",
                 f"/proc/{pid}/mem"],
        "list": [str(data), str(data / "code"), str(data / "blobs"), str(data / "sandboxes"),
                 str(data / "opt"), "/root"],
        "write": ["/usr/planted", "/etc/planted", str(data / "planted"), str(data / "code" / "planted"),
                  str(data / "sandboxes" / "planted"), "/root/planted", "/var/tmp/planted"]
                 + (["/dev/shm/planted"] if server.sandbox == "plain" else []),  # namespaced: its own /dev
        "server_pid": pid,
    }
    response, seen = invoke_json(lam, fn_name, event)
    assert "FunctionError" not in response, seen
    for key in [f"read {path}" for path in event["read"]] + [f"list {path}" for path in event["list"]]:
        assert seen[key] in ("EACCES", "ENOENT", "EPERM"), (key, seen[key])
    for key in [f"write {path}" for path in event["write"]]:
        assert seen[key] in ("EACCES", "ENOENT", "EROFS", "EPERM"), (key, seen[key])
    assert seen["write own tmp"] == "done"
    assert seen["write /tmp/literal"] == "done", "Lambda code writes literal /tmp paths"
    assert seen["kill server"] in ("EPERM", "ESRCH"), "a function may not signal the server"
    assert seen["uid"] != 0 and seen["gid"] != 0
    assert seen["caps"] == ["0000000000000000"] * 5, seen["caps"]
    assert seen["no_new_privs"] == "1"


def test_plain_environments_have_uids_and_tmp_dirs_of_their_own(server, lam, fn_name):
    if server.sandbox != "plain" or os.geteuid() != 0:
        pytest.skip("the plain sandbox as root gives each environment its own uid")
    source = """
import os, signal
def handler(event, context):
    if event.get("target"):
        found = {}
        try:
            os.kill(event["target"]["pid"], 0)
            found["signal"] = "done"
        except OSError as exc:
            found["signal"] = type(exc).__name__
        for what, path in (("environ", f"/proc/{event['target']['pid']}/environ"),
                           ("tmp", os.path.join(event["target"]["tmp"], "x"))):
            try:
                open(path, "rb" if what == "environ" else "w").close()
                found[what] = "done"
            except OSError as exc:
                found[what] = type(exc).__name__
        return found
    return {"pid": os.getpid(), "uid": os.getuid(), "tmp": os.environ["TMPDIR"]}
"""
    create(lam, f"{fn_name}-a", source, Environment={"Variables": {"SECRET": "a's secret"}})
    create(lam, f"{fn_name}-b", source)
    _, a = invoke_json(lam, f"{fn_name}-a")
    _, b = invoke_json(lam, f"{fn_name}-b")
    assert a["uid"] != b["uid"] and 0 not in (a["uid"], b["uid"])
    _, found = invoke_json(lam, f"{fn_name}-b", {"target": a})
    assert found == {"signal": "PermissionError", "environ": "PermissionError", "tmp": "PermissionError"}


def test_the_plain_sandbox_warns_when_forced(server):
    if server.sandbox != "plain":
        pytest.skip("the warning is the plain sandbox's")
    log = server.log_path.read_text(errors="replace")  # the whole log: the start-up lines have long scrolled
    warnings = [line for line in log.splitlines() if "plain sandbox" in line and "WARNING" in line]
    assert len(warnings) == 1, warnings
    assert "UNSAFE for untrusted code" in warnings[0] and "STRATUS_SANDBOX=plain" in warnings[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_the_plain_sandbox_is_refused_beyond_loopback(tmp_path, host):
    env = dict(os.environ, STRATUS_SANDBOX="plain")
    result = subprocess.run([sys.executable, "-m", "stratus.cli.main", "serve", "--host", host, "--port",
                             str(free_port()), "--data-dir", str(tmp_path / "data")],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused when the server listens beyond loopback" in lines[0], result.stderr


def test_errno_names_used_here_exist():
    assert errno.EPERM == 1  # the tests above compare errno names; EPERM is what the filter returns


def test_a_process_that_left_the_process_group_ends_with_its_environment(server, lam, fn_name):
    """A daemon started with setsid escaped the plain sandbox's process-group kill; the environment's
    own uid (plain) or cgroup (namespaced) now ends it with the environment."""
    if server.sandbox == "plain" and os.geteuid() != 0:
        pytest.skip("a plain sandbox not running as root has no uid of the environment's own to kill by")
    from tests.support.environments import processes_of, wait_until_gone
    create(lam, fn_name, """
import subprocess
def handler(event, context):
    subprocess.Popen(["sleep", "600"], start_new_session=True)
    return context.log_stream_name
""")
    _, stream = invoke_json(lam, fn_name)
    assert len(processes_of(stream)) >= 2, "the runtime and its escaped daemon"
    lam.update_function_configuration(FunctionName=fn_name, Description="retire the environment")
    assert wait_until_gone(stream, 15) == []


def test_plain_rlimits_are_set_before_the_runtime_starts(server, lam, fn_name):
    """The address-space and core limits are the process's own from its first instruction (set before
    it drops root: a process of another uid cannot be limited from outside without CAP_SYS_RESOURCE)."""
    if server.sandbox != "plain":
        pytest.skip("the rlimits are the plain sandbox's (the namespaced one has a memory cgroup)")
    create(lam, fn_name, """
import resource
def handler(event, context):
    return [resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_CORE)]
""", MemorySize=256)
    _, limits = invoke_json(lam, fn_name)
    assert limits == [[(256 + 1024) * 2**20] * 2, [0, 0]]
    assert "could not set rlimits" not in server.log()

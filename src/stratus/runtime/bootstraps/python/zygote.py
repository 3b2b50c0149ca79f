"""The Python runtime's zygote: an interpreter with the bootstrap loaded and no user code, that forks
execution environments (sandbox/zygote.py starts it, in a sandbox of its own, and asks it for them).

It runs as root without a user namespace, in mount, pid, ipc, uts and network namespaces of its own
(bubblewrap), seeing only what every environment sees (/usr, /etc, the interpreter, this folder) and,
under SOURCES, the host folders environments' code, layers and SDKs come from. Per request (one
SOCK_SEQPACKET message: JSON and file descriptors) it makes one raw clone() into new pid, mount, ipc
and uts namespaces; the child (pid 1 there) builds the environment before any user code exists:

  cgroups joined (fds the server opened) → own cgroup namespace → the environment's network
  namespace (setns) → /var/task, /opt, the SDK read-only, a private /tmp of the configured size,
  /dev/shm and /dev/pts of its own, its own /proc; SOURCES covered → the environment's variables
  as /proc/PID/environ shows them → its host uid, then a user namespace mapping it to 993
  (sbx_user1051), every capability dropped, no_new_privs, the seccomp filter →

then forks the runtime (pid 2), and stays as its reaper, as bubblewrap's pid 1 does: when the runtime
ends it writes the runtime's exit status to the status socket and exits (the kernel then ends every
process left in the environment). Python 3.9+ (it runs on the function's interpreter).
"""

import os
import sys

# The bootstrap is loaded first, under a private name (a function may have a bootstrap.py of its own);
# what is loaded at that point is what a spawned runtime has loaded too: the runtime keeps only that.
BOOTSTRAP_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
BASE_PATH = list(sys.path)
sys.path.insert(1, os.path.dirname(BOOTSTRAP_PATH))
import bootstrap  # noqa: E402

sys.modules["_stratus_bootstrap"] = sys.modules.pop("bootstrap")
del sys.path[1]
STARTUP_MODULES = set(sys.modules)

import _socket  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import signal  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402

SOURCES = "/var/stratus-sources"
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
NODE_RUNTIME_SOURCE = "/var/stratus-node-runtime"  # a Node zygote's: the Node bootstrap, shown at RUNTIME_DIR
LAYER_ESM_DIR = "/var/node_modules"
# A Node blank's runtime starts with these (its function's variables come with its job).
ZYGOTE_ENV_FOR_NODE = {"PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
                       "HOME": "/tmp"}
SANDBOX_UID = 993

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = \
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 4, 24, 22, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
CAPABILITY_VERSION_3 = 0x20080522
SYS_CLONE = {"x86_64": 56, "aarch64": 220}[os.uname().machine]

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.syscall.restype = ctypes.c_long
_before_fork = ctypes.pythonapi.PyOS_BeforeFork
_after_fork_child = ctypes.pythonapi.PyOS_AfterFork_Child
_after_fork_parent = ctypes.pythonapi.PyOS_AfterFork_Parent


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result, what):
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")
    return result


def mount(source, target, fstype, flags, data=None):
    def enc(text):
        return text.encode() if isinstance(text, str) else text

    _check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), "mount " + target)


def prctl(option, a=0, b=0, c=0, d=0):
    return _check(libc.prctl(option, a, b, c, d), f"prctl {option}")


def clone(flags):
    """fork() into new namespaces with one raw clone (CLONE_NEWPID: the child is pid 1 of its own pid
    namespace, which unshare() cannot give the caller itself), wrapped in CPython's fork hooks."""
    _before_fork()
    pid = libc.syscall(SYS_CLONE, ctypes.c_ulong(flags | signal.SIGCHLD), ctypes.c_ulong(0), None, None,
                       ctypes.c_ulong(0))
    if pid < 0:
        error = ctypes.get_errno()
        _after_fork_parent()
        raise OSError(error, "clone: " + os.strerror(error))
    if pid == 0:
        _after_fork_child()
    else:
        _after_fork_parent()
    return pid


# --------------------------------------------------------------------------- the environment (pid 1)
def bind_readonly(source, target):
    mount(source, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def write_file(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


ENVIRON_RESERVE = "_STRATUS_ENVIRON_RESERVE"  # room for an environment's variables (see show_environment)
_environ_area = (0, 0)  # where /proc/PID/environ reads: the variables the zygote was started with, then room


def reserve_environ_area():
    """In the zygote: find the area the kernel shows as /proc/PID/environ, blank the room reserved in it."""
    global _environ_area
    with open("/proc/self/stat") as stat:
        fields = stat.read().rsplit(") ", 1)[1].split()
    start, end = int(fields[47]), int(fields[48])
    with open("/proc/self/environ", "rb") as environ:
        current = environ.read()
    at = current.find(ENVIRON_RESERVE.encode() + b"=")
    os.environ.pop(ENVIRON_RESERVE, None)  # (its string is no longer libc's)
    if at >= 0 and len(current) == end - start:
        length = current.index(b"\0", at) - at
        ctypes.memset(start + at, 0, length)
        _environ_area = (start, end)


def show_environment(env):
    """Make /proc/PID/environ show `env`, as for a spawned runtime (the host finds an environment's processes
    by its variables): written over the zygote's own start-up variables, in the room kept for it (with
    CAP_SYS_RESOURCE, prctl(PR_SET_MM) could point the kernel elsewhere; not every host grants it)."""
    start, end = _environ_area
    os.environ.clear()  # libc's variables now live elsewhere: the area is free
    os.environ.update(env)
    data = b"".join(key.encode() + b"=" + value.encode() + b"\0" for key, value in env.items())
    if not start or len(data) > end - start:
        return
    old = ctypes.string_at(start, end - start).rstrip(b"\0")
    ctypes.memmove(start, data, len(data))
    if len(old) > len(data):
        ctypes.memset(start + len(data), 0, len(old) - len(data))


def drop_privileges(uid, gid, seccomp_filter):
    """Become `uid` on the host, seen as 993 in a user namespace of its own, with no capabilities."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # every capability in the host's namespace is gone
    prctl(PR_SET_DUMPABLE, 1)  # (else its /proc/self/*_map would belong to root)
    _check(libc.unshare(CLONE_NEWUSER), "unshare")
    write_file("/proc/self/setgroups", "deny")
    write_file("/proc/self/uid_map", f"{SANDBOX_UID} {uid} 1\n")
    write_file("/proc/self/gid_map", f"{SANDBOX_UID} {gid} 1\n")
    with open("/proc/sys/kernel/cap_last_cap") as last:
        for cap in range(int(last.read()) + 1):  # the bounding set too: nothing can be regained
            prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = struct.pack("Ii", CAPABILITY_VERSION_3, 0)
    _check(libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(b"\0" * 24)), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if seccomp_filter:
        program = ctypes.create_string_buffer(seccomp_filter, len(seccomp_filter))
        fprog = _SockFprog(len(seccomp_filter) // 8, ctypes.addressof(program))
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))


def build(request, fds):
    """Everything the environment is, before its runtime starts (as root, in the new namespaces)."""
    enter(fds)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount_function(request, request["uid"], request["gid"])
    show_environment(request["env"])
    drop_privileges(request["uid"], request["gid"], SECCOMP_FILTER)


def enter(fds):
    """Join the environment's cgroups and network namespace (fds the server opened), devpts of its own."""
    for fd in fds["cgroups"]:
        os.write(fd, b"0")  # join: this process, and so every process of the environment
        os.close(fd)
    _check(libc.unshare(CLONE_NEWCGROUP), "unshare")  # its cgroups are its root, as under bwrap
    _check(libc.setns(fds["net"], CLONE_NEWNET), "setns")
    os.close(fds["net"])
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")


def mount_function(request, uid, gid):
    """The function's files: code, layers, SDK read-only, /tmp and /dev/shm of its size; SOURCES covered."""
    bind_readonly(request["task"], TASK_ROOT)
    if request.get("opt"):
        bind_readonly(request["opt"], "/opt")
    if request.get("sdk"):
        bind_readonly(request["sdk"], request["sdk_visible"])
    if request.get("layer_esm"):  # Node: a layer's nodejs/node_modules where import() finds it
        bind_readonly(request["layer_esm"], LAYER_ESM_DIR)
    size = f"size={request['tmp_mb']}m,uid={uid},gid={gid}"
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size + ",mode=0755")
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, size + ",mode=1777")
    # SOURCES is covered by an empty read-only tmpfs, which the function cannot remove (no capabilities):
    # unmounting it would cost an RCU grace period (1-4 ms measured) on every cold start.
    mount("tmpfs", SOURCES, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")


def keep_only(keep):
    """pid 1 lets go of every descriptor but `keep` (the server's status socket), the standard ones included."""
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)
    for fd in (0, 1, 2):
        os.close(fd)
    return keep


def reap(runtime_pid, status_fd):
    """pid 1: reap every process re-parented here; report the runtime's end, then end the environment."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            status = 0
            break
        if pid == runtime_pid:
            break
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    try:
        os.write(status_fd, struct.pack("i", code))
    except OSError:
        pass
    os._exit(0)


def environment(request, fds):
    """The clone's life: build the environment, start its runtime, reap."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        build(request, fds)
    except BaseException as exc:  # noqa: BLE001 - reported in the function's log; the environment fails
        try:
            os.write(fds["output"], f"stratus: the environment could not be set up: {exc}\n".encode())
            os.write(2, f"stratus zygote: an environment could not be set up: {exc}\n".encode())
            os.write(fds["status"], struct.pack("i", 126))
        finally:
            os._exit(126)
    pid = os.fork()
    if pid == 0:
        try:
            runtime(request, fds)
        except BaseException:  # noqa: BLE001 - the runtime could not start: say why in the function's log
            sys.excepthook(*sys.exc_info())
        finally:
            os._exit(1)
    reap(pid, keep_only(fds["status"]))


# --------------------------------------------------------------------------- a blank environment
# Made ahead of demand (sandbox/zygote.py keeps a few per zygote): everything that does not depend on the
# function is done, the slow part included (on cgroup v1 the first move into a memory cgroup after a pause
# waits for an RCU grace period, 10-15 ms), and every privilege is dropped (by pid 1, before it forks pid 2,
# which shares its user namespace, as in `environment`): pid 1 reaps, pid 2 waits on its job socket. At
# assignment the zygote mounts the function's files in the blank's mount namespace (setns there and back: it
# is root there, the blank no longer is), then sends pid 2 the job (JSON: the variables; fds: output, Runtime
# API), and pid 2 becomes the runtime.
BLANKS = {}  # blank id → (its mount namespace fd, the zygote's end of its job socket, uid, gid)
OWN_MOUNTS = -1  # the zygote's own mount namespace (to come back to after mounting in a blank's)


def make_blank(request, given):
    """In the zygote: clone a blank environment; keep what its assignment needs."""
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    pid = clone(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
    if pid == 0:
        try:
            ours.close()
            blank(request, given, theirs.detach())
        finally:
            os._exit(127)
    theirs.close()
    try:
        namespace = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        ours.close()
        raise
    BLANKS[request["id"]] = (namespace, ours, request["uid"], request["gid"])


def assign_blank(request, given):
    """In the zygote: the blank's function files (in its mount namespace), then its job to pid 2."""
    namespace, job, uid, gid = BLANKS.pop(request["assign"])
    error = ""
    try:
        _check(libc.setns(namespace, CLONE_NEWNS), "setns")
        try:
            mount_function(request, uid, gid)
        finally:
            _check(libc.setns(OWN_MOUNTS, CLONE_NEWNS), "setns")
            os.chdir("/")
    except OSError as exc:
        error = str(exc)
    try:
        message = bootstrap.json_dumps({"env": request["env"], "error": error}, None, False)
        # (a Node blank gets no fds: its output was given at its start, its Runtime API is 127.0.0.1:9001)
        job.sendmsg([message.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                          struct.pack(f"{len(given)}i", *given))] if given else [])
    finally:
        job.close()
        os.close(namespace)


def drop_blank(request):
    """In the zygote: forget a blank the server no longer keeps (its pid 2 sees the end of its job socket)."""
    found = BLANKS.pop(request["drop"], None)
    if found is not None:
        os.close(found[0])
        found[1].close()


def blank(request, fds, job):
    """The clone's life when made ahead of demand (pid 1)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    uid, gid = request["uid"], request["gid"]
    try:
        enter(fds)
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        if request.get("node"):  # a Node runtime: its bootstrap at /var/runtime, as when spawned
            bind_readonly(NODE_RUNTIME_SOURCE, RUNTIME_DIR)
        # Both processes unprivileged before either waits: the zygote mounts the function's files later.
        drop_privileges(uid, gid, SECCOMP_FILTER)
    except BaseException as exc:  # noqa: BLE001 - the server sees the blank end, and drops it
        os.write(2, f"stratus zygote: a blank environment could not be set up: {exc}\n".encode())
        os.write(fds["status"], struct.pack("i", 126))
        os._exit(126)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(fds["status"])
            if request.get("node"):
                node_waiting(request["node"], job, fds["output"])
            waiting(job)
        except BaseException:  # noqa: BLE001 - before the job: said in the server's log; after: the function's
            sys.excepthook(*sys.exc_info())
        finally:
            os._exit(1)
    reap(pid, keep_only(fds["status"]))


def waiting(job):
    """pid 2 of a blank environment (unprivileged already): wait for the function, become its runtime."""
    os.closerange(3, job)
    os.closerange(job + 1, 65536)
    control = _socket.socket(fileno=job)
    while True:
        try:
            message, fds, _, _ = _socket_recv_fds(control)
            break
        except InterruptedError:
            continue
    control.close()
    if not message:
        os._exit(0)  # the server dropped this blank
    given = dict(zip(("output", "runtime"), fds))
    try:
        if len(fds) != 2:
            raise ValueError(f"a job came with {len(fds)} file descriptors")
        request = bootstrap.json_loads(message)
        if request["error"]:
            raise OSError(request["error"])
        show_environment(request["env"])
    except BaseException as exc:  # noqa: BLE001 - reported in the function's log; the environment fails
        if "output" in given:
            os.write(given["output"], f"stratus: the environment could not be set up: {exc}\n".encode())
        os.write(2, f"stratus zygote: an environment could not be set up: {exc}\n".encode())
        os._exit(126)
    runtime(request, given)


def node_waiting(node, job, output):
    """pid 2 of a Node blank (unprivileged already): exec Node on the bundled bootstrap now, which loads
    what it needs, then waits on its job socket (fd 3) for the function's variables (bootstrap.js)."""
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)  # the output pipe the server made for this blank (its environment's from assignment)
    os.dup2(output, 2)
    os.dup2(job, 3)
    os.set_inheritable(3, True)
    os.closerange(4, 65536)
    os.chdir("/")
    env = dict(ZYGOTE_ENV_FOR_NODE, _STRATUS_JOB_FD="3")
    os.execve(node, [node, RUNTIME_DIR + "/bootstrap.js"], env)


def runtime(request, fds):
    """pid 2: the bootstrap, as `python -S -u /var/runtime/bootstrap.py` would run it."""
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fds["output"], 1)
    os.dup2(fds["output"], 2)
    api = os.dup(fds["runtime"])
    os.closerange(3, api)
    os.closerange(api + 1, 65536)
    env = request["env"]
    time.tzset()
    os.chdir(env.get("LAMBDA_TASK_ROOT", TASK_ROOT))
    # What the interpreter would have started with: the script's folder, PYTHONPATH, the standard library.
    extra = [entry for entry in env.get("PYTHONPATH", "").split(":") if entry]
    sys.path[:] = BASE_PATH[:1] + extra + BASE_PATH[1:]
    sys.argv[:] = [BOOTSTRAP_PATH]
    # Modules the zygote loaded for itself are forgotten: the function imports them afresh, as when spawned.
    for name in [name for name in sys.modules if name not in STARTUP_MODULES]:
        del sys.modules[name]
    bootstrap.configure()
    client = bootstrap.RuntimeClient()
    client.sock = _socket.socket(fileno=api)
    code = 0
    try:
        bootstrap.main(client)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # noqa: BLE001 - as the interpreter does with an uncaught exception
        sys.excepthook(*sys.exc_info())
        code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _exit_code(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(str(code) + "\n")
    return 1


# --------------------------------------------------------------------------- the zygote
def serve(control):
    while True:
        try:
            message, fds, _, _ = _socket_recv_fds(control)
        except InterruptedError:
            continue
        if not message:
            os._exit(0)  # the server closed its end
        try:
            request = bootstrap.json_loads(message)
            if "assign" in request:  # a blank gets its function
                assign_blank(request, fds)
                continue
            if "drop" in request:
                drop_blank(request)
                continue
            # A blank environment (made ahead of demand), or one for a function now.
            names = ("status", "output", "runtime", "net")
            if request.get("blank"):
                names = ("status", "net", "output") if request.get("node") else ("status", "net")
            count = len(names)
            given = dict(zip(names, fds[:count]))
            given["cgroups"] = fds[count:]
            if len(fds) < count:
                raise ValueError(f"a request came with {len(fds)} file descriptors")
            if request.get("blank"):
                make_blank(request, given)
                continue
            pid = clone(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
            if pid == 0:
                try:
                    control.close()
                    if request.get("kind") == "snapshot":  # SnapStart: a version's zygote (snapshot.py)
                        snapshot_module()["snapshot_environment"](request, given)
                    else:
                        environment(request, given)
                finally:
                    os._exit(127)
        except Exception as exc:  # noqa: BLE001 - one bad request must not end the zygote
            sys.stderr.write(f"stratus zygote: {exc}\n")
        finally:
            for fd in fds:
                os.close(fd)


def _socket_recv_fds(sock):
    fd_size = struct.calcsize("i")
    message, ancillary, flags, address = sock.recvmsg(1 << 20, _socket.CMSG_LEN(64 * fd_size))
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += struct.unpack(f"{len(data) // fd_size}i", data[:len(data) - len(data) % fd_size])
    return message, fds, flags, address


SECCOMP_FILTER = b""


def snapshot_module():
    """snapshot.py's names (beside this file), compiled in the clone that becomes a SnapStart version's zygote."""
    path = os.path.join(os.path.dirname(BOOTSTRAP_PATH), "snapshot.py")
    with open(path, encoding="utf-8") as source:
        code = compile(source.read(), path, "exec")
    names = {"__name__": "_stratus_snapshot", "__file__": path}
    exec(code, names)
    return names


def main():
    global SECCOMP_FILTER, OWN_MOUNTS
    control = _socket.socket(fileno=int(sys.argv[1]))
    seccomp_fd = int(sys.argv[2]) if len(sys.argv) > 2 else -1
    if seccomp_fd >= 0:
        with os.fdopen(seccomp_fd, "rb") as source:
            SECCOMP_FILTER = source.read()
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing an environment mounts propagates back here
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # environments are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reserve_environ_area()
    OWN_MOUNTS = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    gc.collect()
    gc.freeze()  # the zygote's objects stay out of the environments' collections (fewer copied pages)
    control.send(b"ready")
    serve(control)


if __name__ == "__main__":
    main()

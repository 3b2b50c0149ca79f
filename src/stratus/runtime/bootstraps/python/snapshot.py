"""SnapStart for Python: a published version's INIT run once, the initialized process kept as the version's zygote.

Compiled by the runtime's zygote (zygote.py, whose names are `z` here) in the clone it makes for a request of
kind "snapshot" (sandbox/snapshot.py sends it). That clone (pid 1 of the version's pid namespace, root) builds
what every environment of the version shares: its cgroups for INIT, INIT's network namespace, /var/task, /opt
and the SDK read-only, SOURCES covered, the version's variables. Then it forks the version zygote, and stays
as the reaper of the namespace (it reports the zygote's end, and waits for the environments left).

The version zygote becomes a host uid of its own (the first of a block the server gave the version) in a user
namespace of its own where it is 993 (sbx_user1051) and where the rest of the block is mapped too, keeping its
capabilities there (only there: none on the host; its mount namespace, made by root, it cannot change); then
no_new_privs and a seccomp filter that lets it make namespaces and mounts (sandbox/seccomp.py). It runs INIT
(the function's module imported, as bootstrap.py does), the before-snapshot hooks (snapshot_restore_py), and
says `ready`. From then on, per request, it forks one environment (clone into new pid, mount, ipc and uts
namespaces, all its user namespace's), which before anything of the function runs again: joins its own
cgroups, enters its own network namespace (one the zygote made, in its user namespace, on a `net` request,
which the server has equipped), mounts a private /tmp, /dev/shm, /dev/pts and /proc, shows its own variables,
becomes a uid of its own (seen as 993 in a user namespace of its own), drops every capability, no_new_privs
and the environments' seccomp filter; then forks the runtime (pid 2), which re-seeds `random`, runs the
after-restore hooks and serves invocations with the handler INIT loaded.
"""

import os
import signal
import struct
import sys
import time

z = sys.modules["__main__"]  # the runtime zygote's names (zygote.py)
bootstrap = z.bootstrap
INSIDE_BASE = 1000  # environments' uids in the version's user namespace: INSIDE_BASE + slot
_state = {}  # the version zygote's handler and control socket (its environments inherit them)


# --------------------------------------------------------------------------- pid 1 of the version
def snapshot_environment(request, fds):
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        shared(request, fds)
    except BaseException as exc:  # noqa: BLE001 - reported in the version's INIT log
        try:
            os.write(fds["output"], f"stratus: the SnapStart snapshot could not be set up: {exc}\n".encode())
            os.write(fds["status"], struct.pack("i", 126))
        finally:
            os._exit(126)
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(to_parent_r)
            os.close(to_child_w)
            version_zygote(request, fds, to_parent_w, to_child_r)
        except SystemExit:  # INIT failed: reported already
            pass
        except BaseException:  # noqa: BLE001 - said in the version's INIT log
            sys.excepthook(*sys.exc_info())
        finally:
            os._exit(1)
    os.close(to_parent_w)
    os.close(to_child_r)
    if os.read(to_parent_r, 1) == b"u":  # the zygote is in its user namespace: map it and its block
        base, count = request["uid"], request["uids"]
        for kind in ("uid", "gid"):
            z.write_file(f"/proc/{pid}/{kind}_map", f"{z.SANDBOX_UID} {base} 1\n{INSIDE_BASE} {base + 1} {count}\n")
        os.write(to_child_w, b"1")
    keep = z.keep_only(fds["status"])
    # The zygote's end is reported at once; the environments it forked (re-parented here) live on until theirs.
    code = 0
    while True:
        try:
            child, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if child == pid:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            try:
                os.write(keep, struct.pack("i", code))
            except OSError:
                pass
    os._exit(0)


def shared(request, fds):
    """What every environment of the version has in common (as root, in the new namespaces)."""
    for fd in fds["cgroups"]:
        os.write(fd, b"0")
        os.close(fd)
    z._check(z.libc.unshare(z.CLONE_NEWCGROUP), "unshare")
    z._check(z.libc.setns(fds["net"], z.CLONE_NEWNET), "setns")
    os.close(fds["net"])
    z.bind_readonly(request["task"], z.TASK_ROOT)
    if request.get("opt"):
        z.bind_readonly(request["opt"], "/opt")
    if request.get("sdk"):
        z.bind_readonly(request["sdk"], request["sdk_visible"])
    uid = request["uid"]
    size = f"size={request['tmp_mb']}m,uid={uid},gid={uid}"
    z.mount("tmpfs", "/tmp", "tmpfs", z.MS_NOSUID | z.MS_NODEV, size + ",mode=0755")
    z.mount("tmpfs", "/dev/shm", "tmpfs", z.MS_NOSUID | z.MS_NODEV, size + ",mode=1777")
    z.mount("devpts", "/dev/pts", "devpts", z.MS_NOSUID | z.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    z.mount("proc", "/proc", "proc", z.MS_NOSUID | z.MS_NODEV | z.MS_NOEXEC)
    z.mount("tmpfs", z.SOURCES, "tmpfs", z.MS_RDONLY | z.MS_NOSUID | z.MS_NODEV | z.MS_NOEXEC, "size=4k,mode=0555")
    z.show_environment(request["env"])


# --------------------------------------------------------------------------- the version zygote
def version_zygote(request, fds, to_parent, from_parent):
    uid = request["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # no capability left on the host
    z.prctl(z.PR_SET_DUMPABLE, 1)
    z._check(z.libc.unshare(z.CLONE_NEWUSER), "unshare")  # every capability, in this user namespace only
    os.write(to_parent, b"u")
    if os.read(from_parent, 1) != b"1":
        raise OSError("the version's user namespace was not mapped")
    os.close(to_parent)
    os.close(from_parent)
    z.prctl(z.PR_SET_NO_NEW_PRIVS, 1)
    namespaces_filter = bytes.fromhex(request.get("seccomp_zygote", ""))
    if namespaces_filter:
        program = z.ctypes.create_string_buffer(namespaces_filter, len(namespaces_filter))
        fprog = z._SockFprog(len(namespaces_filter) // 8, z.ctypes.addressof(program))
        z.prctl(z.PR_SET_SECCOMP, z.SECCOMP_MODE_FILTER, z.ctypes.addressof(fprog))
    control = fds["runtime"]  # (this request's third descriptor is the zygote's control socket)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fds["output"], 1)
    os.dup2(fds["output"], 2)
    control = os.dup(control)
    os.closerange(3, control)
    os.closerange(control + 1, 65536)
    sock = z._socket.socket(fileno=control)
    _state["control"] = sock
    env = request["env"]
    time.tzset()
    os.chdir(env.get("LAMBDA_TASK_ROOT", z.TASK_ROOT))
    extra = [entry for entry in env.get("PYTHONPATH", "").split(":") if entry]
    sys.path[:] = z.BASE_PATH[:1] + extra + z.BASE_PATH[1:]
    sys.argv[:] = [z.BOOTSTRAP_PATH]
    for name in [name for name in sys.modules if name not in z.STARTUP_MODULES]:
        del sys.modules[name]
    bootstrap.configure()
    started = time.perf_counter()
    handler = bootstrap.initialize(ControlClient(sock))  # an INIT failure is reported and ends the zygote
    hooks = sys.modules.get("snapshot_restore_py")
    if hooks is not None and hasattr(hooks, "_run_before_snapshot"):
        try:
            hooks._run_before_snapshot()
        except Exception as exc:  # noqa: BLE001 - a failing hook fails INIT, as on AWS
            error = bootstrap.build_fault_result(exc, "")
            bootstrap.log_error(error)
            ControlClient(sock).post_init_error(error, "Runtime.BeforeSnapshotError")
            sys.exit(1)
    _state["handler"] = handler
    sys.stdout.flush()
    init_ms = (time.perf_counter() - started) * 1000.0
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # environments and helpers are reaped by the kernel
    z.gc.collect()
    z.gc.freeze()
    sock.send(b"ready" + bootstrap.json_dumps({"initMs": init_ms}, None, True).encode())
    serve(sock)


class ControlClient:
    """INIT's Runtime API stand-in: an INIT error goes to the server on the control socket."""

    def __init__(self, sock):
        self.sock = sock

    def post_init_error(self, error, error_type):
        body = bootstrap.json_dumps({"errorType": error_type, "error": error}, None, True)
        self.sock.send(b"error" + body.encode())


def serve(sock):
    names = ("status", "output", "runtime", "net", "net_ready")
    while True:
        try:
            message, fds, _, _ = z._socket_recv_fds(sock)
        except InterruptedError:
            continue
        if not message:
            os._exit(0)  # the server closed its end
        try:
            request = bootstrap.json_loads(message)
            if request.get("op") == "net":
                make_network(sock, request.get("count", 1), request.get("ahead", False))
                continue
            given = dict(zip(names, fds[:len(names)]))
            given["cgroups"] = fds[len(names):]
            if len(fds) < len(names):
                raise ValueError(f"a request came with {len(fds)} file descriptors")
            pid = z.clone(z.CLONE_NEWPID | z.CLONE_NEWNS | z.CLONE_NEWIPC | z.CLONE_NEWUTS)
            if pid == 0:
                try:
                    restored_environment(request, given)
                finally:
                    os._exit(127)
        except Exception as exc:  # noqa: BLE001 - one bad request must not end the zygote
            sys.stderr.write(f"stratus snapshot: {exc}\n")
        finally:
            for fd in fds:
                os.close(fd)


def make_network(sock, count, ahead=False):
    """`count` network namespaces of this user namespace's, for environments: handed to the server, which equips
    them (loopback, the Runtime API's listener, pasta) before an environment enters one. One helper makes them
    all (each unshare leaves the helper in a new namespace; the fds keep the earlier ones)."""
    pid = os.fork()
    if pid == 0:
        try:
            if ahead:  # made ahead of demand: after anything else the machine has to do
                os.nice(19)
            made = []
            for _ in range(max(1, min(int(count), 64))):
                z._check(z.libc.unshare(z.CLONE_NEWNET), "unshare")
                made.append(os.open("/proc/thread-self/ns/net", os.O_RDONLY))
                if len(made) == 16:
                    _send_fds(sock, made, ahead)
                    made = []
            if made:
                _send_fds(sock, made, ahead)
        except BaseException as exc:  # noqa: BLE001 - the server is told
            try:
                sock.send(b"nonet" + str(exc).encode())
            except OSError:
                pass
        finally:
            os._exit(0)


def _send_fds(sock, fds, ahead):
    rights = (z._socket.SOL_SOCKET, z._socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))
    sock.sendmsg([b"netahead" if ahead else b"net"], [rights])


# --------------------------------------------------------------------------- an environment (pid 1 of its own)
def restored_environment(request, fds):
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _state["control"].close()
    try:
        for fd in fds["cgroups"]:
            os.write(fd, b"0")
            os.close(fd)
        z._check(z.libc.unshare(z.CLONE_NEWCGROUP), "unshare")
        z._check(z.libc.setns(fds["net"], z.CLONE_NEWNET), "setns")
        os.close(fds["net"])
        uid = request["uid"]  # in the version's user namespace
        size = f"size={request['tmp_mb']}m,uid={uid},gid={uid}"
        z.mount("tmpfs", "/tmp", "tmpfs", z.MS_NOSUID | z.MS_NODEV, size + ",mode=0755")
        z.mount("tmpfs", "/dev/shm", "tmpfs", z.MS_NOSUID | z.MS_NODEV, size + ",mode=1777")
        z.mount("devpts", "/dev/pts", "devpts", z.MS_NOSUID | z.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
        z.mount("proc", "/proc", "proc", z.MS_NOSUID | z.MS_NODEV | z.MS_NOEXEC)
        z.show_environment(request["env"])
        z.drop_privileges(uid, uid, z.SECCOMP_FILTER)
    except BaseException as exc:  # noqa: BLE001 - reported in the function's log; the environment fails
        try:
            os.write(fds["output"], f"stratus: the environment could not be set up: {exc}\n".encode())
            os.write(fds["status"], struct.pack("i", 126))
        finally:
            os._exit(126)
    pid = os.fork()
    if pid == 0:
        try:
            restored_runtime(request, fds)
        except BaseException:  # noqa: BLE001 - said in the function's log
            sys.excepthook(*sys.exc_info())
        finally:
            os._exit(1)
    z.reap(pid, z.keep_only(fds["status"]))


NETWORK_WAIT_S = 10.0
_LOOPBACK = ("localhost", "::1", "ip6-localhost")


def wait_for_network(ready_fd, served_ports):
    """The environment was restored before its outbound network (pasta) was attached, which the server says on
    `ready_fd` (a byte, or its end closed). Until then, an outbound connection, datagram or name lookup made
    through Python's socket module (boto3, urllib3, requests, http.client use it) waits for it (an audit hook),
    instead of failing with "Network is unreachable"; the Runtime API and Stratus's API (127.0.0.1 on
    `served_ports`, served by the server inside) and Unix sockets do not wait."""
    import select

    state = [ready_fd]

    def wait():
        fd = state[0]
        if fd < 0:
            return
        state[0] = -1
        try:
            select.select([fd], [], [], NETWORK_WAIT_S)
        finally:
            os.close(fd)

    def loopback(host):
        return not host or host in _LOOPBACK or host.startswith("127.")

    def hook(event, args):
        if state[0] < 0 or not event.startswith("socket."):
            return
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            address = args[1] if len(args) > 1 else None
            if not isinstance(address, tuple) or len(address) < 2 or not isinstance(address[0], str):
                return  # a Unix socket, or a connected socket's send
            if loopback(address[0]) and address[1] in served_ports:
                return
            wait()
        elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                       "socket.gethostbyaddr"):
            host = args[0] if args else None
            if isinstance(host, bytes):
                host = host.decode(errors="replace")
            if not (host is None or isinstance(host, str) and loopback(host)):
                wait()

    sys.addaudithook(hook)


def restored_runtime(request, fds):
    """pid 2: the runtime, initialized already: re-seeded, after-restore hooks, then the invocations."""
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fds["output"], 1)
    os.dup2(fds["output"], 2)
    api = os.dup(fds["runtime"])
    ready = os.dup(fds["net_ready"]) if request.get("net_pending") else -1
    keep = sorted(fd for fd in (api, ready) if fd >= 0)
    os.closerange(3, keep[0])
    for low, high in zip(keep, keep[1:] + [65536]):
        os.closerange(low + 1, high)
    if ready >= 0:
        wait_for_network(ready, set(request.get("served_ports", ())))
    time.tzset()
    random = sys.modules.get("random")
    if random is not None:  # one snapshot, many environments: their pseudo-random sequences must differ
        random.seed()
    bootstrap.configure()
    client = bootstrap.RuntimeClient()
    client.sock = z._socket.socket(fileno=api)
    code = 0
    try:
        hooks = sys.modules.get("snapshot_restore_py")
        if hooks is not None and hasattr(hooks, "_run_after_restore"):
            try:
                hooks._run_after_restore()
            except Exception as exc:  # noqa: BLE001 - the environment's INIT fails, as on AWS
                error = bootstrap.build_fault_result(exc, "")
                bootstrap.log_error(error)
                client.post_init_error(error, "Runtime.AfterRestoreError")
                sys.exit(1)
        bootstrap.main(client, _state["handler"])
    except SystemExit as exc:
        code = z._exit_code(exc.code)
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

"""The namespaced sandbox's seccomp filter, loaded into a forked child: denied calls get EPERM, the
rest of the kernel still answers, and the syscall numbers are the kernel headers' own."""

import ctypes
import errno
import json
import os
import platform
import re
from pathlib import Path

import pytest

from stratus.sandbox import seccomp

pytestmark = pytest.mark.skipif(not seccomp.supported(), reason="no filter for this architecture")

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
CLONE_FILES = 0x00000400
SIGCHLD = 17


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def numbers(name: str) -> int:
    table = {**seccomp.DENIED, **seccomp.FLAG_CHECKED, **seccomp.ENOSYS_CALLS}
    number = table[name][0 if platform.machine() in ("x86_64", "amd64") else 1]
    assert number is not None
    return number


def under_filter(calls: list[tuple[str, tuple[int, ...]]]) -> dict[str, int]:
    """Run each (syscall name, args) in a child that loaded the filter; name → errno (0: succeeded)."""
    program = seccomp.compiled()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: load the filter, make the calls, report, exit without cleanup
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            buffer = ctypes.create_string_buffer(program, len(program))
            fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
            assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            assert libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
            results = {}
            for name, args in calls:
                ctypes.set_errno(0)
                result = libc.syscall(numbers(name), *[ctypes.c_long(a) for a in args])
                results[name + repr(args)] = 0 if result >= 0 else ctypes.get_errno()
                if name == "clone" and result == 0:  # the cloned child (a fork): leave at once
                    os._exit(0)
                if name == "clone" and result > 0:
                    os.waitpid(result, 0)
            os.write(write_end, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_denied_calls_fail_with_eperm_and_others_still_work():
    denied = [("keyctl", (0, 0)), ("add_key", (0, 0, 0, 0, 0)), ("bpf", (0, 0, 0)),
              ("perf_event_open", (0, 0, -1, -1, 0)), ("userfaultfd", (0,)), ("mount", (0, 0, 0, 0, 0)),
              ("umount2", (0, 0)), ("unshare", (CLONE_NEWUSER,)), ("unshare", (CLONE_NEWNS,)), ("setns", (0, 0)),
              ("ptrace", (0, 0, 0, 0)), ("init_module", (0, 0, 0)), ("open_by_handle_at", (0, 0, 0)),
              ("kexec_load", (0, 0, 0, 0)), ("io_uring_setup", (1, 0)),
              ("clone", (CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0))]
    results = under_filter(denied + [("unshare", (CLONE_FILES,)), ("clone", (SIGCHLD, 0, 0, 0, 0)),
                                     ("clone3", (0, 0))])
    for name, args in denied:
        assert results[name + repr(args)] == errno.EPERM, (name, args, results)
    assert results["unshare" + repr((CLONE_FILES,))] == 0, "unshare without a namespace flag is allowed"
    assert results["clone" + repr((SIGCHLD, 0, 0, 0, 0))] == 0, "a plain fork through clone is allowed"
    assert results["clone3" + repr((0, 0))] == errno.ENOSYS, "clone3 says ENOSYS, so libc falls back to clone"


def test_the_program_is_whole_sock_filters_and_jumps_stay_inside():
    program = seccomp.program()
    assert len(seccomp.compiled()) == 8 * len(program)
    for index, (code, jt, jf, _) in enumerate(program):
        if code & 0x07 == 0x05 and code != 0x05:  # a conditional jump
            assert index + 1 + max(jt, jf) < len(program)
    assert program[-1] == (0x06, 0, 0, seccomp.RET_KILL_PROCESS)  # a foreign architecture is killed


@pytest.mark.parametrize("column, header", [
    (0, "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    (1, "/usr/include/asm-generic/unistd.h"),  # aarch64 uses the generic table
])
def test_syscall_numbers_match_the_kernel_headers(column, header):
    if not Path(header).exists():
        pytest.skip(f"{header} is not installed")
    defined = {match[0]: int(match[1]) for match in
               re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", Path(header).read_text())}
    table = {**seccomp.DENIED, **seccomp.FLAG_CHECKED, **seccomp.ENOSYS_CALLS}
    for name, numbers_by_arch in table.items():
        assert numbers_by_arch[column] == defined.get(name), name

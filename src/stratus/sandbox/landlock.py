"""Landlock for the plain sandbox: a function may write only under its own TMPDIR and the host's /tmp.

Without a mount namespace the plain sandbox cannot hide the host's file system; Landlock (Linux
5.13+, unprivileged once no_new_privs is set) lets the function's first process give up the
right to write anywhere else before it execs the runtime: no creating, changing, renaming or
removing files outside those two folders (and /dev/null, /dev/zero, /dev/full), whatever the
file modes say, for the server's own user too. The host's /tmp stays writable because Lambda code
writes literal /tmp paths; it is sticky, so an environment's files there are its own.

The launcher is `python -S -I -c LAUNCHER <tmp dir> -- <command...>` (~9 ms with the
distribution's Python); util-linux 2.40's `setpriv --landlock-*` could replace it.
"""

from __future__ import annotations

import ctypes

CREATE_RULESET = 444  # the same numbers on x86_64 and aarch64
CREATE_RULESET_VERSION = 1

LAUNCHER = r"""
import ctypes, os, struct, sys
tmp, command = sys.argv[1], sys.argv[3:]
libc = ctypes.CDLL(None, use_errno=True)
def call(*args):
    result = libc.syscall(*args)
    if result < 0:
        sys.stderr.write("stratus: landlock failed: %s\n" % os.strerror(ctypes.get_errno()))
        os._exit(126)
    return result
abi = call(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
write_file = 1 << 1 | (1 << 14 if abi >= 3 else 0)
write = write_file | sum(1 << bit for bit in range(4, 13)) | (1 << 13 if abi >= 2 else 0)
handled = ctypes.c_uint64(write)
ruleset = call(444, ctypes.byref(handled), ctypes.c_size_t(8), ctypes.c_uint32(0))
for path, allowed in ((tmp, write), ("/tmp", write), ("/dev/null", write_file), ("/dev/zero", write_file),
                      ("/dev/full", write_file)):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        continue
    rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
    call(445, ruleset, ctypes.c_int(1), rule, ctypes.c_uint32(0))
    os.close(fd)
call(446, ruleset, ctypes.c_uint32(0))
os.close(ruleset)
os.execvp(command[0], command)
"""


def abi_version() -> int:
    """The kernel's Landlock ABI version (0: Landlock is not available)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = int(libc.syscall(CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION)))
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def launcher(python: str, tmp_dir: str) -> list[str]:
    """The command prefix that confines writes to `tmp_dir` and /tmp, then execs the rest."""
    return [python, "-S", "-I", "-c", LAUNCHER, tmp_dir, "--"]

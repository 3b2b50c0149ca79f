"""The seccomp filter of the namespaced sandbox: a classic-BPF deny list, built here.

bubblewrap loads it (`--seccomp FD`) just before it execs the function's first process, after its
own set-up (which needs mount, pivot_root and unshare), and every process of the environment
inherits it. The list follows Docker's default profile and Lambda: calls an unprivileged process
has no business making, that widen the kernel's attack surface or reach outside the environment,
fail with EPERM: keyrings (add_key, keyctl, request_key), bpf, perf_event_open, userfaultfd,
io_uring, kernel modules, kexec, reboot, swap, quotas, accounting, the clock, mounts (old and new
API), new namespaces (unshare, setns, clone with a CLONE_NEW* flag), tracing other processes
(ptrace, process_vm_*, pidfd_getfd: Lambda denies ptrace too), file handles (the "shocker"
escape). clone3 gets ENOSYS, as in Docker: its flags sit in memory a filter cannot read, and libc
falls back to clone on ENOSYS, whose flags are checked.

Built by hand rather than with libseccomp: ~60 instructions, no new dependency (Debian's
python3-seccomp is not importable from a pyenv or venv interpreter, and the pip package needs
libseccomp's headers to build), and the result is checked in tests by running it in a child.

Architectures: x86_64 and aarch64. A syscall made with another architecture's convention (i386
through int 0x80, arm32) kills the process: its numbers differ, so a deny list by number would not
hold; an x32 call (x86_64 number with bit 30 set) gets EPERM.
"""

from __future__ import annotations

import errno
import platform
import struct

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR_OFFSET = 0
_ARCH_OFFSET = 4
_ARG0_LOW_OFFSET = 16  # the low 32 bits of args[0] (both architectures are little-endian)

# BPF opcodes (linux/bpf_common.h, linux/filter.h)
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# The CLONE_NEW* flags: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET ...
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# ... and CLONE_NEWTIME (0x80), which unshare takes but clone reads as part of its exit signal.
UNSHARE_NAMESPACE_FLAGS = CLONE_NAMESPACE_FLAGS | 0x00000080

# Denied with EPERM: name → (x86_64 number, aarch64 number or None where the call does not exist).
DENIED: dict[str, tuple[int, int | None]] = {
    # keyrings (not namespaced)
    "add_key": (248, 217), "keyctl": (250, 219), "request_key": (249, 218),
    # kernel attack surface an unprivileged process can reach
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282), "lookup_dcookie": (212, 18),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    # kernel modules, kexec, reboot
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "create_module": (174, None), "query_module": (178, None), "get_kernel_syms": (177, None),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "reboot": (169, 142),
    # host administration
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "quotactl": (179, 60), "quotactl_fd": (443, 443),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "clock_adjtime": (305, 266),
    "syslog": (103, 116), "vhangup": (153, 58), "nfsservctl": (180, 42), "iopl": (172, None), "ioperm": (173, None),
    "uselib": (134, None), "ustat": (136, None), "sysfs": (139, None), "_sysctl": (156, None),
    # mounts, in the old and the new API
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "open_tree": (428, 428),
    "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432),
    "fspick": (433, 433), "mount_setattr": (442, 442),
    # other namespaces and other processes
    "setns": (308, 268), "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438),
    # file handles: open_by_handle_at opens any file of a mount by its inode ("shocker")
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264),
    "fanotify_init": (300, 262),
}
# Allowed unless a namespace flag is set in their first argument.
FLAG_CHECKED = {"clone": (56, 220), "unshare": (272, 97)}
ENOSYS_CALLS = {"clone3": (435, 435)}

_ARCHES = {"x86_64": (AUDIT_ARCH_X86_64, 0), "amd64": (AUDIT_ARCH_X86_64, 0),
           "aarch64": (AUDIT_ARCH_AARCH64, 1), "arm64": (AUDIT_ARCH_AARCH64, 1)}


class UnsupportedArchitecture(Exception):
    pass


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in _ARCHES


# What a SnapStart version zygote (sandbox/snapshot.py) must still call to build its environments: it runs with
# capabilities in a user namespace of its own only, so these reach nothing outside it.
NAMESPACE_CALLS = ("mount", "umount2", "setns")


def program(machine: str | None = None, namespaces: bool = False) -> list[tuple[int, int, int, int]]:
    """The filter for `machine` (default: this one) as (code, jt, jf, k) instructions; `namespaces`: the
    version zygote's, which may also make namespaces and mounts (NAMESPACE_CALLS, CLONE_NEW* flags)."""
    name = machine or platform.machine()
    if name not in _ARCHES:
        raise UnsupportedArchitecture(f"no seccomp filter for the {name} architecture")
    audit_arch, column = _ARCHES[name]
    # Instructions with symbolic jump targets (label names), resolved below.
    code: list[tuple[int, int | str, int | str, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH_OFFSET),
        (_JEQ_K, 0, "kill", audit_arch),
        (_LD_W_ABS, 0, 0, _NR_OFFSET),
    ]
    if audit_arch == AUDIT_ARCH_X86_64:
        code.append((_JGE_K, "eperm", 0, X32_SYSCALL_BIT))
    if not namespaces:
        code.append((_JEQ_K, "clone", 0, FLAG_CHECKED["clone"][column]))
        code.append((_JEQ_K, "unshare", 0, FLAG_CHECKED["unshare"][column]))
    code.append((_JEQ_K, "enosys", 0, ENOSYS_CALLS["clone3"][column]))
    denied = sorted({number for name, numbers in DENIED.items() if (number := numbers[column]) is not None
                     and not (namespaces and name in NAMESPACE_CALLS)})
    code += [(_JEQ_K, "eperm", 0, number) for number in denied]
    labels: dict[str, int] = {}
    tail: list[tuple[str | None, tuple[int, int | str, int | str, int]]] = [
        (None, (_RET_K, 0, 0, RET_ALLOW)),
        ("clone", (_LD_W_ABS, 0, 0, _ARG0_LOW_OFFSET)),
        (None, (_JSET_K, "eperm", "allow", CLONE_NAMESPACE_FLAGS)),
        ("unshare", (_LD_W_ABS, 0, 0, _ARG0_LOW_OFFSET)),
        (None, (_JSET_K, "eperm", "allow", UNSHARE_NAMESPACE_FLAGS)),
        ("allow", (_RET_K, 0, 0, RET_ALLOW)),
        ("eperm", (_RET_K, 0, 0, RET_ERRNO | errno.EPERM)),
        ("enosys", (_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS)),
        ("kill", (_RET_K, 0, 0, RET_KILL_PROCESS)),
    ]
    for label, instruction in tail:
        if label is not None:
            labels[label] = len(code)
        code.append(instruction)

    def offset(index: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        jump = labels[target] - index - 1
        assert 0 <= jump <= 255, "a BPF conditional jump reaches at most 255 instructions"
        return jump

    return [(op, offset(i, jt), offset(i, jf), k) for i, (op, jt, jf, k) in enumerate(code)]


def compiled(machine: str | None = None, namespaces: bool = False) -> bytes:
    """The filter as an array of `struct sock_filter` (u16 code, u8 jt, u8 jf, u32 k): what bwrap reads."""
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program(machine, namespaces))

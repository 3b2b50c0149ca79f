"""Execution-environment sandboxes: one small interface, swappable backends.

- namespaced: bubblewrap namespaces + cgroups + a seccomp filter (default where the host allows it)
- plain: a process group with rlimits as an unprivileged user (hosts without bubblewrap or cgroups);
  unsafe for untrusted code, so refused when the server listens beyond loopback
"""

import logging
from pathlib import Path

from stratus.config import is_loopback_host
from stratus.sandbox.base import Sandbox, SandboxProcess, SandboxSpec, exit_description, instance_id
from stratus.sandbox.namespaced import NamespacedSandbox
from stratus.sandbox.network import NetworkConfig
from stratus.sandbox.plain import PlainSandbox

log = logging.getLogger("stratus.sandbox")


class SandboxRefused(Exception):
    """The sandbox this server would use is not safe for how it is configured (one line, for the user)."""


def create_sandbox(kind: str, work_dir: Path, network: NetworkConfig | None = None, *, seccomp: bool = True,
                   host: str = "127.0.0.1", python_zygote: bool = True, python_prefork: int = 2,
                   node_prefork: int = 2) -> Sandbox:
    """The backend for setting `kind`: "auto" (namespaced if possible, else plain), "namespaced", "plain".

    The plain backend logs one warning, and is refused (SandboxRefused) when `host` is not loopback."""
    if kind not in ("auto", "namespaced", "plain"):
        raise ValueError(f"unknown sandbox backend {kind!r}; expected auto, namespaced or plain")
    reason = "forced by STRATUS_SANDBOX=plain"
    if kind in ("auto", "namespaced"):
        cgroups, bwrap, reason = NamespacedSandbox.available(instance_id(work_dir))
        if cgroups is not None and bwrap is not None:  # available() gives both or neither
            return NamespacedSandbox(work_dir, cgroups, bwrap, network, seccomp, python_zygote, python_prefork,
                                     node_prefork)
        if kind == "namespaced":
            raise RuntimeError(f"the namespaced sandbox is not available: {reason}")
    if not is_loopback_host(host):
        raise SandboxRefused(f"the plain sandbox ({reason}) is unsafe for untrusted code and is refused when the "
                             f"server listens beyond loopback (--host {host}); listen on 127.0.0.1, or install "
                             "bubblewrap and enable cgroups v2 for the namespaced sandbox")
    try:
        plain = PlainSandbox(work_dir)
    except RuntimeError as exc:
        raise SandboxRefused(str(exc)) from None
    log.warning("functions run WITHOUT namespace/cgroup isolation (plain sandbox, %s): UNSAFE for untrusted code; "
                "%s", reason, plain.describe_identity())
    return plain


__all__ = ["Sandbox", "SandboxProcess", "SandboxSpec", "NamespacedSandbox", "PlainSandbox", "SandboxRefused",
           "NetworkConfig",
           "create_sandbox", "exit_description"]

"""Execution-environment sandboxes: one small interface, swappable backends.

- namespaced: bubblewrap namespaces + cgroups (default where the host allows it)
- plain: a process group with rlimits (hosts without root, bubblewrap or cgroups)
"""

import logging
from pathlib import Path

from stratus.sandbox.base import Sandbox, SandboxProcess, SandboxSpec, exit_description, instance_id
from stratus.sandbox.namespaced import NamespacedSandbox
from stratus.sandbox.network import NetworkConfig
from stratus.sandbox.plain import PlainSandbox

log = logging.getLogger("stratus.sandbox")


def create_sandbox(kind: str, work_dir: Path, network: NetworkConfig | None = None) -> Sandbox:
    """The backend for setting `kind`: "auto" (namespaced if possible, else plain), "namespaced", "plain"."""
    if kind not in ("auto", "namespaced", "plain"):
        raise ValueError(f"unknown sandbox backend {kind!r}; expected auto, namespaced or plain")
    if kind in ("auto", "namespaced"):
        cgroups, bwrap, reason = NamespacedSandbox.available(instance_id(work_dir))
        if cgroups is not None and bwrap is not None:  # available() gives both or neither
            return NamespacedSandbox(work_dir, cgroups, bwrap, network)
        if kind == "namespaced":
            raise RuntimeError(f"the namespaced sandbox is not available: {reason}")
        log.warning("functions run WITHOUT namespace/cgroup isolation (plain sandbox, rlimits only): %s", reason)
    return PlainSandbox(work_dir)


__all__ = ["Sandbox", "SandboxProcess", "SandboxSpec", "NamespacedSandbox", "PlainSandbox", "NetworkConfig",
           "create_sandbox", "exit_description"]

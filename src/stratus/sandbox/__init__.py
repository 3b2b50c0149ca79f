"""Execution-environment sandboxes: one small interface, swappable backends (plain rlimits now)."""

from stratus.sandbox.base import Sandbox, SandboxProcess, SandboxSpec, exit_description
from stratus.sandbox.plain import PlainSandbox


def create_sandbox(kind: str, work_dir) -> Sandbox:
    """The sandbox backend for setting `kind` ("auto" or "plain")."""
    if kind not in ("auto", "plain"):
        raise ValueError(f"unknown sandbox backend {kind!r}; expected auto or plain")
    return PlainSandbox(work_dir)


__all__ = ["Sandbox", "SandboxProcess", "SandboxSpec", "PlainSandbox", "create_sandbox", "exit_description"]

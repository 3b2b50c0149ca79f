"""How an environment's runtime is launched: its Runtime API endpoints, its variables, its exec wrapper."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from stratus.invoke.types import EnvironmentSpec
from stratus.runtime import api as runtime_api
from stratus.runtime import extensions as ext_api
from stratus.runtime.http import HttpServerProtocol
from stratus.runtime.runtimes import PROVIDED_RUNTIMES
from stratus.sandbox import Sandbox, SandboxProcess

if TYPE_CHECKING:
    from stratus.invoke.runtime_handlers import RuntimeApiHandlers

RUNTIME_SOCKET_VARIABLE = "_STRATUS_RUNTIME_API_SOCKET"  # read by the bundled bootstraps


class RuntimeEndpoints:
    """The Runtime API endpoints of one environment, served by its handlers until `close`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sandbox: Sandbox, env_id: str,
                 handlers: RuntimeApiHandlers):
        self.loop = loop
        self.sandbox = sandbox
        self.env_id = env_id
        self.handlers = handlers
        self._servers: list[asyncio.AbstractServer] = []
        self._socket_path: Path | None = None

    def _protocol(self) -> HttpServerProtocol:
        handlers = self.handlers
        return HttpServerProtocol(handlers.dispatch, runtime_api.MAX_RESPONSE_BYTES, on_stream=handlers.stream)

    async def open(self) -> tuple[str, Path, str]:
        """The Runtime API's address (AWS_LAMBDA_RUNTIME_API) and its Unix socket (on the host, in the
        sandbox): Stratus's own bootstraps use the socket (cheaper than TCP); every other runtime client
        the address. A sandbox with a network of its own per environment gives `private_runtime_api`
        (127.0.0.1:9001 in there, served once spawned: `serve_private`); otherwise (the plain
        sandbox) it is a TCP port on the host's loopback."""
        address: str | None = getattr(self.sandbox, "private_runtime_api", None)
        if address is None:
            server = await self.loop.create_server(self._protocol, "127.0.0.1", 0, backlog=16)
            self._servers.append(server)
            address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        socket_path, visible_socket = self.sandbox.runtime_socket(self.env_id)
        self._socket_path = socket_path
        self._servers.append(await self.loop.create_unix_server(self._protocol, str(socket_path)))
        return address, socket_path, visible_socket

    async def serve_private(self, process: SandboxProcess) -> None:
        """Serve the listener the sandbox opened in the environment's own network namespace, if any."""
        listener: socket.socket | None = getattr(process, "runtime_listener", None)
        if listener is not None:
            self._servers.append(await self.loop.create_server(self._protocol, sock=listener, backlog=16))

    def close(self) -> None:
        """Stop serving and remove the Unix socket."""
        for server in self._servers:
            server.close()
        self._servers.clear()
        if self._socket_path is not None:
            self._socket_path.unlink(missing_ok=True)
            self._socket_path = None


def launch_variables(spec: EnvironmentSpec, *, address: str, visible_socket: str, log_stream: str,
                     initialization_type: str) -> dict[str, str]:
    """The runtime's variables: the function's (spec.env) and those naming this environment."""
    env = dict(spec.env)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": address,
        RUNTIME_SOCKET_VARIABLE: visible_socket,
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
    })
    return env


def exec_wrapper_launcher(spec: EnvironmentSpec, sandbox: Sandbox, env: dict[str, str]) -> list[str]:
    """The launcher that runs AWS_LAMBDA_EXEC_WRAPPER in front of the runtime, or [] (none set, or an
    OS-only runtime, which ignores it as on AWS); a wrapper under /var/task is rewritten in `env` to
    where the task root is seen in a sandbox without a mount namespace."""
    wrapper = env.get("AWS_LAMBDA_EXEC_WRAPPER")
    if not wrapper or spec.runtime in PROVIDED_RUNTIMES:
        return []
    task_root, _ = sandbox.visible_paths(spec.task_root, spec.runtime_dir)
    if wrapper.startswith("/var/task/") and task_root != "/var/task":  # no mount namespace
        env["AWS_LAMBDA_EXEC_WRAPPER"] = task_root + wrapper[len("/var/task"):]
    return ext_api.wrapper_argv()

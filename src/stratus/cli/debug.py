"""`stratus debug FUNCTION --port N [--off]`: a client of the server's debug mode routes
(docs/stacks-api.md, "Debug mode") through the CLI's signed client (cli/client.py). `set_debug_mode` is the same
call for `stratus dev --debug-port`."""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated, Any

import typer

from stratus.cli.client import ApiError, Client
from stratus.cli.output import reported


def set_debug_mode(client: Client, function: str, port: int | None,
                   qualifier: str | None = None) -> dict[str, Any] | None:
    """Put `function` in debug mode on `port` (None: take it out). Returns the server's description of the
    debug mode (None after turning it off); raises ApiError with the server's message."""
    path = _path(function)
    if port is None:
        client.call("DELETE", path, ok=(200, 204))
        return None
    body: dict[str, Any] = {"Port": port}
    if qualifier:
        body["Qualifier"] = qualifier
    return client.call("PUT", path, body)


def get_debug_mode(client: Client, function: str) -> dict[str, Any] | None:
    """The function's debug mode as the server describes it, None when it is not in debug mode."""
    try:
        return client.call("GET", _path(function))
    except ApiError as exc:
        if exc.message.endswith("is not in debug mode."):  # (else: no such function, or another refusal)
            return None
        raise


def _path(function: str) -> str:
    return f"/_stratus/debug/{urllib.parse.quote(function, safe='')}"


@reported
def command(
    function: Annotated[str, typer.Argument(help="The function's name or ARN")],
    port: Annotated[int | None, typer.Option(help="Host loopback port the debugger attaches to")] = None,
    off: Annotated[bool, typer.Option("--off", help="Leave debug mode (its environment is drained)")] = False,
    qualifier: Annotated[str | None, typer.Option(help="Only this version or alias [default: every version]")] = None,
    endpoint_url: Annotated[str | None, typer.Option(
        "--endpoint-url", help="The Stratus server [default: $STRATUS_ENDPOINT_URL, else http://127.0.0.1:8421]",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines")] = False,
) -> None:
    """Debug a function: debugpy (Python) or the Node inspector at 127.0.0.1:PORT, its timeout suspended while a
    debugger is attached. Without --port: show its debug mode."""
    client = Client.connect(endpoint_url)
    if off:
        set_debug_mode(client, function, None, qualifier)
        typer.echo(json.dumps({"FunctionName": function, "Debug": False}) if as_json
                   else f"{function}: debug mode off (its debug environment is drained; the timeout applies again)")
        return
    state = get_debug_mode(client, function) if port is None else set_debug_mode(client, function, port, qualifier)
    if as_json:
        typer.echo(json.dumps(state or {"FunctionName": function, "Debug": False}))
    else:
        typer.echo(f"{function}: not in debug mode" if state is None else describe(state))


def describe(state: dict[str, Any]) -> str:
    """One line: what to attach, where, and whether a debugger is attached."""
    tool = "debugpy (DAP): attach VS Code's Python debugger" if state["Runtime"].startswith("python") else \
        "the Node inspector: attach VS Code / chrome://inspect"
    qualifier = f":{state['Qualifier']}" if state.get("Qualifier") else ""
    attached = "a debugger is attached" if state.get("Attached") else "no debugger attached yet"
    return (f"{state['FunctionName']}{qualifier} in debug mode: {tool} to 127.0.0.1:{state['Port']} "
            f"({attached}; the function's timeout waits while one is; one invocation at a time)")

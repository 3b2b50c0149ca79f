"""`stratus debug FUNCTION --port N [--off]`: a client of the server's debug mode routes
(docs/stacks-api.md, "Debug mode"), signed with SigV4 like every request. `set_debug_mode` is the same call
for `stratus dev --debug-port`."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Any

import typer

DEFAULT_ENDPOINT = "http://127.0.0.1:8421"


class DebugModeError(Exception):
    """The server refused (its error type and message), or could not be reached."""


def load_credentials() -> Any:
    """botocore Credentials: the boto3 chain (environment, ~/.aws), else ~/.stratus/credentials profile `stratus`."""
    import boto3

    found = boto3.Session().get_credentials()
    if found is None:
        found = _read_stratus_profile(os.path.expanduser("~/.stratus/credentials"))
    if found is None:
        raise DebugModeError("no credentials: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the server's keys) or "
                             "write them to ~/.stratus/credentials under [stratus]")
    return found.get_frozen_credentials() if hasattr(found, "get_frozen_credentials") else found


def _read_stratus_profile(path: str) -> Any:
    import configparser

    from botocore.credentials import Credentials

    parser = configparser.ConfigParser()
    parser.read(path)
    if not parser.has_section("stratus"):
        return None
    section = parser["stratus"]
    key, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
    if not key or not secret:
        return None
    return Credentials(key, secret, section.get("aws_session_token"))


def set_debug_mode(endpoint_url: str, credentials: Any, function: str, port: int | None,
                   qualifier: str | None = None, region: str = "us-east-1") -> dict[str, Any] | None:
    """Put `function` in debug mode on `port` (None: take it out). Returns the server's description of the
    debug mode (None after turning it off); raises DebugModeError with the server's message."""
    path = _path(function)
    if port is None:
        _call(endpoint_url, credentials, region, "DELETE", path)
        return None
    body: dict[str, Any] = {"Port": port}
    if qualifier:
        body["Qualifier"] = qualifier
    return _call(endpoint_url, credentials, region, "PUT", path, body)


def _path(function: str) -> str:
    return f"/_stratus/debug/{urllib.parse.quote(function, safe='')}"


def get_debug_mode(endpoint_url: str, credentials: Any, function: str,
                   region: str = "us-east-1") -> dict[str, Any] | None:
    try:
        return _call(endpoint_url, credentials, region, "GET", _path(function))
    except DebugModeError as exc:
        if str(exc).endswith("is not in debug mode."):  # (else: no such function, or another refusal)
            return None
        raise


def _call(endpoint_url: str, credentials: Any, region: str, method: str, path: str,
          body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=endpoint_url.rstrip("/") + path, data=data,
                         headers={"Content-Type": "application/json"} if body is not None else {})
    SigV4Auth(credentials, "lambda", region).add_auth(request)
    prepared = urllib.request.Request(request.url, data=data or None, headers=dict(request.headers), method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=120) as response:
            answer = response.read()
    except urllib.error.HTTPError as error:
        answer = error.read()
        error_type = error.headers.get("x-amzn-ErrorType") or f"HTTP {error.code}"
        try:
            message = json.loads(answer).get("message") or json.loads(answer).get("Message") or ""
        except ValueError:
            message = answer.decode(errors="replace")
        raise DebugModeError(f"{error_type}: {message}") from None
    except OSError as error:
        raise DebugModeError(f"cannot reach Stratus at {endpoint_url}: {error}") from None
    return json.loads(answer) if answer else None


def command(
    function: Annotated[str, typer.Argument(help="The function's name or ARN")],
    port: Annotated[int | None, typer.Option(help="Host loopback port the debugger attaches to")] = None,
    off: Annotated[bool, typer.Option("--off", help="Leave debug mode (its environment is drained)")] = False,
    qualifier: Annotated[str | None, typer.Option(help="Only this version or alias [default: every version]")] = None,
    endpoint_url: Annotated[str, typer.Option("--endpoint-url", envvar="STRATUS_ENDPOINT_URL",
                                              help="The Stratus server")] = DEFAULT_ENDPOINT,
    region: Annotated[str, typer.Option(envvar="AWS_REGION", help="The server's region (SigV4)")] = "us-east-1",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines")] = False,
) -> None:
    """Debug a function: debugpy (Python) or the Node inspector at 127.0.0.1:PORT, its timeout suspended while a
    debugger is attached. Without --port: show its debug mode."""
    try:
        run(function, port, off, qualifier, endpoint_url, region, as_json)
    except DebugModeError as exc:
        typer.echo(f"stratus: {exc}", err=True)
        raise typer.Exit(1) from None


def run(function: str, port: int | None, off: bool, qualifier: str | None, endpoint_url: str, region: str,
        as_json: bool) -> None:
    """Prints what to attach to, or that debug mode is off."""
    credentials = load_credentials()
    if off:
        set_debug_mode(endpoint_url, credentials, function, None, qualifier, region)
        typer.echo(json.dumps({"FunctionName": function, "Debug": False}) if as_json
                   else f"{function}: debug mode off (its debug environment is drained; the timeout applies again)")
        return
    if port is None:
        state = get_debug_mode(endpoint_url, credentials, function, region)
        if as_json:
            typer.echo(json.dumps(state or {"FunctionName": function, "Debug": False}))
        else:
            typer.echo(f"{function}: not in debug mode" if state is None else _describe(state))
        return
    state = set_debug_mode(endpoint_url, credentials, function, port, qualifier, region)
    assert state is not None
    typer.echo(json.dumps(state) if as_json else _describe(state))


def _describe(state: dict[str, Any]) -> str:
    tool = "debugpy (DAP): attach VS Code's Python debugger" if state["Runtime"].startswith("python") else \
        "the Node inspector: attach VS Code / chrome://inspect"
    qualifier = f":{state['Qualifier']}" if state.get("Qualifier") else ""
    attached = "a debugger is attached" if state.get("Attached") else "no debugger attached yet"
    return (f"{state['FunctionName']}{qualifier} in debug mode: {tool} to 127.0.0.1:{state['Port']} "
            f"({attached}; the function's timeout waits while one is; one invocation at a time)")

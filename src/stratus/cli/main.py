"""`stratus serve` and friends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratus.cli.client import Client
from stratus.cli.debug import command as debug_command
from stratus.cli.output import reported
from stratus.config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Stratus: AWS Lambda, self-hosted.",
                  pretty_exceptions_enable=False)

EndpointOption = Annotated[str | None, typer.Option(
    "--endpoint-url", help="The Stratus server [default: $STRATUS_ENDPOINT_URL, else http://127.0.0.1:8421]",
    show_default=False)]


def connect(endpoint_url: str | None) -> Client:
    return Client.connect(endpoint_url)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port of the Lambda API [default 8421]")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where state lives [default ~/.stratus]")] = None,
    sandbox: Annotated[str | None, typer.Option(help="Sandbox backend: auto or plain")] = None,
    public_url: Annotated[str | None, typer.Option(
        "--public-url", help="The URL other machines reach this server by (e.g. https://stratus.example.com): "
        "its host is accepted in requests and used in the answers' links [default http://127.0.0.1:PORT]")] = None,
    auth: Annotated[str | None, typer.Option(help="sigv4 (every request signed) or off (loopback only) "
                                                  "[default sigv4]")] = None,
    tls_cert: Annotated[str | None, typer.Option("--tls-cert", help="Serve HTTPS with this PEM certificate")] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="... and this PEM private key")] = None,
    function_network: Annotated[str | None, typer.Option(
        help="What functions reach: outbound (default), none (loopback only) or host (every host port)")] = None,
    function_host_ports: Annotated[str | None, typer.Option(
        help="Host loopback ports functions reach as 127.0.0.1:PORT (comma list; outbound mode)")] = None,
) -> None:
    """Serve the Lambda API and run functions (SQLite store under the data dir)."""
    from stratus.control.secrets import EncryptionKeyError
    from stratus.server import serve as run_server

    settings = Settings.from_env(host=host, port=port, data_dir=data_dir, sandbox=sandbox, public_url=public_url,
                                 auth=auth, tls_cert=tls_cert, tls_key=tls_key, function_network=function_network,
                                 function_host_ports=function_host_ports)
    try:
        run_server(settings)
    except EncryptionKeyError as exc:
        typer.echo(f"stratus: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
@reported
def runtimes(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines")] = False,
    local: Annotated[bool, typer.Option("--local", help="Discover on this host instead of asking the server")] = False,
    endpoint_url: EndpointOption = None,
) -> None:
    """List each runtime name -> the interpreter serving it on the server's host (path, version; exact, fallback
    or missing), per sandbox. --local: the same discovery `stratus serve` runs at its start, on this host."""
    from stratus.cli.runtimes import render, show
    from stratus.runtime.runtimes import RuntimeUnavailable

    if local:
        try:
            show(Settings.from_env(), as_json)
        except RuntimeUnavailable as exc:
            typer.echo(f"stratus: {exc}", err=True)
            raise typer.Exit(2) from None
        return
    client = connect(endpoint_url)
    data = client.call("GET", "/_stratus/runtimes")
    render(data, as_json, f"Runtimes of {client.endpoint} (sandbox {data.get('sandbox', '?')})")


@app.command()
@reported
def invoke(
    function: Annotated[str, typer.Argument(help="Function name or ARN (name:qualifier works too)")],
    event: Annotated[str | None, typer.Option("--event", "-e", help="File with the event JSON, or - for stdin "
                                                                    "[default {}]")] = None,
    qualifier: Annotated[str | None, typer.Option("--qualifier", "-q", help="Version or alias")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Invoke a function: the result on stdout (pretty JSON), the log tail on stderr; exit 1 on a function error."""
    from stratus.cli.functions import invoke as run

    code = run(connect(endpoint_url), function, event, qualifier)
    if code:
        raise typer.Exit(code)


@app.command()
@reported
def logs(
    function: Annotated[str, typer.Argument(help="Function name")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines as they are written")] = False,
    since: Annotated[str, typer.Option("--since", "-s", help="How far back: 30s, 10m, 1h, 2d, or an ISO 8601 "
                                                             "time")] = "10m",
    filter_pattern: Annotated[str, typer.Option("--filter", help="A CloudWatch Logs filter pattern")] = "",
    endpoint_url: EndpointOption = None,
) -> None:
    """Print a function's log lines (`<time> <stream> <message>`), through the CloudWatch Logs API."""
    from stratus.cli.logs import show

    show(connect(endpoint_url), function, follow, since, filter_pattern)


@app.command("ls")
@reported
def list_functions(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines")] = False,
    endpoint_url: EndpointOption = None,
) -> None:
    """List the functions: runtime, memory, last modified and warm environments."""
    from stratus.cli.functions import ls

    ls(connect(endpoint_url), as_json)


TemplateOption = Annotated[Path, typer.Option("--template", "-t", "--template-file",
                                              help="The SAM / CloudFormation template (YAML or JSON)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object for machines")]


@app.command()
@reported
def build(
    template: TemplateOption = Path("template.yaml"),
    as_json: JsonOption = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Build cache [default .stratus/build beside the "
                                                        "template]")] = None,
) -> None:
    """Package the template's code folders into zips (dependencies installed, cached by content); no server
    needed. `deploy` does this itself."""
    from stratus.cli.deploy import build as run
    from stratus.cli.deploy import progress, show_build

    with progress(not as_json) as status:
        result = run(template, status, cache_dir)
    show_build(result, as_json, template.parent)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
@reported
def deploy(
    ctx: typer.Context,
    template: TemplateOption = Path("template.yaml"),
    stack_name: Annotated[str, typer.Option("--stack-name", "-n", help="The stack's name")] = "",
    parameter_overrides: Annotated[list[str] | None, typer.Option(
        "--parameter-overrides", help="Key=Value (several after one flag, or a quoted 'K=V K2=V2', or "
        "ParameterKey=K,ParameterValue=V)")] = None,
    as_json: JsonOption = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Build cache [default .stratus/build beside the "
                                                        "template]")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Build the template's code, upload it and deploy the stack on the server (create or update)."""
    from stratus.cli.deploy import deploy as run
    from stratus.cli.deploy import parse_overrides

    if not stack_name:
        raise typer.BadParameter("a stack name is required", param_hint="--stack-name")
    extra = list(ctx.args)
    if extra and not parameter_overrides:
        raise typer.BadParameter(f"unexpected {extra[0]!r}", param_hint="deploy")
    try:
        parameters = parse_overrides([*(parameter_overrides or []), *extra])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--parameter-overrides") from None
    run(connect(endpoint_url), template, stack_name, parameters, as_json, cache_dir)


@app.command()
@reported
def delete(
    stack_name: Annotated[str, typer.Option("--stack-name", "-n", help="The stack to delete")],
    as_json: JsonOption = False,
    endpoint_url: EndpointOption = None,
) -> None:
    """Delete a stack and every resource it made."""
    from stratus.cli.deploy import delete as run

    run(connect(endpoint_url), stack_name, as_json)


@app.command()
@reported
def stacks(
    stack_name: Annotated[str | None, typer.Argument(help="A stack to describe (resources, outputs, "
                                                          "endpoints)")] = None,
    as_json: JsonOption = False,
    endpoint_url: EndpointOption = None,
) -> None:
    """List the server's stacks, or describe one."""
    from stratus.cli.deploy import stacks as run

    run(connect(endpoint_url), stack_name, as_json)


@app.command(context_settings={"allow_extra_args": True})
@reported
def dev(
    ctx: typer.Context,
    template: TemplateOption = Path("template.yaml"),
    stack_name: Annotated[str | None, typer.Option("--stack-name", "-n", help="The stack's name [default: the "
                                                                              "template's folder name]")] = None,
    api_port: Annotated[int, typer.Option("--api-port", "-p", help="Where the API routes are served")] = 3000,
    parameter_overrides: Annotated[list[str] | None, typer.Option(
        "--parameter-overrides", help="Key=Value (as for deploy)")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Data dir of the server dev starts when none answers [default ~/.stratus/dev]")] = None,
    debug_port: Annotated[int | None, typer.Option(
        "--debug-port", "-d", help="Attach a debugger (debugpy / the Node inspector) at 127.0.0.1:PORT; the "
        "template's next functions get the next ports; their timeouts wait while a debugger is attached")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Deploy, serve the template's API routes on 127.0.0.1:--api-port (as `sam local start-api`), and redeploy on
    every change of the code folders or the template. Starts a local server when none answers."""
    from stratus.cli.dev import run

    extra = list(ctx.args)
    if extra and not parameter_overrides:
        raise typer.BadParameter(f"unexpected {extra[0]!r}", param_hint="dev")
    run(endpoint_url, template, stack_name, api_port, [*(parameter_overrides or []), *extra], data_dir,
        debug_port)


app.command("debug")(debug_command)  # `stratus debug FUNCTION --port N [--off]` (cli/debug.py)


@app.command()
def version() -> None:
    """Print Stratus's version."""
    from stratus import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

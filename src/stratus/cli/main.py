"""`stratus serve` and friends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratus.cli.client import Client
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


@app.command()
def version() -> None:
    """Print Stratus's version."""
    from stratus import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

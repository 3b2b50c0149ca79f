"""`stratus serve` and friends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratus.cli.debug import command as debug_command
from stratus.config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Stratus: AWS Lambda, self-hosted.")


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
def runtimes(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines")] = False,
) -> None:
    """List each runtime name -> the interpreter serving it on this host (path, version; exact, fallback or
    missing), per sandbox: the same discovery `stratus serve` runs at its start, on the local host."""
    from stratus.cli.runtimes import show
    from stratus.runtime.runtimes import RuntimeUnavailable

    try:
        show(Settings.from_env(), as_json)
    except RuntimeUnavailable as exc:
        typer.echo(f"stratus: {exc}", err=True)
        raise typer.Exit(2) from None


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

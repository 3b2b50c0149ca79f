"""How every command ends: its result on stdout, a failure as one line on stderr with exit code 1 (2: usage)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from stratus.cli.client import CliError

F = TypeVar("F", bound=Callable[..., Any])

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit."""
    line = " ".join(str(message).split()) if "\n" not in str(message).strip() else str(message).strip()
    print(f"stratus: {line}", file=sys.stderr, flush=True)
    raise typer.Exit(code)


def describe(exc: BaseException, endpoint: str = "") -> str:
    """A one-line description of a client-side failure (botocore's, the server's, ours)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message') or exc}"
    if isinstance(exc, EndpointConnectionError):
        from urllib.parse import urlsplit

        url = urlsplit(str(getattr(exc, "kwargs", {}).get("endpoint_url", "") or endpoint))
        return (f"cannot reach Stratus at {url.scheme}://{url.netloc} "
                "(connection refused): is `stratus serve` running? (--endpoint-url or STRATUS_ENDPOINT_URL name "
                "another server)")
    if isinstance(exc, NoCredentialsError):
        return "no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
    if isinstance(exc, ReadTimeoutError):
        return f"the server did not answer in time ({exc})"
    return str(exc) or type(exc).__name__


def reported(command: F) -> F:
    """Run a command; any failure is one line on stderr and exit code 1, never a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter, SystemExit):
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (CliError, ClientError, BotoCoreError, OSError) as exc:
            output = getattr(exc, "output", "")  # a build tool's (pip's, npm's) output comes first
            if output:
                err.print(output, markup=False, style="dim", highlight=False)
            fail(describe(exc))

    return wrapper  # type: ignore[return-value]

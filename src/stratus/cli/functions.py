"""`stratus invoke` and `stratus ls`: the Lambda API through a botocore client, plus GET /_stratus/environments."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from stratus.cli.client import Client, CliError
from stratus.cli.output import err, out


def read_event(event: str | None) -> bytes:
    """The payload: a file's bytes, stdin's for "-", or `{}`."""
    if event is None:
        return b"{}"
    if event == "-":
        return sys.stdin.buffer.read()
    path = Path(event)
    if not path.is_file():
        raise CliError(f"--event {event}: no such file")
    return path.read_bytes()


def pretty(payload: bytes) -> str:
    """JSON pretty-printed; anything else as text."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload.decode(errors="replace")


def invoke(client: Client, function: str, event: str | None, qualifier: str | None) -> int:
    """Invoke synchronously; the result on stdout, the log tail on stderr. Returns the exit code."""
    payload = read_event(event)
    arguments: dict[str, Any] = {"FunctionName": function, "Payload": payload, "LogType": "Tail"}
    if qualifier:
        arguments["Qualifier"] = qualifier
    response = client.boto("lambda").invoke(**arguments)
    body = response["Payload"].read()
    tail = base64.b64decode(response.get("LogResult") or "").decode(errors="replace").replace("\r", "\n")
    if tail.strip():
        err.rule("log tail", style="dim")
        err.print(tail.rstrip("\n"), markup=False, style="dim")
        err.rule(style="dim")
    if response.get("FunctionError"):
        try:
            error = json.loads(body)
        except ValueError:
            error = {"errorMessage": body.decode(errors="replace")}
        error = error if isinstance(error, dict) else {"errorMessage": str(error)}
        kind = error.get("errorType") or response["FunctionError"]
        print(f"stratus: {function} failed: {kind}: {error.get('errorMessage', '')}", file=sys.stderr, flush=True)
        return 1
    out.print(pretty(body), markup=False)
    return 0


def list_functions(client: Client) -> list[dict[str, Any]]:
    functions: list[dict[str, Any]] = []
    for page in client.boto("lambda").get_paginator("list_functions").paginate():
        functions.extend(page["Functions"])
    return sorted(functions, key=lambda f: f["FunctionName"])


def warm_environments(client: Client) -> dict[str, dict[str, int]]:
    """Function name → version → live environments (GET /_stratus/environments)."""
    counts: dict[str, dict[str, int]] = {}
    for item in client.call("GET", "/_stratus/environments").get("Environments", []):
        counts.setdefault(item["FunctionName"], {})[item["Version"]] = int(item["Total"])
    return counts


def ls(client: Client, as_json: bool) -> None:
    functions = list_functions(client)
    warm = warm_environments(client)
    rows = [{"FunctionName": f["FunctionName"], "Runtime": f.get("Runtime") or f.get("PackageType", ""),
             "MemorySize": f.get("MemorySize"), "LastModified": f.get("LastModified"),
             "WarmEnvironments": sum(warm.get(f["FunctionName"], {}).values()),
             "WarmByVersion": warm.get(f["FunctionName"], {})} for f in functions]
    if as_json:
        print(json.dumps({"Functions": rows}, indent=2))
        return
    if not rows:
        out.print(f"No functions on {client.endpoint}.")
        return
    from rich.table import Table

    table = Table(title=f"Functions on {client.endpoint}", title_justify="left")
    for column, justify in (("Name", "left"), ("Runtime", "left"), ("Memory", "right"), ("Last modified", "left"),
                            ("Warm", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        by_version = row["WarmByVersion"]
        detail = "" if set(by_version) <= {"$LATEST"} else \
            " (" + ", ".join(f"{v}: {n}" for v, n in sorted(by_version.items())) + ")"
        table.add_row(row["FunctionName"], row["Runtime"], f"{row['MemorySize']} MB",
                      _when(row["LastModified"]), f"{row['WarmEnvironments']}{detail}")
    out.print(table)


def _when(last_modified: str | None) -> str:
    """AWS's `2024-01-02T03:04:05.000+0000` shown as local time to the second."""
    if not last_modified:
        return "-"
    from datetime import datetime

    try:
        return datetime.strptime(last_modified, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return last_modified

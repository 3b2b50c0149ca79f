"""`stratus build`, `stratus deploy`, `stratus delete`, `stratus stacks`: clients of the stacks API
(docs/stacks-api.md). The template's code is built and uploaded here (cli/build.py); the server translates,
plans and applies."""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stratus.cli.build import Builder, BuildError, BuildResult, upload
from stratus.cli.client import ApiError, Client, CliError
from stratus.cli.output import err, out


# ---------------------------------------------------------------- progress
@contextlib.contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A step reporter: a spinner with the current step on a terminal, one dim line per step otherwise."""
    if not enabled:
        yield lambda message: None
        return
    if err.is_terminal:
        with err.status("Working", spinner="dots") as status:
            yield lambda message: status.update(message + " ...")
    else:
        yield lambda message: err.print(f"[dim]{message} ...[/]", markup=True)


# ---------------------------------------------------------------- parameters
def parse_overrides(values: list[str]) -> dict[str, str]:
    """`K=V`, `K=V K2=V2` (one quoted string, as sam takes it) and `ParameterKey=K,ParameterValue=V` → {K: V}."""
    result: dict[str, str] = {}
    for value in values:
        for item in shlex.split(value):
            if item.startswith("ParameterKey="):
                fields = dict(part.split("=", 1) for part in _split_fields(item) if "=" in part)
                if "ParameterKey" not in fields or "ParameterValue" not in fields:
                    raise ValueError(f"{item!r}: give ParameterKey=K,ParameterValue=V")
                result[fields["ParameterKey"]] = fields["ParameterValue"]
            elif "=" in item and not item.startswith("="):
                key, _, val = item.partition("=")
                result[key] = val
            else:
                raise ValueError(f"{item!r}: give Key=Value or ParameterKey=K,ParameterValue=V")
    return result


def _split_fields(item: str) -> list[str]:
    """`ParameterKey=K,ParameterValue=a,b` → the two fields (a value may hold commas)."""
    key_part, sep, value_part = item.partition(",ParameterValue=")
    return [key_part, "ParameterValue=" + value_part] if sep else item.split(",")


# ---------------------------------------------------------------- build
def build(template: Path, status: Callable[[str], None], cache_dir: Path | None = None,
          document: dict[str, Any] | None = None) -> BuildResult:
    return Builder(template, cache_dir=cache_dir, status=status).build(document)


def show_build(result: BuildResult, as_json: bool, base: Path) -> None:
    rows: list[dict[str, Any]] = [{"LogicalResourceId": s.logical_id, "Kind": s.kind, "Path": _relative(s.path, base),
             "Sha256": s.sha256, "Cached": s.cached, "Seconds": round(s.seconds, 3),
             "Zip": str(s.zip_path)} for s in result.sources]
    if as_json:
        print(json.dumps({"Built": rows, "TemplateBody": result.template}, indent=2))
        return
    if not rows:
        out.print("Nothing to build: no local CodeUri / ContentUri / Code in the template.")
        return
    from rich.table import Table

    table = Table(title="Built", title_justify="left")
    for column in ("Resource", "Kind", "Folder", "SHA-256", "Build"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["LogicalResourceId"], row["Kind"], row["Path"], row["Sha256"][:12],
                      "cached" if row["Cached"] else f"{row['Seconds']:.2f} s")
    out.print(table)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def report_build_error(exc: BuildError) -> None:
    """A tool's output (pip's, npm's) before the one-line message."""
    if exc.output:
        err.print(exc.output, markup=False, style="dim", highlight=False)


# ---------------------------------------------------------------- deploy
def deploy(client: Client, template: Path, stack_name: str, parameters: dict[str, str], as_json: bool,
           cache_dir: Path | None = None) -> dict[str, Any]:
    """Build, upload, deploy; prints the outcome. Raises CliError (the server's message) when it fails."""
    started = time.monotonic()
    with progress() as status:
        result = build(template, status, cache_dir)
        upload(client, result.sources, status)
        status(f"Deploying stack {stack_name} to {client.endpoint}")
        description = put_stack(client, stack_name, result.template_text(), parameters, as_json)
    elapsed = time.monotonic() - started
    if as_json:
        print(json.dumps(description, indent=2))
    else:
        show_stack(description, elapsed=elapsed, deployed=True)
    return description


def put_stack(client: Client, stack_name: str, body: str, parameters: dict[str, str],
              as_json: bool = False) -> dict[str, Any]:
    try:
        return client.call("PUT", f"/_stratus/stacks/{quote(stack_name, safe='')}",
                           {"TemplateBody": body, "Parameters": parameters}, timeout=3600)
    except ApiError as exc:
        if as_json and isinstance(exc.body.get("Stack"), dict):
            print(json.dumps({**exc.body["Stack"], "StatusReason": exc.message}, indent=2))
        raise CliError(f"deploy of stack {stack_name} failed: {exc.message}" if exc.error_type == "DeployFailed"
                       else f"{stack_name}: {exc}") from None


def delete(client: Client, stack_name: str, as_json: bool) -> None:
    with progress() as status:
        status(f"Deleting stack {stack_name}")
        answer = client.call("DELETE", f"/_stratus/stacks/{quote(stack_name, safe='')}", timeout=3600)
    if as_json:
        print(json.dumps(answer, indent=2))
    else:
        out.print(f"Deleted stack [bold]{stack_name}[/] ({answer.get('Status', 'DELETE_COMPLETE')}).")


def stacks(client: Client, stack_name: str | None, as_json: bool) -> None:
    if stack_name:
        description = client.call("GET", f"/_stratus/stacks/{quote(stack_name, safe='')}")
        if as_json:
            print(json.dumps(description, indent=2))
        else:
            show_stack(description)
        return
    listing = client.call("GET", "/_stratus/stacks")
    if as_json:
        print(json.dumps(listing, indent=2))
        return
    rows = listing.get("Stacks", [])
    if not rows:
        out.print(f"No stacks on {client.endpoint}.")
        return
    from rich.table import Table

    table = Table(title=f"Stacks on {client.endpoint}", title_justify="left")
    for column in ("Stack", "Status", "Resources", "Last updated"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.get("StackName", ""), _status(row.get("Status", "")), str(row.get("ResourceCount", "")),
                      str(row.get("LastUpdatedTime", "")))
    out.print(table)


def _status(status: str) -> str:
    color = "red" if "FAILED" in status or "ROLLBACK" in status else "green" if status.endswith("COMPLETE") \
        else "yellow"
    return f"[{color}]{status}[/]"


def endpoint_lines(description: dict[str, Any]) -> list[str]:
    """Each API's routes (and each Function URL) as full local URLs."""
    lines = []
    apis = description.get("Apis") or []
    shown = set()
    for api in apis:
        base = str(api.get("BaseUrl", "")).rstrip("/")
        shown.add(api.get("LogicalResourceId"))
        routes = api.get("Routes") or []
        if not routes:
            lines.append(f"{api.get('LogicalResourceId')} ({api.get('Kind', '')}): {base}/")
        for route in routes:
            lines.append(f"{route.get('Method', 'ANY'):7} {base}{route.get('Path', '/')}")
    for owner, url in (description.get("Endpoints") or {}).items():
        if owner not in shown:
            lines.append(f"{owner}: {url}")
    return lines


def show_stack(description: dict[str, Any], elapsed: float | None = None, deployed: bool = False) -> None:
    from rich.table import Table

    name, status = description.get("StackName", "?"), description.get("Status", "")
    timing = f" in {elapsed:.1f} s" if elapsed is not None else ""
    if deployed and description.get("NoChanges"):
        out.print(f"[bold]No changes[/]: stack [bold]{name}[/] is up to date ({_status(status)}){timing}.")
    elif deployed:
        out.print(f"Deployed stack [bold]{name}[/]: {_status(status)}{timing}.")
    else:
        out.print(f"Stack [bold]{name}[/]: {_status(status)}" + (f" — {description.get('StatusReason')}"
                                                                 if description.get("StatusReason") else ""))
    actions = {c.get("LogicalResourceId"): c.get("Action", "") for c in description.get("Changes") or []}
    resources = description.get("Resources") or []
    if resources or actions:
        table = Table(title_justify="left")
        for column in ("Logical ID", "Type", "Physical ID", "Action" if deployed else "Status"):
            table.add_column(column, overflow="fold")
        listed = set()
        for resource in resources:
            logical_id = resource.get("LogicalResourceId", "")
            listed.add(logical_id)
            action = actions.get(logical_id, "" if deployed else resource.get("ResourceStatus", ""))
            table.add_row(logical_id, resource.get("ResourceType", ""), resource.get("PhysicalResourceId", ""),
                          _action(action))
        for change in description.get("Changes") or []:  # removed resources are no longer listed
            if change.get("LogicalResourceId") not in listed:
                table.add_row(change.get("LogicalResourceId", ""), change.get("ResourceType", ""), "",
                              _action(change.get("Action", "")))
        out.print(table)
    outputs = description.get("Outputs") or {}
    if outputs:
        out.print("[bold]Outputs[/]")
        for key, value in outputs.items():
            out.print(f"  {key}: {value}", markup=False)
    lines = endpoint_lines(description)
    if lines:
        out.print("[bold]Endpoints[/] (local)")
        for line in lines:
            out.print(f"  {line}", markup=False)


def _action(action: str) -> str:
    colors = {"Add": "green", "Modify": "yellow", "Replace": "magenta", "Remove": "red"}
    return f"[{colors[action]}]{action}[/]" if action in colors else action

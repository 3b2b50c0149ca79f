"""`stratus runtimes`: each runtime name → the interpreter that serves it on this host, per sandbox.

By default it asks the server (GET /_stratus/runtimes, which runs `report` there). `--local` reads the local
host directly, with the same discovery code and settings (STRATUS_RUNTIME_SEARCH_PATH,
STRATUS_PYTHON_INTERPRETER, STRATUS_STRICT_RUNTIMES) that `stratus serve` uses at its start.
"""

from __future__ import annotations

import json
from typing import Any

from stratus.config import Settings
from stratus.runtime.catalog import RuntimeCatalog
from stratus.runtime.interpreters import SANDBOXES, Resolution, discover
from stratus.runtime.runtimes import supported_runtimes


def catalogs(settings: Settings) -> dict[str, RuntimeCatalog]:
    """One catalog per sandbox, from one discovery."""
    interpreters, override = discover(settings.runtime_search_path, settings.python_interpreter)
    return {sandbox: RuntimeCatalog(interpreters, sandbox, strict=settings.strict_runtimes, override=override)
            for sandbox in SANDBOXES}


def entry(resolution: Resolution, strict: bool) -> dict[str, Any]:
    """One runtime in one sandbox, for --json."""
    interpreter = resolution.interpreter
    return {
        "status": resolution.status,  # exact | fallback | missing
        "usable": resolution.status == "exact" or (resolution.status == "fallback" and not strict),
        "path": interpreter.path if interpreter else None,
        "version": ".".join(map(str, interpreter.version)) if interpreter else None,
        "source": interpreter.source if interpreter else None,
    }


def report(settings: Settings) -> dict[str, Any]:
    by_sandbox = catalogs(settings)
    return {
        "strict": settings.strict_runtimes,
        "searchPath": settings.runtime_search_path or None,
        "pythonInterpreter": settings.python_interpreter or None,
        "runtimes": [{"runtime": runtime,
                      "sandboxes": {sandbox: entry(catalog.resolution(runtime), settings.strict_runtimes)
                                    for sandbox, catalog in by_sandbox.items()}}
                     for runtime in supported_runtimes()],
    }


def show(settings: Settings, as_json: bool) -> None:
    """Print the local host's report: a table, or JSON for machines."""
    render(report(settings), as_json, "Runtimes on this host (as `stratus serve` resolves them)")


def render(data: dict[str, Any], as_json: bool, title: str) -> None:
    """Print a report (this host's, or a server's from GET /_stratus/runtimes): a table, or JSON for machines."""
    if as_json:
        print(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("Runtime", "Sandbox", "Status", "Version", "Interpreter"):
        table.add_column(column)
    styles = {"exact": "green", "fallback": "yellow", "missing": "red"}
    for item in data["runtimes"]:
        views = item["sandboxes"]
        distinct = {json.dumps(view, sort_keys=True): sandbox for sandbox, view in views.items()}
        shown = [("all", next(iter(views.values())))] if len(distinct) == 1 else list(views.items())
        for sandbox, view in shown:
            status = view["status"] + ("" if view["usable"] or view["status"] == "missing" else " (refused: strict)")
            path = view["path"] or ("the function's own bootstrap" if view["status"] == "exact" else "-")
            table.add_row(item["runtime"], sandbox, f"[{styles[view['status']]}]{status}[/]", view["version"] or "-",
                          f"{path}" + (f" ({view['source']})" if view["source"] else ""))
    console = Console()
    console.print(table)
    console.print("exact: the runtime's own version; fallback: the nearest version found (newer first), with a "
                  "warning at each INIT; missing: functions of it cannot run. The plain sandbox runs functions as "
                  "another user when the server is root: interpreters in folders closed to others do not count there.")

"""Deploy time of the sam-init hello world (issue 15), as a user meets it: `stratus deploy` wall time.

    .venv/bin/python bench/deploy.py [--rounds 5]

Starts its own `stratus serve` (temp data dir, free loopback port) and copies tests/fixtures/sam-hello-world
(AWS's `sam init` Python hello world: a REST API route, `requests` in requirements.txt) into a temp folder.
Then, each a `stratus deploy --json` subprocess timed from spawn to exit:
  first deploy, cold build cache   — pip installs `requests` for the runtime (once; needs the package index)
  first deploy, warm build cache   — a new stack name each round: role, function, REST API, stage, permission
  unchanged redeploy               — "No changes"
  redeploy after an edit of app.py — UpdateFunctionCode (+ the API's stage redeployed)
Beside them, measured in the same run: the CLI's own floor (`stratus version`, a process start and the CLI's
imports) and the bare API work of one function (boto3 CreateFunction of the same zip, wait Active, DeleteFunction,
in-process: no CLI start-up, no role, no API). Bounded: --rounds each; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tests.support.cli import cli_env  # noqa: E402

from _common import (  # noqa: E402
    REPO,
    StratusServer,
    add_run_options,
    busy_note,
    machine_busy_percent,
    make_zip,
    remove_workdir,
    stop_and_report,
    wait_for_idle,
)

FIXTURE = REPO / "tests" / "fixtures" / "sam-hello-world"


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed, done


def summary(label: str, seconds: list[float]) -> str:
    values = sorted(seconds)
    return (f"{label:44} {statistics.median(values) * 1000:8.0f} {values[0] * 1000:8.0f} "
            f"{values[-1] * 1000:8.0f} {len(values):3}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each measurement (default 5)")
    add_run_options(parser, wait_idle_default=60.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-deploy-"))
    server = StratusServer(workdir / "data")
    rows: list[str] = []
    try:
        before = wait_for_idle(args.wait_idle)
        server.start()
        app = workdir / "sam-app"
        shutil.copytree(FIXTURE, app)
        cache = workdir / "build-cache"
        env = cli_env(server.endpoint, home=workdir / "home")
        cli = [sys.executable, "-m", "stratus.cli.main"]
        template = str(app / "template.yaml")

        def deploy(stack: str) -> tuple[float, dict]:
            elapsed, done = timed([*cli, "deploy", "--template", template, "--stack-name", stack, "--json",
                                   "--cache-dir", str(cache)], env, app)
            return elapsed, json.loads(done.stdout)

        cold, stack = deploy("hello-0")
        assert stack["Status"] == "CREATE_COMPLETE", stack
        rows.append(summary("first deploy, cold build cache (pip: requests)", [cold]))

        warm = [deploy(f"hello-{round_ + 1}")[0] for round_ in range(args.rounds)]
        rows.append(summary("first deploy, warm build cache", warm))

        unchanged = []
        for _ in range(args.rounds):
            elapsed, description = deploy("hello-1")
            assert description["NoChanges"] is True, description
            unchanged.append(elapsed)
        rows.append(summary("unchanged redeploy (No changes)", unchanged))

        source = app / "hello_world" / "app.py"
        original = source.read_text()
        edited = []
        for round_ in range(args.rounds):
            source.write_text(original.replace('"hello world"', f'"hello {round_}"'))
            elapsed, description = deploy("hello-1")
            assert not description["NoChanges"], description
            edited.append(elapsed)
        source.write_text(original)
        rows.append(summary("redeploy after an edit of app.py", edited))

        floor = [timed([*cli, "version"], env, app)[0] for _ in range(args.rounds)]
        rows.append(summary("baseline: CLI floor (stratus version)", floor))

        lam = server.client()
        code = make_zip({"app.py": original})
        bare = []
        for _ in range(args.rounds):
            name = f"bare-{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            lam.create_function(FunctionName=name, Runtime="python3.13", Handler="app.lambda_handler",
                                Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": code})
            lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05})
            lam.delete_function(FunctionName=name)
            bare.append(time.perf_counter() - started)
        rows.append(summary("baseline: bare CreateFunction+Active+Delete", bare))
        after = machine_busy_percent()
    finally:
        code_ = stop_and_report(server) if server.process is not None else 0
        remove_workdir(workdir, args.keep, [server.log_path])

    print(f"\nsam-init hello world ({FIXTURE.relative_to(REPO)}), stratus deploy wall time incl. the CLI process")
    print(f"{'what':44} {'p50 ms':>8} {'min':>8} {'max':>8} {'n':>3}")
    print("\n".join(rows))
    print(busy_note(before, after))
    return code_


if __name__ == "__main__":
    sys.exit(main())

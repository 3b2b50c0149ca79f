"""Cold start of Stratus per sandbox backend and runtime, beside process-start floors of the same run.

    .venv/bin/python bench/cold_start.py [--iterations 50] [--backends namespaced,plain]
                                         [--runtimes python3.12,nodejs20.x] [--baseline-src DIR]

`--runtimes python3.12-logging`: a python3.12 function whose module imports `logging` and logs.
`--baseline-src DIR`: per backend, a second server runs the Stratus source at DIR (PYTHONPATH, e.g. the
`src` of a `git worktree` of the commit before a change), interleaved with the first: before/after
figures from the same run (rows `<backend>@base`).

Starts one `stratus serve` per backend (temp data dir, free loopback port, env STRATUS_SANDBOX=<backend>),
both running at once so the rounds can be interleaved. Each round makes, for every backend x runtime,
a fresh function (unique name: always a new environment), waits until Active, times its first invoke
client-side (raw keep-alive HTTP/1.1 connection, LogType=Tail) and reads `Init Duration` and `Duration`
from the REPORT line in X-Amz-Log-Result, times a second (warm) invoke, deletes the function and
pauses `--settle` s. After every round the baselines are timed once each, so drift hits all alike:
`-c pass` / `-S -u -c pass` of sys.executable, /usr/bin/python3 and the server's runtime interpreter,
that interpreter inside a bare bwrap, `node -e 0`, a bare `bwrap --unshare-all ... /usr/bin/true` and
(as root) `unshare -m -p -f -i -u /bin/true`. Bounded by --max-seconds; both servers are stopped at
the end (SIGTERM), even on error.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO,
    KeepAliveClient,
    OtherLoad,
    StratusServer,
    add_run_options,
    build_request,
    busy_note,
    distinct_interpreters,
    header,
    machine_busy_percent,
    make_zip,
    percentile,
    remove_workdir,
    stop_and_report,
    wait_active,
    wait_for_idle,
)

BACKENDS = ("namespaced", "plain")
CODE = {
    **{f"python3.{minor}": ({"app.py": "def handler(event, context):\n    return {'ok': True}\n"}, "app.handler")
       for minor in range(9, 15)},
    **{f"nodejs{major}.x": ({"index.js": "exports.handler = async (e) => e;\n"}, "index.handler")
       for major in (18, 20, 22, 24)},
    "python3.12-logging": ({"app.py": "import logging\nlogger = logging.getLogger()\n"
                                      "def handler(event, context):\n    logger.warning('hi')\n"
                                      "    return {'ok': True}\n"}, "app.handler"),
}
GOAL_MS = 30.0  # issue 4 compass: invoke request -> handler's answer, full spawn, namespaced (cgroup included)
GOAL_FORK_MS = 5.0  # ... and later with the snapshot fork
MAX_CONSECUTIVE_FAILURES = 3  # then that backend x runtime is dropped from the run (e.g. Node bootstrap missing)
BWRAP_BARE = ["--unshare-all", "--share-net", "--unshare-user", "--ro-bind", "/usr", "/usr",
              "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--"]
# Baselines run with the base environment Stratus gives a function (control/functions.py), not this
# shell's: e.g. NODE_EXTRA_CA_CERTS alone makes every `node` start read a CA bundle (+~80 ms here).
BASELINE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC"}
_INIT = re.compile(r"Init Duration: ([\d.]+) ms")
_DURATION = re.compile(r"\tDuration: ([\d.]+) ms")
_SANDBOX_LINE = re.compile(r"sandbox (\w+)\)")


def runtime_interpreters(runtimes: list[str]) -> dict[tuple[str, str], str]:
    """(backend, runtime) → the interpreter `stratus serve` starts that runtime with (its own discovery)."""
    sys.path.insert(0, str(REPO / "src"))
    from stratus.runtime.catalog import RuntimeCatalog
    from stratus.runtime.interpreters import discover

    interpreters, override = discover(os.environ.get("STRATUS_RUNTIME_SEARCH_PATH", ""),
                                      os.environ.get("STRATUS_PYTHON_INTERPRETER", ""))
    chosen = {}
    for backend in BACKENDS:
        catalog = RuntimeCatalog(interpreters, backend, override=override)
        for runtime in runtimes:
            interpreter = catalog.resolution(runtime).interpreter
            if interpreter is not None:
                chosen[(backend, runtime)] = interpreter.path
    return chosen


def baseline_commands(runtimes: list[str]) -> tuple[list[str], list[tuple[str, list[str]]], dict[str, str],
                                                     dict[str, str]]:
    """A legend, (label, argv) of every baseline, and by interpreter path the labels of its `-S -u -c pass`
    bare and inside bwrap (the floors a python cold start is compared with)."""
    candidates = [("sys.executable", sys.executable)]
    if os.access("/usr/bin/python3", os.X_OK):
        candidates.append(("/usr/bin/python3", "/usr/bin/python3"))
    chosen = runtime_interpreters(runtimes)
    for (backend, runtime), path in sorted(chosen.items()):
        if runtime.startswith("python"):
            candidates.append((f"{runtime} ({backend})", path))
    interpreters = [(label, path) for label, path, _ in distinct_interpreters(candidates)]
    legend, commands = [], []
    bare: dict[str, str] = {}
    in_bwrap: dict[str, str] = {}
    bwrap = shutil.which("bwrap")
    for letter, (label, path) in zip("ABCDEFGHIJ", interpreters, strict=False):
        real = os.path.realpath(path)
        legend.append(f"{letter} = {label}: {path}{'' if real == path else ' -> ' + real}")
        commands.append((f"{letter} -c pass", [path, "-c", "pass"]))
        commands.append((f"{letter} -S -u -c pass", [path, "-S", "-u", "-c", "pass"]))
        bare[real] = f"{letter} -S -u -c pass"
        if bwrap and real in {os.path.realpath(p) for p in chosen.values()}:
            prefix = os.path.dirname(os.path.dirname(real))
            mount = [] if real.startswith("/usr/") else ["--ro-bind", prefix, prefix]
            in_bwrap[real] = f"bwrap(bare) {letter} -S -u -c pass"
            commands.append((in_bwrap[real], [bwrap, *BWRAP_BARE[:-1], *mount, "--", real, "-S", "-u", "-c", "pass"]))
    if bwrap:
        commands.append(("bwrap --unshare-all ... /usr/bin/true", [bwrap, *BWRAP_BARE, "/usr/bin/true"]))
        legend.append("bwrap(bare) = bwrap " + " ".join(BWRAP_BARE) + " <command> (+ the interpreter's prefix)")
    node = shutil.which("node")
    if node:
        commands.append(("node -e 0", [node, "-e", "0"]))
        inherited = sorted(name for name in os.environ if name.startswith("NODE_"))
        if inherited:  # show what this shell's NODE_* settings would cost, since they change the floor
            commands.append((f"node -e 0 (with this shell's {', '.join(inherited)})",
                             ["/usr/bin/env", *(f"{name}={os.environ[name]}" for name in inherited), node, "-e", "0"]))
        legend.append(f"node = {node}{'' if os.path.realpath(node) == node else ' -> ' + os.path.realpath(node)}")
    unshare = shutil.which("unshare")
    if unshare and os.geteuid() == 0:
        commands.append(("unshare -m -p -f -i -u /bin/true", [unshare, "-m", "-p", "-f", "-i", "-u", "/bin/true"]))
    return legend, commands, {path: bare[os.path.realpath(path)] for path in chosen.values()
                              if os.path.realpath(path) in bare}, in_bwrap


def time_command(argv: list[str]) -> float:
    """Spawn-to-reaped time of argv, in ms. A blocking wait(): subprocess's wait(timeout=...) polls
    with growing sleeps and would round every figure up to ~16 / 32 ms; a timer bounds it instead."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=BASELINE_ENV)
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        code = process.wait()
    finally:
        watchdog.cancel()
    elapsed = (time.perf_counter() - start) * 1e3
    if code != 0:
        raise RuntimeError(f"{argv} exited with {code}: {process.stderr.read()[:300]!r}")
    process.stderr.close()
    return elapsed


def summary(values: list[float]) -> tuple[int, float, float, float]:
    ordered = sorted(values)
    return len(ordered), percentile(ordered, 50), percentile(ordered, 99), (ordered[-1] if ordered else float("nan"))


def fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"


class Target:
    """One backend x runtime: its server's clients and its samples."""

    def __init__(self, backend: str, runtime: str, server: StratusServer, client, prefix: str):
        self.backend, self.runtime, self.server, self.client = backend, runtime, server, client
        self.connection = KeepAliveClient(server.port, timeout_s=30)
        files, self.handler = CODE[runtime]
        self.code = make_zip(files)
        self.prefix = f"{prefix}-{backend[:2]}-{runtime.replace('.', '')}"
        self.first: list[float] = []
        self.init: list[float] = []
        self.duration: list[float] = []
        self.second: list[float] = []
        self.create: list[float] = []
        self.missing_init = 0
        self.errors: list[str] = []
        self.consecutive_failures = 0
        self.dropped = ""
        self.created: list[str] = []

    @property
    def label(self) -> str:
        return f"{self.backend} {self.runtime}"

    def _reconnect(self) -> None:
        try:
            self.connection.close()
        except OSError:
            pass
        self.connection = KeepAliveClient(self.server.port, timeout_s=30)

    def run_once(self, index: int) -> None:
        name = f"{self.prefix}-{index}"
        try:
            self._cold_start(name)
            self.consecutive_failures = 0
        except Exception as exc:  # noqa: BLE001 - record, maybe drop this target, go on with the others
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            self.consecutive_failures += 1
            if isinstance(exc, OSError):
                self._reconnect()
            if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                self.dropped = f"dropped after {self.consecutive_failures} consecutive failures"
        finally:
            if name in self.created:
                try:
                    self.client.delete_function(FunctionName=name)
                    self.created.remove(name)
                except Exception as exc:  # noqa: BLE001
                    self.errors.append(f"{name}: delete failed: {exc}")

    def _cold_start(self, name: str) -> None:
        start = time.perf_counter()
        self.client.create_function(FunctionName=name, Runtime=self.runtime.split("-")[0], Handler=self.handler,
                                    Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": self.code})
        self.created.append(name)
        wait_active(self.client, name)
        created_ms = (time.perf_counter() - start) * 1e3

        raw = build_request(f"/2015-03-31/functions/{name}/invocations", self.server.port,
                            body=b'{"bench": 1}', headers={"X-Amz-Log-Type": "Tail"})
        start = time.perf_counter()
        status, head, body = self.connection.request(raw)
        first_ms = (time.perf_counter() - start) * 1e3
        log = base64.b64decode(header(head, "x-amz-log-result") or "").decode(errors="replace")
        if status != 200 or header(head, "x-amz-function-error"):
            raise RuntimeError(f"first invoke: HTTP {status} {header(head, 'x-amz-function-error') or ''} "
                               f"{body[:300]!r} log tail: {log[-400:]!r}")
        start = time.perf_counter()
        status2, head2, body2 = self.connection.request(raw)
        second_ms = (time.perf_counter() - start) * 1e3
        if status2 != 200 or header(head2, "x-amz-function-error"):
            raise RuntimeError(f"second invoke: HTTP {status2} {body2[:300]!r}")
        # Only a complete, successful cold start is recorded.
        self.create.append(created_ms)
        self.first.append(first_ms)
        self.second.append(second_ms)
        if match := _INIT.search(log):
            self.init.append(float(match.group(1)))
        else:
            self.missing_init += 1
        if match := _DURATION.search(log):
            self.duration.append(float(match.group(1)))

    def close(self) -> None:
        try:
            self.connection.close()
        except OSError:
            pass


def server_backend(server: StratusServer) -> str:
    """The backend the server says it started with (its startup log line)."""
    try:
        match = _SANDBOX_LINE.search(server.log_path.read_text(errors="replace"))
    except OSError:
        return "?"
    return match.group(1) if match else "?"


def parse_args() -> tuple[argparse.Namespace, list[str], list[str], list[str]]:
    """The options, the backends and runtimes to measure, and notes on what is skipped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=50,
                        help="cold starts per backend x runtime, i.e. fresh functions each (default 50, max 1000)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated: namespaced,plain (default both)")
    parser.add_argument("--runtimes", default="python3.12,nodejs20.x",
                        help="comma-separated, of python3.9 .. python3.14, nodejs18.x .. nodejs24.x, each "
                             "served as `stratus serve` would (see `stratus runtimes`) "
                             "(default python3.12,nodejs20.x; nodejs20.x only if `node` exists)")
    parser.add_argument("--settle", type=float, default=0.1,
                        help="pause (s) after each delete, so a draining environment does not overlap "
                             "the next cold start")
    parser.add_argument("--max-seconds", type=float, default=150.0,
                        help="bound on the measuring loop (default 150; the rounds done by then are reported)")
    parser.add_argument("--baseline-src", default="",
                        help="also run, per backend, a server from the Stratus source at this folder (its src/)")
    add_run_options(parser, 60.0)
    args = parser.parse_args()
    backends = [name for name in args.backends.split(",") if name]
    runtimes = [name for name in args.runtimes.split(",") if name]
    for name in backends:
        if name not in BACKENDS:
            parser.error(f"unknown backend {name!r}")
    for name in runtimes:
        if name not in CODE:
            parser.error(f"unknown runtime {name!r} (choose from {', '.join(CODE)})")
    notes: list[str] = []
    if "nodejs20.x" in runtimes and not shutil.which("node"):
        runtimes.remove("nodejs20.x")
        notes.append("nodejs20.x skipped: no `node` on PATH")
    return args, backends, runtimes, notes


class Baselines:
    """The process-start floors, timed once per round beside the cold starts."""

    def __init__(self, runtimes: list[str]) -> None:
        self.chosen = runtime_interpreters(runtimes)
        self.legend, self.commands, self.bare_labels, self.bwrap_labels = baseline_commands(runtimes)
        self.times: dict[str, list[float]] = {label: [] for label, _ in self.commands}
        self.errors: list[str] = []

    def warm(self) -> None:
        """Run every command once, unrecorded, to warm the page cache."""
        for label, argv in list(self.commands):
            try:
                time_command(argv)
            except Exception as exc:  # noqa: BLE001 - a floor that cannot run here is left out
                self.errors.append(f"{label}: {exc}")
                self.commands.remove((label, argv))
                self.times.pop(label)

    def time_round(self) -> None:
        for label, argv in self.commands:
            try:
                self.times[label].append(time_command(argv))
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{label}: {exc}")


def start_servers(backends: list[str], runtimes: list[str], workdir: Path, servers: dict[str, StratusServer],
                  targets: list[Target], notes: list[str], baseline_src: str = "") -> None:
    """One `stratus serve` per backend (and one more from `baseline_src`, labelled `<backend>@base`),
    each added to `servers` before it starts (so it is stopped whatever happens), and a target per
    runtime on each server that started."""
    prefix = "bench-cold-" + uuid.uuid4().hex[:6]
    runs = [(backend, backend, {}) for backend in backends]
    if baseline_src:
        source = {"PYTHONPATH": str(Path(baseline_src).resolve())}
        runs += [(f"{backend}@base", backend, source) for backend in backends]
    for label, backend, extra in runs:
        server = StratusServer(workdir / f"data-{label}", env={"STRATUS_SANDBOX": backend, **extra})
        servers[label] = server
        try:
            server.start()
        except Exception as exc:  # noqa: BLE001 - measure the other backend(s) anyway
            notes.append(f"{backend}: stratus serve did not start: {str(exc)[-400:]}")
            continue
        actual = server_backend(server)
        if actual != backend:
            notes.append(f"server started with STRATUS_SANDBOX={backend} reports sandbox {actual}")
        client = server.client()
        for runtime in runtimes:
            targets.append(Target(label, runtime, server, client, prefix))


def run_rounds(args: argparse.Namespace, iterations: int, servers: dict[str, StratusServer], targets: list[Target],
               baselines: Baselines, notes: list[str]) -> tuple[int, float, float]:
    """The measuring loop: rounds done, seconds taken, CPU % used by other processes meanwhile."""
    deadline = time.monotonic() + args.max_seconds
    server_pids = [server.process.pid for server in servers.values() if server.process is not None]
    other = OtherLoad(lambda: server_pids).start()
    print(f"cold start: {iterations} fresh functions for each of {', '.join(t.label for t in targets)}, "
          f"interleaved, with {len(baselines.commands)} baselines per round "
          f"(bounded by {args.max_seconds:g} s) ...", flush=True)
    started = time.monotonic()
    rounds = 0
    for index in range(iterations):
        if time.monotonic() > deadline:
            notes.append(f"stopped after {index} rounds of {iterations} (--max-seconds {args.max_seconds:g})")
            break
        live = [target for target in targets if not target.dropped]
        if not live:
            break
        shift = index % len(live)  # rotate the order so no target always follows the baselines
        for target in live[shift:] + live[:shift]:
            target.run_once(index)
            time.sleep(args.settle)
        baselines.time_round()
        rounds = index + 1
        if rounds % 10 == 0:
            print(f"  {rounds} rounds, {time.monotonic() - started:.0f} s", flush=True)
    other_percent = other.percent()
    return rounds, time.monotonic() - started, other_percent


def print_cold_starts(targets: list[Target]) -> None:
    print("    cold start, ms                    |  first invoke, client-side  "
          "| REPORT Init Dur. | REPORT  | warm 2nd | create")
    print(f"    {'backend':<11}{'runtime':<12}{'n':>5}  |{'p50':>9}{'p99':>9}{'max':>9}  |{'p50':>8}{'p99':>8}  "
          f"|{'Dur p50':>8} |{'p50':>8}  |{'p50':>7}")
    for target in targets:
        n, p50, p99, top = summary(target.first)
        _, init50, init99, _ = summary(target.init)
        _, dur50, _, _ = summary(target.duration)
        _, warm50, _, _ = summary(target.second)
        _, create50, _, _ = summary(target.create)
        print(f"    {target.backend:<11}{target.runtime:<12}{n:>5}  |{fmt(p50):>9}{fmt(p99):>9}{fmt(top):>9}  "
              f"|{fmt(init50):>8}{fmt(init99):>8}  |{fmt(dur50):>8} |{fmt(warm50):>8}  |{fmt(create50):>7}"
              f"{'   ' + target.dropped if target.dropped else ''}")
    print("    (first invoke = request sent .. answer read on one keep-alive connection, "
          "environment spawn included;"
          "\n     create = create_function until State=Active via boto3; "
          "warm 2nd = the same function's next invoke)")


def print_baselines(baselines: Baselines) -> None:
    print(f"    baselines, same run, interleaved: start + exit, spawned from this process     "
          f"{'n':>5}{'p50':>9}{'p99':>9}{'max':>9}")
    print("       (env: " + " ".join(f"{k}={v}" for k, v in BASELINE_ENV.items())
          + ", as Stratus gives a function)")
    for line in baselines.legend:
        print("       " + line)
    width = 72
    for label, values in baselines.times.items():
        n, p50, p99, top = summary(values)
        print(f"    {label:<{width}}{n:>5}{fmt(p50):>9}{fmt(p99):>9}{fmt(top):>9}")
    print("    (floors from issue 4 on this machine: bwrap --unshare-all ... /bin/true 4 ms; "
          "Debian /usr/bin/python3"
          " -c pass 8 ms, inside bwrap 13 ms;\n     pyenv python3 -c pass 29 ms; "
          "fork of an initialized CPython 1 ms;"
          " serverless-offline first invoke 60 ms with no sandbox)")


def print_beyond_floors(targets: list[Target], baselines: Baselines) -> None:
    """How far each first invoke's p50 is above the bare interpreter start it is built on."""
    floors = {label: summary(values)[1] for label, values in baselines.times.items()}

    for target in targets:
        if not target.first:
            continue
        p50 = summary(target.first)[1]
        interpreter = os.path.realpath(baselines.chosen.get((target.backend, target.runtime), ""))
        runtime_label = baselines.bare_labels.get(interpreter, "")
        bwrap_python_label = baselines.bwrap_labels.get(interpreter, "")
        if target.runtime.startswith("python") and runtime_label in floors:
            parts = [f"{fmt(p50 - floors[runtime_label])} ms beyond `{runtime_label}`"]
            if target.backend == "namespaced" and bwrap_python_label in floors:
                parts.append(f"{fmt(p50 - floors[bwrap_python_label])} ms beyond `{bwrap_python_label}`")
            print(f"    {target.label}: first-invoke p50 is " + "; ".join(parts))
        elif target.runtime.startswith("nodejs") and "node -e 0" in floors:
            print(f"    {target.label}: first-invoke p50 is {fmt(p50 - floors['node -e 0'])} ms beyond `node -e 0`")


def print_goal(targets: list[Target]) -> None:
    print(f"    compass goal (issue 4): <= {GOAL_MS:g} ms from the invoke request to the handler's answer "
          f"for a full spawn in the namespaced sandbox (cgroup included); <= {GOAL_FORK_MS:g} ms later "
          f"with the snapshot fork")
    for target in targets:
        if target.backend == "namespaced" and target.first:
            _, p50, p99, _ = summary(target.first)
            verdict = "met" if p50 <= GOAL_MS else f"not met: {p50 - GOAL_MS:.1f} ms over"
            print(f"      now: {target.label} first invoke p50 {fmt(p50)} ms, p99 {fmt(p99)} ms "
                  f"-> {verdict} (at p50)")


def print_failures(targets: list[Target], baseline_errors: list[str]) -> int:
    """Failed or incomplete cold starts and baselines; 1 when a cold start failed, else 0."""
    exit_code = 0
    for target in targets:
        if target.missing_init:
            print(f"\n    {target.label}: {target.missing_init} cold invoke(s) had no Init Duration "
                  f"in their REPORT line")
        if target.errors:
            exit_code = 1
            print(f"\n    {target.label}: {len(target.errors)} failed cold start(s); "
                  f"first:\n      {target.errors[0]}")
            if len(target.errors) > 1 and target.errors[-1] != target.errors[0]:
                print(f"      last:\n      {target.errors[-1]}")
    if baseline_errors:
        print(f"\n    {len(baseline_errors)} baseline command failure(s); first: {baseline_errors[0]}")
    return exit_code


def delete_leftovers(targets: list[Target]) -> None:
    for target in targets:
        for name in list(target.created):
            try:
                target.client.delete_function(FunctionName=name)
            except Exception as exc:  # noqa: BLE001
                print(f"could not delete {name}: {exc}", file=sys.stderr)
        target.close()


def main() -> int:
    args, backends, runtimes, notes = parse_args()
    iterations = max(1, min(args.iterations, 1000))
    busy_before = wait_for_idle(max(0.0, min(args.wait_idle, 3600.0)))
    workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-cold-"))
    servers: dict[str, StratusServer] = {}
    targets: list[Target] = []
    exit_code = 0
    baselines = Baselines(runtimes)
    try:
        baselines.warm()
        start_servers(backends, runtimes, workdir, servers, targets, notes, args.baseline_src)
        rounds, elapsed, other_percent = run_rounds(args, iterations, servers, targets, baselines, notes)

        print()
        print(f"Stratus cold start - fresh no-dependency functions; {os.cpu_count()} CPUs, server Python "
              f"{platform.python_version()}, runtime interpreters (started -S -u): "
              f"{', '.join(f'{b} {r}={p}' for (b, r), p in sorted(baselines.chosen.items()))}; "
              f"{rounds} rounds in {elapsed:.0f} s")
        print(f"note: {busy_note(busy_before, machine_busy_percent())}")
        print(f"note: CPU used by processes outside this benchmark while measuring: {other_percent:.0f}%"
              f"{'  <- skewed' if other_percent > 10 else ''}")
        for note in notes:
            print(f"note: {note}")
        print()
        print_cold_starts(targets)
        print()
        print_baselines(baselines)
        print()
        print_beyond_floors(targets, baselines)
        print()
        print_goal(targets)
        exit_code = print_failures(targets, baselines.errors)
    except Exception as exc:  # noqa: BLE001 - report, then clean up below
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        delete_leftovers(targets)
        for backend, server in servers.items():
            stop_and_report(server, backend)
        remove_workdir(workdir, args.keep, [server.log_path for server in servers.values()])
    return exit_code

if __name__ == "__main__":
    sys.exit(main())

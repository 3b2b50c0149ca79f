"""`stratus dev -t template.yaml [--api-port 3000]`: deploy, serve the template's API routes at the root of a local
port (as `sam local start-api` does), and redeploy what changed whenever a code folder or the template changes.

- A server: the one at the endpoint, or — when nothing answers there and it is a loopback URL — a `stratus serve`
  started as a child process on that port (data in ~/.stratus/dev unless --data-dir), stopped on exit.
- The router: a small ASGI app (uvicorn, in a thread) holding the description's `Apis[].Routes`; a request is
  matched against them (static segments before `{param}`, `{proxy+}` last, a method before ANY) and forwarded,
  method, path, query, headers and body, to that API's BaseUrl + path; the answer streams back. No route: 403
  `{"message":"Missing Authentication Token"}`, as API Gateway (and sam local) answer.
- The loop: watchfiles on the CodeUri / ContentUri folders and the template. A change → the template is read again
  (an error is printed, the running version keeps serving), changed .py files are compiled (a SyntaxError is
  printed as file:line and nothing is deployed), then build (unchanged sources are cache hits), upload and
  deploy; each reload prints how long it took. Ctrl-C (or SIGTERM) stops the router, then the child server.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3

from stratus.cli.build import Builder, BuildError, CodeSource, code_sources, load_template, upload
from stratus.cli.client import Client, CliError, endpoint_url
from stratus.cli.debug import describe, set_debug_mode
from stratus.cli.deploy import parse_overrides, put_stack, show_stack
from stratus.cli.output import err, out

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host"}
WATCH_IGNORED_DIRS = {".stratus", ".aws-sam", "__pycache__", ".git", "node_modules", ".mypy_cache",
                      ".pytest_cache", ".venv"}


# ---------------------------------------------------------------- routes
@dataclass(frozen=True)
class ApiRoute:
    method: str  # GET, ..., or ANY
    path: str  # as the API declares it: /users/{id}, /{proxy+}, $default
    base_url: str
    api: str
    pattern: re.Pattern[str]
    rank: tuple[int, ...]


def compile_route(method: str, path: str, base_url: str, api: str) -> ApiRoute:
    if path in ("$default", ""):
        return ApiRoute("ANY", "$default", base_url, api, re.compile(r"/.*"), (3, 0, 0, 1))
    segments = [s for s in path.strip("/").split("/") if s]
    parts, static, greedy = [], 0, 0
    for segment in segments:
        if re.fullmatch(r"\{[^{}]+\+\}", segment):
            parts.append("(?:.+)")
            greedy = 1
        elif re.fullmatch(r"\{[^{}]+\}", segment):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(segment))
            static += 1
    regex = "/" + "/".join(parts) + ("/?" if segments else "")
    method = method.upper()
    # Lower sorts first: no greedy segment, then more static segments, then longer, then a named method.
    rank = (greedy, -static, -len(segments), 1 if method == "ANY" else 0)
    return ApiRoute(method, path, base_url, api, re.compile(regex), rank)


def routes_of(description: dict[str, Any]) -> list[ApiRoute]:
    routes = []
    for api in description.get("Apis") or []:
        base = str(api.get("BaseUrl", "")).rstrip("/")
        for route in api.get("Routes") or []:
            routes.append(compile_route(str(route.get("Method", "ANY")), str(route.get("Path", "/")), base,
                                        str(api.get("LogicalResourceId", ""))))
    return sorted(routes, key=lambda r: r.rank)


def match(routes: list[ApiRoute], method: str, path: str) -> ApiRoute | None:
    for route in routes:
        if route.method in ("ANY", method.upper()) and route.pattern.fullmatch(path):
            return route
    return None


# ---------------------------------------------------------------- the router
class Router:
    """The ASGI app on --api-port: forwards to the stack's APIs."""

    def __init__(self) -> None:
        self.routes: list[ApiRoute] = []
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=32)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        started = time.monotonic()
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        method = scope["method"]
        route = match(self.routes, method, scope["path"])
        if route is None:
            await _answer(send, 403, b'{"message":"Missing Authentication Token"}')
            self._log(method, raw_path, 403, started, "no route")
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode("latin-1")
        url = route.base_url + raw_path + (f"?{query}" if query else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in HOP_BY_HOP]
        headers.append(("Host", urlsplit(route.base_url).netloc))
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(None, self._forward, method, url, headers, bytes(body))
        except urllib3.exceptions.HTTPError as exc:
            await _answer(send, 502, b'{"message":"the Stratus server did not answer: ' +
                          str(exc).replace('"', "'").encode()[:200] + b'"}')
            self._log(method, raw_path, 502, started, route.api)
            return
        try:
            out_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
                           if k.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
            while True:
                chunk = await loop.run_in_executor(None, response.read1, 65536)
                if not chunk:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            response.release_conn()
        self._log(method, raw_path, response.status, started, route.api)

    def _forward(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        return self.pool.urlopen(method, url, body=body or None, headers=urllib3.HTTPHeaderDict(headers),
                                 preload_content=False, decode_content=False, redirect=False, retries=False,
                                 timeout=urllib3.Timeout(connect=5, read=960))

    @staticmethod
    def _log(method: str, path: str, status: int, started: float, api: str) -> None:
        out.print(f"[dim]{method} {path} → {status} ({(time.monotonic() - started) * 1000:.0f} ms"
                  f"{', ' + api if api else ''})[/]", markup=True, highlight=False)


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RouterThread:
    """uvicorn serving the router on 127.0.0.1:port in a thread of its own (the main thread watches files)."""

    def __init__(self, router: Router, host: str, port: int):
        import uvicorn

        config = uvicorn.Config(router, host=host, port=port, log_level="warning", access_log=False,
                                lifespan="on", loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="stratus-dev-router", daemon=True)

    def start(self, timeout_s: float = 10) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise CliError(f"cannot serve on {self.server.config.host}:{self.server.config.port} "
                               "(is the port in use? --api-port picks another)")
            if time.monotonic() > deadline:
                raise CliError("the API router did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


# ---------------------------------------------------------------- a server of our own
def healthy(endpoint: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/_stratus/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class ChildServer:
    """`stratus serve` on the endpoint's port, in a session of its own (Ctrl-C reaches dev, which stops it)."""

    def __init__(self, endpoint: str, data_dir: Path):
        parts = urlsplit(endpoint)
        self.port = parts.port or 8421
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "dev-server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stratus.cli.main", "serve", "--port", str(self.port), "--data-dir",
             str(self.data_dir)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        endpoint = f"http://127.0.0.1:{self.port}"
        while not healthy(endpoint, 0.5):
            if self.process.poll() is not None:
                raise CliError(f"stratus serve exited ({self.process.returncode}): see "
                               f"{self.data_dir / 'dev-server.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise CliError(f"stratus serve did not start within {timeout_s:.0f} s: see "
                               f"{self.data_dir / 'dev-server.log'}")
            time.sleep(0.05)

    @property
    def credentials_file(self) -> Path | None:
        """The server's generated admin keys, unless STRATUS_ACCESS_KEYS gave it the caller's."""
        return None if os.environ.get("STRATUS_ACCESS_KEYS") else self.data_dir / "credentials"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def is_loopback(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


# ---------------------------------------------------------------- the session
def default_stack_name(template: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9-]+", "-", template.resolve().parent.name).strip("-") or "dev"
    return name if name[0].isalpha() else f"s-{name}"


def syntax_errors(paths: set[str]) -> list[str]:
    """`file:line: SyntaxError: message` for each changed Python file that does not compile."""
    problems = []
    for path in sorted(paths):
        if not path.endswith(".py") or not os.path.isfile(path):
            continue
        try:
            source = Path(path).read_bytes()
            compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            problems.append(f"{exc.filename or path}:{exc.lineno or 0}: {type(exc).__name__}: {exc.msg}")
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: {exc}")
    return problems


class DevSession:
    def __init__(self, client: Client, template: Path, stack_name: str, parameters: dict[str, str],
                 router: Router, debug_port: int | None = None):
        self.client = client
        self.debug_port = debug_port  # the first function's debugger port; the next ones get the next ports
        self.debugging: dict[str, int] = {}  # function name → its debugger port
        self.template = template
        self.stack_name = stack_name
        self.parameters = parameters
        self.router = router
        self.builder = Builder(template)
        self.built: dict[str, str] = {}  # logical id → sha256 last deployed
        self.deployed = False
        self.paths: list[Path] = [template.resolve()]

    def watched(self) -> list[Path]:
        """The template and every local code folder it names (as the file reads now; while it does not load,
        the folders it named before)."""
        try:
            sources = code_sources(load_template(self.template), self.template.resolve().parent)
        except CliError:
            return self.paths
        self.paths = sorted({self.template.resolve(), *(source.path.resolve() for source in sources)})
        return self.paths

    def deploy(self, changed: set[str] | None = None) -> bool:
        """Build, upload, deploy; print the outcome. False (printed) when anything failed."""
        started = time.monotonic()
        try:
            problems = syntax_errors(changed or set())
            if problems:
                for problem in problems:
                    err.print(f"[red]✗[/] {problem}", highlight=False)
                err.print("[yellow]not deployed; the previous version keeps serving[/]")
                return False
            document = load_template(self.template)
            result = self.builder.build(document)
            upload(self.client, result.sources)
            description = put_stack(self.client, self.stack_name, result.template_text(), self.parameters)
        except BuildError as exc:
            if exc.output:
                err.print(exc.output, markup=False, style="dim", highlight=False)
            return self._failed(str(exc))
        except CliError as exc:
            return self._failed(str(exc))
        except Exception as exc:  # noqa: BLE001 - a dev loop reports and carries on
            from stratus.cli.output import describe

            return self._failed(describe(exc))
        elapsed = time.monotonic() - started
        self.router.routes = routes_of(description)
        changed_ids = self._changed(result.sources)
        if self.debug_port is not None:
            self.debug(description)
        if not self.deployed:
            show_stack(description, elapsed=elapsed, deployed=True)
        elif description.get("NoChanges"):
            out.print(f"[dim]No changes ({elapsed:.2f} s)[/]")
        else:
            what = ", ".join(changed_ids) or ", ".join(c.get("LogicalResourceId", "")
                                                       for c in description.get("Changes") or []) or "stack"
            out.print(f"[green]✓[/] Reloaded {what} in {elapsed:.2f} s")
        self.deployed = True
        return True

    def debug(self, description: dict[str, Any]) -> None:
        """Keep every function of the stack in debug mode, one port each from --debug-port up (in logical id
        order), as the stack's functions come and go."""
        assert self.debug_port is not None
        functions = sorted((r["LogicalResourceId"], r["PhysicalResourceId"]) for r in description.get("Resources", [])
                           if r.get("ResourceType") == "AWS::Lambda::Function")
        wanted = {name: self.debug_port + index for index, (_, name) in enumerate(functions)}
        for name, port in wanted.items():
            if self.debugging.get(name) != port:
                state = set_debug_mode(self.client, name, port)
                out.print(f"[magenta]⚑[/] {describe(state or {})}", highlight=False)
        self.debugging = wanted

    def stop_debugging(self) -> None:
        for name in self.debugging:
            try:
                set_debug_mode(self.client, name, None)
            except CliError as exc:
                err.print(f"[yellow]{name}: debug mode stays on ({exc})[/]", highlight=False)
        self.debugging = {}

    def _changed(self, sources: list[CodeSource]) -> list[str]:
        changed = [s.logical_id for s in sources if self.built.get(s.logical_id) not in (None, s.sha256)]
        self.built = {s.logical_id: s.sha256 for s in sources}
        return changed

    def _failed(self, message: str) -> bool:
        err.print(f"[red]✗[/] {message}", markup=True, highlight=False)
        if self.deployed:
            err.print("[yellow]the previous version keeps serving[/]")
        return False

    def show_routes(self, api_port: int) -> None:
        if not self.router.routes:
            out.print("[yellow]The template has no API routes to serve[/] (Function URLs are listed above).")
            return
        out.print(f"[bold]Serving the API routes at http://127.0.0.1:{api_port}[/]")
        for route in sorted(self.router.routes, key=lambda r: (r.path, r.method)):
            out.print(f"  {route.method:7} http://127.0.0.1:{api_port}{route.path if route.path != '$default' else '/'}"
                      f"  → {route.api}", markup=False)

    def watch(self) -> None:
        """Redeploy on every change until interrupted."""
        from watchfiles import DefaultFilter, watch

        class Filter(DefaultFilter):
            ignore_dirs = tuple(WATCH_IGNORED_DIRS)

        while True:
            paths = self.watched()
            out.print(f"[dim]Watching {len(paths)} path(s) for changes; Ctrl-C stops.[/]")
            for changes in watch(*paths, watch_filter=Filter(), debounce=50, step=20, raise_interrupt=True):
                changed = {path for _, path in changes}
                template_changed = str(self.template.resolve()) in changed
                self.deploy(changed)
                if template_changed and self.watched() != paths:
                    break  # new folders to watch


def run(endpoint: str | None, template: Path, stack_name: str | None, api_port: int, parameters: list[str],
        data_dir: Path | None, debug_port: int | None = None) -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if not template.is_file():
        raise CliError(f"{template}: no such template")
    try:
        overrides = parse_overrides(parameters)
    except ValueError as exc:
        raise CliError(f"--parameter-overrides: {exc}") from None
    url = endpoint_url(endpoint)
    child: ChildServer | None = None
    router_thread: RouterThread | None = None
    session: DevSession | None = None

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell's background job starts with it ignored, and Python then keeps ignoring it.
    previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        credentials_file = None
        if not healthy(url):
            if not is_loopback(url):
                raise CliError(f"no Stratus server answers at {url}")
            child = ChildServer(url, (data_dir or Path("~/.stratus/dev")).expanduser())
            out.print(f"No server at {url}: starting [bold]stratus serve[/] on port {child.port} "
                      f"(data in {child.data_dir}, log in {child.data_dir / 'dev-server.log'}) ...")
            child.start()
            credentials_file = child.credentials_file
        else:
            out.print(f"Using the Stratus server at {url}")
        client = Client.connect(url, credentials_file)
        router = Router()
        router_thread = RouterThread(router, "127.0.0.1", api_port)
        router_thread.start()
        session = DevSession(client, template, stack_name or default_stack_name(template), overrides, router,
                             debug_port)
        out.print(f"Deploying {template} as stack [bold]{session.stack_name}[/] ...")
        session.deploy()
        session.show_routes(api_port)
        session.watch()
    except KeyboardInterrupt:
        out.print("Stopping.")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if session is not None and session.debugging:
            session.stop_debugging()
        if router_thread is not None:
            router_thread.stop()
        if child is not None:
            out.print("Stopping the stratus serve started for this session.")
            child.stop()

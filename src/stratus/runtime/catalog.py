"""The runtime catalog of one server: every runtime name resolved to its interpreter, once per start.

Discovery (runtime/interpreters.py) runs when the server starts — never per cold start — and the
catalog answers CreateFunction's check and each environment spec's launch from what it found.
`stratus runtimes` builds the same catalog for each sandbox, with the same code, on the local host.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from stratus.runtime import interpreters as found
from stratus.runtime.interpreters import Interpreter, Resolution
from stratus.runtime.runtimes import PYTHON_RUNTIMES, RuntimeUnavailable, supported_runtimes

log = logging.getLogger("stratus.runtimes")


class RuntimeCatalog:
    """What serves each runtime in one sandbox, and whether a function of it may be created and run."""

    def __init__(self, interpreters: Sequence[Interpreter], sandbox: str, *, strict: bool = False,
                 override: Interpreter | None = None, as_root: bool | None = None):
        self.sandbox = sandbox
        self.strict = strict
        self.interpreters = list(interpreters)
        usable = [i for i in self.interpreters if found.runnable_in(sandbox, i, as_root)]
        if override is not None and not found.runnable_in(sandbox, override, as_root):
            log.warning("STRATUS_PYTHON_INTERPRETER %s cannot be run by functions in the %s sandbox (its folders are "
                        "closed to their user): ignored", override.path, sandbox)
            override = None
        self.resolutions = {runtime: found.resolve(runtime, usable, override) for runtime in supported_runtimes()}
        self._warned: set[str] = set()

    @classmethod
    def discover(cls, sandbox: str, *, search_path: str = "", python_override: str = "",
                 strict: bool = False) -> RuntimeCatalog:
        """Look for interpreters on this host (runs each candidate once) and resolve every runtime."""
        interpreters, override = found.discover(search_path, python_override)
        return cls(interpreters, sandbox, strict=strict, override=override)

    def resolution(self, runtime: str) -> Resolution:
        return self.resolutions.get(runtime) or Resolution(runtime, "missing")

    def check_usable(self, runtime: str) -> None:
        """Raise RuntimeUnavailable (in AWS's words for CreateFunction) when functions of `runtime` may not be
        created or updated here."""
        resolution = self.resolution(runtime)
        if resolution.status == "missing":
            raise RuntimeUnavailable(self._missing_message(runtime))
        if resolution.status == "fallback" and self.strict:
            exact = [name for name, other in self.resolutions.items()
                     if other.status == "exact" and other.interpreter is not None and name[:4] == runtime[:4]]
            advice = f" We recommend you use an available runtime ({exact[-1]}) while creating or updating " \
                     "functions." if exact else ""
            raise RuntimeUnavailable(f"The runtime parameter of {runtime} is not supported on this Stratus host: "
                                     f"{self._strict_reason(runtime)}.{advice}")

    def interpreter_for(self, runtime: str) -> tuple[Interpreter | None, str]:
        """The interpreter that starts `runtime`'s environments (None: the runtime brings its own), and the
        warning line its INIT log gets ("" for the exact version); raises RuntimeUnavailable when it
        cannot be run. The server log gets each runtime's fallback warning once."""
        resolution = self.resolution(runtime)
        if resolution.status == "missing":
            raise RuntimeUnavailable(self._missing_message(runtime))
        if resolution.status != "fallback":
            return resolution.interpreter, ""
        if self.strict:
            raise RuntimeUnavailable(f"Runtime {runtime}: {self._strict_reason(runtime)}.")
        warning = resolution.warning(self.sandbox)
        if runtime not in self._warned:
            self._warned.add(runtime)
            log.warning("%s (STRATUS_STRICT_RUNTIMES=1 refuses such functions)", warning.removeprefix("WARNING: "))
        return resolution.interpreter, warning

    def summary(self) -> str:
        """One line for the server log: how many runtimes run on their own version, and the others."""
        exact = [name for name, r in self.resolutions.items() if r.status == "exact"]
        others = [f"{name} on {r.interpreter.label}" if r.interpreter else f"{name} missing"
                  for name, r in self.resolutions.items() if r.status != "exact"]
        return f"{len(exact)} on their own version" + (f"; {', '.join(others)}" if others else "")

    def _missing_message(self, runtime: str) -> str:
        family = "Python" if runtime in PYTHON_RUNTIMES else "Node.js"
        return (f"Runtime {runtime} needs {family} on the Stratus host, and none was found that functions in the "
                f"{self.sandbox} sandbox can run (see `stratus runtimes`).")

    def _strict_reason(self, runtime: str) -> str:
        return (f"{found.wanted_label(runtime)} was not found for the {self.sandbox} sandbox, and strict runtimes "
                "(STRATUS_STRICT_RUNTIMES) forbid running it on another version")

"""How environments of a function version are started: its record turned into an EnvironmentSpec.

This is invoke and sandbox knowledge (where code, runtime and layers appear to the function, which
variables Lambda sets); control/ hands a record over and gets a spec back, cached per
(function, version, code revision) so that a warm invoke finds it with one dict lookup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from stratus.config import Settings
from stratus.errors import InvalidRuntimeException
from stratus.invoke import endpoints
from stratus.invoke.types import EnvironmentSpec
from stratus.runtime import runtimes, sdks
from stratus.runtime.catalog import RuntimeCatalog
from stratus.runtime.interpreters import Interpreter
from stratus.runtime.runtimes import RuntimeUnavailable
from stratus.shapes.function import FunctionRecord, LoggingConfig, layer_arns

T = TypeVar("T")


class SandboxPaths(Protocol):
    """Where host folders appear inside an environment (the sandbox decides)."""

    def visible_paths(self, task_root: Path, runtime_dir: Path) -> tuple[str, str]:
        """Where the code and the runtime appear to the function (e.g. /var/task, /var/runtime)."""
        ...

    def visible_opt(self, opt_dir: Path) -> str:
        """Where the merged layers folder appears to the function (/opt when namespaced)."""
        ...

    def visible_sdk(self, sdk_dir: Path) -> str:
        """Where a runtime SDK folder (runtime.sdk_dir) appears to the function."""
        ...

    def stratus_endpoint(self, local_url: str) -> str:
        """Stratus's API as a function reaches it, given the server's own loopback URL."""
        ...


OptDir = Callable[[list[str]], Path | None]  # layer version ARNs, in order → their merged folder
Prepare = Callable[[str, list[str]], None]  # (code sha256 hex, layer version ARNs): check, heal or raise


class EnvironmentSpecs:
    """Builds the EnvironmentSpec of a function version's record, once per code revision."""

    def __init__(self, settings: Settings, code_dir: Path, sandbox: SandboxPaths, opt_dir: OptDir,
                 prepare: Prepare | None = None, catalog: RuntimeCatalog | None = None):
        self.settings = settings
        self.catalog = catalog  # which interpreter serves each runtime (None: the server's own Python)
        self.code_dir = code_dir  # unpacked code, one folder per zip's sha256
        self.sandbox = sandbox
        self.opt_dir = opt_dir
        self.prepare = prepare  # checks a version's code and layers before an environment starts
        self._specs: dict[tuple[str, str | None, str], EnvironmentSpec] = {}
        self.sdk_root = sdks.sdk_root(settings.runtime_sdk_dir)
        # AWS_ENDPOINT_URL_*: Stratus's own services and STRATUS_SERVICE_ENDPOINTS (invoke/endpoints.py).
        self.endpoints = endpoints.endpoint_variables(sandbox.stratus_endpoint(settings.local_endpoint),
                                                      settings.service_endpoint_map())

    def of(self, record: FunctionRecord) -> EnvironmentSpec:
        """The spec environments of this record's current revision start from (built once, then cached)."""
        spec = self._specs.get((record.name, record.config.Version, record.environment_revision))
        if spec is None:
            spec = self._build(record)
            self.forget(spec.function_name, spec.version)  # an older revision's spec is not needed again
            self._specs[spec.pool_key] = spec
        return spec

    def forget(self, function_name: str, version: str | None = None) -> None:
        """Drop the cached specs of a function (all its versions, or one)."""
        self._specs = {key: spec for key, spec in self._specs.items()
                       if key[0] != function_name or (version is not None and key[1] != version)}

    def _build(self, record: FunctionRecord) -> EnvironmentSpec:
        config = record.config
        runtime, handler, version = _given(config.Runtime), _given(config.Handler), _given(config.Version)
        task_root = self.code_dir / record.code_sha256_hex
        runtime_dir = runtimes.runtime_dir(runtime)
        visible_task_root, visible_runtime_dir = self.sandbox.visible_paths(task_root, runtime_dir)
        interpreter, warning = self._interpreter(runtime)
        launch = runtimes.launch(runtime, visible_runtime_dir, visible_task_root,
                                 interpreter.path if interpreter is not None else "")
        opt_dir = self.opt_dir(layer_arns(config)) if config.Layers else None
        argv = launch.argv
        missing_entrypoint = ""
        if runtime in runtimes.PROVIDED_RUNTIMES and opt_dir is not None and _layer_bootstrap(task_root, opt_dir):
            argv = (f"{self.sandbox.visible_opt(opt_dir)}/bootstrap",)  # Lambda looks in /opt after /var/task
        elif runtime in runtimes.PROVIDED_RUNTIMES and not (task_root / "bootstrap").exists():
            missing_entrypoint = f"Couldn't find valid bootstrap(s): [{visible_task_root}/bootstrap /opt/bootstrap]"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LD_LIBRARY_PATH": f"{visible_task_root}:{visible_task_root}/lib:/opt/lib",
        }
        env.update(launch.env)
        env.update(self.endpoints)  # before the function's own variables: a variable it sets wins
        env.update((config.Environment.Variables or {}) if config.Environment else {})
        sdk_dir = sdks.sdk_dir(runtime, self.sdk_root)
        if sdk_dir is not None:
            _add_sdk(env, runtime, self.sandbox.visible_sdk(sdk_dir))
        region = self.settings.region
        logging = config.LoggingConfig or LoggingConfig()
        log_group = logging.LogGroup or f"/aws/lambda/{record.name}"
        if logging.LogFormat == "JSON":  # as on AWS: set for JSON (advanced logging controls) only
            env.update({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": logging.ApplicationLogLevel or "INFO"})
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": record.name,
            "AWS_LAMBDA_FUNCTION_VERSION": version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.MemorySize),
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": visible_task_root,
            "LAMBDA_RUNTIME_DIR": visible_runtime_dir,
        })
        return EnvironmentSpec(
            function_name=record.name, function_arn=_given(config.FunctionArn), version=version,
            revision_id=record.environment_revision, runtime=runtime, handler=handler,
            memory_mb=_given(config.MemorySize), timeout_s=_given(config.Timeout),
            ephemeral_storage_mb=config.EphemeralStorage.Size if config.EphemeralStorage else 512,
            task_root=task_root, runtime_dir=runtime_dir, argv=argv, env=env, region=region,
            opt_dir=opt_dir, role=config.Role or "", sdk_dir=sdk_dir,
            interpreter_prefix=interpreter.prefix if interpreter else "", init_warning=warning,
            missing_entrypoint=missing_entrypoint,
            prepare=functools.partial(self.prepare, record.code_sha256_hex, layer_arns(config))
            if self.prepare is not None else None,
            log_group=log_group, log_format=logging.LogFormat or "Text",
            application_log_level=logging.ApplicationLogLevel or "INFO",
            system_log_level=logging.SystemLogLevel or "INFO",
            snap_start=version != "$LATEST" and config.SnapStart is not None
            and config.SnapStart.OptimizationStatus == "On",
        )

    def _interpreter(self, runtime: str) -> tuple[Interpreter | None, str]:
        """The interpreter of `runtime`'s environments and their INIT warning; InvalidRuntimeException (as AWS
        answers an invoke of a runtime it cannot run) when this host has none it may use."""
        if self.catalog is None:
            return None, ""
        try:
            return self.catalog.interpreter_for(runtime)
        except RuntimeUnavailable as exc:
            raise InvalidRuntimeException(f"The runtime or runtime version specified is not supported. {exc}") \
                from None


def _add_sdk(env: dict[str, str], runtime: str, visible: str) -> None:
    """The runtime's SDK goes last on the search path, after the code's and the layers' own folders, as
    on AWS (Python: PYTHONPATH, which Python puts after them and before the standard library; Node:
    NODE_PATH). Appended to a search path the function sets itself, so it keeps the SDK."""
    variable = "PYTHONPATH" if runtime in runtimes.PYTHON_RUNTIMES else "NODE_PATH"
    env[variable] = f"{env[variable]}:{visible}" if env.get(variable) else visible


def _given(value: T | None) -> T:
    """A configuration member every stored function has (the API sets it at CreateFunction)."""
    if value is None:
        raise ValueError("a stored function configuration lacks a member Lambda always sets")
    return value


def _layer_bootstrap(task_root: Path, opt_dir: Path) -> bool:
    """A custom runtime's bootstrap comes from the layers when the code has none."""
    return not (task_root / "bootstrap").exists() and (opt_dir / "bootstrap").is_file()

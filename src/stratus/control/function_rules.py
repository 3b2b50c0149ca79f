"""Lambda's rules on a function's configuration values, in AWS's words (no state, no I/O)."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import botocore.session
import msgspec

from stratus.config import Settings
from stratus.control.tags import MAX_TAGS, check_tags
from stratus.errors import InvalidParameterValueException, PreconditionFailedException, ValidationException
from stratus.runtime import runtimes
from stratus.runtime.catalog import RuntimeCatalog
from stratus.shapes import (
    CreateFunctionRequest,
    EnvironmentResponse,
    EphemeralStorage,
    FunctionRecord,
    RuntimeVersionConfig,
    TracingConfig,
    UpdateFunctionConfigurationRequest,
)

MAX_NAME_LENGTH = 64

# Keys Lambda sets itself and refuses in a function's Environment.Variables.
RESERVED_ENV_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})


def check_name_length(name: str, reference: str) -> None:
    """CreateFunction's cap on the name itself (the model allows 140 for the whole ARN). AWS words it as a
    validation error, but answers a bare name with InvalidParameterValueException (its recordings show it)."""
    if len(name) > MAX_NAME_LENGTH:
        message = (f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
                   f"Member must have length less than or equal to {MAX_NAME_LENGTH}")
        raise InvalidParameterValueException(message) if reference == name else ValidationException(message)


def check_revision(record: FunctionRecord, revision_id: str | None) -> None:
    if revision_id and revision_id != record.config.RevisionId:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")


def check_unsupported(file_systems: list[dict[str, Any]] | None, image_config: dict[str, Any] | None) -> None:
    if file_systems:
        raise InvalidParameterValueException("FileSystemConfigs (EFS) are not supported by Stratus.")
    if image_config:
        raise InvalidParameterValueException(
            "ImageConfig applies to container image functions, which Stratus does not support.")


# The runtimes AWS lets one create or update functions with, in the order its error message lists them
# (recorded answers of CreateFunction with an unknown runtime); botocore's enum also has the deprecated ones.
AWS_CREATABLE_RUNTIMES = (
    "nodejs20.x", "python3.14", "provided.al2023", "python3.12", "python3.13", "nodejs24.x", "nodejs22.x", "java25",
    "python3.10", "python3.11", "java21", "ruby3.3", "ruby3.4", "ruby3.2", "python3.8", "python3.9", "java17",
    "nodejs16.x", "dotnet10", "dotnet8", "java11", "dotnet6", "nodejs18.x", "provided.al2", "java8.al2")


def check_runtime(runtime: str, catalog: RuntimeCatalog | None = None) -> None:
    """A runtime AWS accepts (AWS's errors for an unknown or deprecated one), Stratus serves, and (with the
    server's catalog) this host may run functions of."""
    if runtime not in AWS_CREATABLE_RUNTIMES:
        if runtime in _model_runtimes():
            raise InvalidParameterValueException(
                f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
                "functions. We recommend you use a supported runtime while creating or updating functions.")
        raise InvalidParameterValueException(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(AWS_CREATABLE_RUNTIMES)}] or be a valid ARN")
    if runtime not in runtimes.supported_runtimes():
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is not supported by Stratus. "
            f"Supported runtimes: {', '.join(runtimes.supported_runtimes())}.")
    if catalog is None:
        return
    try:
        catalog.check_usable(runtime)
    except runtimes.RuntimeUnavailable as exc:
        raise InvalidParameterValueException(str(exc)) from None


@functools.cache
def _model_runtimes() -> frozenset[str]:
    """Every runtime name botocore's model knows (the deprecated ones included)."""
    return frozenset(botocore.session.get_session().get_service_model("lambda").shape_for("Runtime").enum)


def check_create(request: CreateFunctionRequest, catalog: RuntimeCatalog | None = None) -> tuple[str, str]:
    """CreateFunction's checks before any value is looked at: (runtime, handler)."""
    if request.PackageType == "Image" or request.Code.ImageUri:
        raise InvalidParameterValueException(
            "Container image functions (PackageType Image / Code.ImageUri) are not supported by Stratus; "
            "deploy a .zip archive in Code.ZipFile.")
    check_unsupported(request.FileSystemConfigs, request.ImageConfig)
    if not request.Runtime or not request.Handler:
        raise InvalidParameterValueException(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
    check_runtime(request.Runtime, catalog)
    if request.Tags:
        check_tags(request.Tags)
        if len(request.Tags) > MAX_TAGS:
            raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")
    return request.Runtime, request.Handler


class FunctionRules:
    """The checks whose limits are settings (AWS's defaults): each returns the value to store."""

    def __init__(self, settings: Settings, catalog: RuntimeCatalog | None = None):
        self.settings = settings
        self.catalog = catalog  # the runtimes this host can run (None: every runtime name is accepted)

    def total_size(self, code_unzipped: int, layers_unzipped: int) -> None:
        limit = self.settings.unzipped_code_max_bytes
        if code_unzipped + layers_unzipped > limit:
            raise InvalidParameterValueException(
                f"Function code combined with layers exceeds the maximum allowed size of {limit} bytes. "
                f"The actual size is {code_unzipped + layers_unzipped} bytes.")

    def timeout(self, timeout: int | None) -> int:
        if timeout is None:
            return self.settings.default_timeout_s
        if not 1 <= timeout <= self.settings.max_timeout_s:
            raise InvalidParameterValueException(
                f"Timeout must be between 1 and {self.settings.max_timeout_s} seconds; got {timeout}.")
        return timeout

    def memory(self, memory: int | None) -> int:
        settings = self.settings
        if memory is None:
            return settings.default_memory_mb
        if not settings.min_memory_mb <= memory <= settings.max_memory_mb:
            raise InvalidParameterValueException(
                f"'MemorySize' value failed to satisfy constraint: Member must have value between "
                f"{settings.min_memory_mb} and {settings.max_memory_mb}; got {memory}.")
        return memory

    def storage(self, storage: EphemeralStorage | None) -> int:
        settings = self.settings
        if storage is None:
            return settings.default_ephemeral_storage_mb
        if not 512 <= storage.Size <= settings.max_ephemeral_storage_mb:
            raise InvalidParameterValueException(
                f"EphemeralStorage.Size must be between 512 and {settings.max_ephemeral_storage_mb} MB.")
        return storage.Size

    def environment(self, variables: dict[str, str] | None) -> dict[str, str] | None:
        if variables is None:
            return None
        reserved = sorted(key for key in variables if key in RESERVED_ENV_KEYS)
        if reserved:
            raise InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the environment variables you "
                "have provided contains reserved keys that are currently not supported for modification. "
                f"Reserved keys used in this request: {', '.join(reserved)}")
        measured = msgspec.json.encode(variables)
        if len(measured) > self.settings.env_vars_max_bytes:
            raise InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the environment variables you "
                f"have provided exceeded the 4KB limit. String measured: {measured.decode()}")
        return dict(variables)

    def runtime_version(self, runtime: str) -> RuntimeVersionConfig:
        """The RuntimeVersionConfig a function of `runtime` reports (control/runtime_management.py)."""
        return RuntimeVersionConfig(RuntimeVersionArn=runtime_version_arn(self.settings.region, runtime))

    def configuration_changes(self, request: UpdateFunctionConfigurationRequest) -> dict[str, Any]:
        """The members UpdateFunctionConfiguration changes besides Layers, checked, as configuration values."""
        changes: dict[str, Any] = {}
        if request.Runtime is not None:
            check_runtime(request.Runtime, self.catalog)
            changes["Runtime"] = request.Runtime
            changes["RuntimeVersionConfig"] = self.runtime_version(request.Runtime)
        if request.Handler is not None:
            changes["Handler"] = request.Handler
        if request.Timeout is not None:
            changes["Timeout"] = self.timeout(request.Timeout)
        if request.MemorySize is not None:
            changes["MemorySize"] = self.memory(request.MemorySize)
        if request.EphemeralStorage is not None:
            changes["EphemeralStorage"] = EphemeralStorage(Size=self.storage(request.EphemeralStorage))
        if request.Environment is not None:
            changes["Environment"] = EnvironmentResponse(
                Variables=self.environment(request.Environment.Variables or {}))
        if request.Description is not None:
            changes["Description"] = request.Description
        if request.Role is not None:
            changes["Role"] = request.Role
        if request.KMSKeyArn is not None:
            changes["KMSKeyArn"] = request.KMSKeyArn or None
        if request.TracingConfig is not None:
            changes["TracingConfig"] = TracingConfig(Mode=request.TracingConfig.Mode or "PassThrough")
        if request.DeadLetterConfig is not None:
            changes["DeadLetterConfig"] = request.DeadLetterConfig if request.DeadLetterConfig.TargetArn else None
        return changes


def runtime_version_arn(region: str, runtime: str) -> str:
    """The ARN of the one runtime version a Stratus runtime has, in AWS's form (stable for a runtime name)."""
    return f"arn:aws:lambda:{region}::runtime:{hashlib.sha256(f'stratus:{runtime}'.encode()).hexdigest()}"

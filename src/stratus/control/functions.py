"""Functions: create, read, update, delete, with Lambda's rules; the store is the record, this the judge.

Every function's record is also kept in memory (loaded at start, updated on each write) so the
invoke path resolves a function without touching the store.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
import time
import uuid
from pathlib import Path

import msgspec

from stratus.config import Settings
from stratus.control.names import Arns
from stratus.control.paging import DEFAULT_MAX_ITEMS, decode_marker, encode_marker, paginate
from stratus.control.secrets import EnvironmentSealer, load_key
from stratus.control.tags import MAX_TAGS, check_tags
from stratus.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    RequestEntityTooLargeException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from stratus.invoke.types import EnvironmentSpec, Target
from stratus.timestamps import lambda_time
from stratus.runtime import runtimes
from stratus.shapes import (
    AccountLimit,
    AccountUsage,
    AliasConfiguration,
    CreateFunctionRequest,
    EnvironmentResponse,
    EphemeralStorage,
    FunctionConfiguration,
    FunctionRecord,
    GetAccountSettingsResponse,
    ListVersionsByFunctionResponse,
    LoggingConfig,
    PublishVersionRequest,
    TracingConfig,
    UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
)
from stratus.store.base import FunctionAlreadyExists, Store
from stratus.store.blobs import BadZip, BlobStore, zip_names, zip_unpacked_size

LATEST = "$LATEST"
MAX_NAME_LENGTH = 64
_decode_record = msgspec.json.Decoder(FunctionRecord).decode
_decode_alias = msgspec.json.Decoder(AliasConfiguration).decode


def version_key(name: str, version: int | str) -> str:
    """A version's document key: zero-padded, so versions sort numerically."""
    return f"{name}:{int(version):010d}"


def is_version_number(qualifier: str) -> bool:
    return qualifier.isdigit()

# Keys Lambda sets itself and refuses in a function's Environment.Variables.
RESERVED_ENV_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})


class CodePackage(msgspec.Struct):
    sha256_hex: str
    sha256_b64: str
    size: int
    unpacked_size: int
    root: Path


class FunctionService:
    """The rules for functions; every public method is one API operation.

    Other resources of a function (versions, aliases, policies, concurrency, ...) are store documents
    keyed `"<function name>:..."`; their kinds are listed in `owned_kinds` so that deleting the
    function deletes them in the same transaction.
    """

    def __init__(self, settings: Settings, store: Store, blobs: BlobStore, invoker, sandbox, layers):
        self.settings = settings
        self.sandbox = sandbox
        self.store = store
        self.blobs = blobs
        self.invoker = invoker
        self.layers = layers  # LayerService: its attach() checks a function's Layers and merges its /opt
        self.arns = Arns(settings.region, settings.account_id)
        self.sealer = EnvironmentSealer(load_key(settings.encryption_key, settings.key_path))
        self._records: dict[str, FunctionRecord] = {}
        self.versions: dict[str, dict[str, FunctionRecord]] = {}  # name → version number → record
        self.aliases: dict[str, dict[str, AliasConfiguration]] = {}  # name → alias name → alias
        self._specs: dict[tuple[str, str, str], EnvironmentSpec] = {}
        self._lock = asyncio.Lock()
        self.owned_kinds: list[str] = ["version", "alias"]  # other services append theirs
        # async (function name, qualifier) callbacks run when a version or alias is deleted (lock held):
        # what hangs off a qualifier (its policy, provisioned concurrency) goes with it.
        self.on_qualifier_deleted: list = []

    async def load(self) -> None:
        """Read every function, version and alias into memory (at start-up)."""
        for stored in await self.store.all_functions():
            record = self.sealer.open(stored)
            self._records[record.name] = record
            if stored.sealed_environment is None and record.config.Environment is not None \
                    and record.config.Environment.Variables is not None:
                await self.store.replace_function(self.sealer.seal(record))  # stored before sealing existed
        for _, body in await self.store.list_documents("version"):
            version = self.sealer.open(_decode_record(body))
            self.versions.setdefault(version.name, {})[version.config.Version] = version
        for record in [*self._records.values(), *(v for vs in self.versions.values() for v in vs.values())]:
            if record.config.Layers:  # merged off the event loop now, not on a first invoke
                await asyncio.to_thread(self.layers.opt_dir, layer_arns(record.config))
        for key, body in await self.store.list_documents("alias"):
            function_name, _, alias_name = key.partition(":")
            self.aliases.setdefault(function_name, {})[alias_name] = _decode_alias(body)

    # ------------------------------------------------------------------ lookups
    def route(self, reference: str, qualifier: str | None = None) -> tuple[FunctionRecord, str, str | None]:
        """What an invoke of FunctionName (+ Qualifier) runs: (version's record, version, qualifier invoked).

        An alias picks between its versions by their weights. ResourceNotFoundException if none.
        """
        name, qualifier = self.arns.resolve(reference, qualifier)
        record = self._records.get(name)
        if record is not None and qualifier in (None, LATEST):
            return record, LATEST, qualifier
        record, alias = self._qualified(name, qualifier)
        if alias is not None:
            version = alias.FunctionVersion
            weights = alias.RoutingConfig.AdditionalVersionWeights if alias.RoutingConfig else None
            if weights:
                (extra, weight), = weights.items()
                if random.random() < weight:
                    version = extra
            record = self._records[name] if version == LATEST else self.versions[name][version]
        return record, record.config.Version, qualifier

    def target(self, reference: str, qualifier: str | None = None) -> Target:
        """The invoke Target FunctionName (+ Qualifier) names (see `route`); ResourceNotFoundException if none."""
        record, _, qualifier = self.route(reference, qualifier)
        return self.target_of(record, qualifier)

    def target_of(self, record: FunctionRecord, qualifier: str | None) -> Target:
        """The invoke Target of a version's record that `route` chose for `qualifier`."""
        return Target(record.name, qualifier, record.config.Version, self.arns.function(record.name, qualifier),
                      self.environment_spec(record))

    def lookup(self, reference: str, qualifier: str | None = None) -> tuple[FunctionRecord, str | None, AliasConfiguration | None]:
        """(record, qualifier, alias) that FunctionName (+ Qualifier) names; ResourceNotFoundException if none.

        For an alias the record is its main version's. The qualifier is None when none was given.
        """
        name, qualifier = self.arns.resolve(reference, qualifier)
        record, alias = self._qualified(name, qualifier)
        return record, qualifier, alias

    def _versions_in_order(self, name: str) -> list[FunctionRecord]:
        """A function's published versions, by number."""
        return [record for _, record in sorted(self.versions.get(name, {}).items(), key=lambda item: int(item[0]))]

    def _qualified(self, name: str, qualifier: str | None) -> tuple[FunctionRecord, AliasConfiguration | None]:
        latest = self._records.get(name)
        if latest is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        if qualifier in (None, LATEST):
            return latest, None
        if is_version_number(qualifier):
            version = self.versions.get(name, {}).get(str(int(qualifier)))
            if version is None:
                raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
            return version, None
        alias = self.aliases.get(name, {}).get(qualifier)
        if alias is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        target = latest if alias.FunctionVersion == LATEST else self.versions[name][alias.FunctionVersion]
        return target, alias

    def environment_spec(self, record: FunctionRecord) -> EnvironmentSpec:
        """How environments of this function's current revision are started (cached per revision)."""
        config = record.config
        key = (record.name, config.Version, record.environment_revision)
        spec = self._specs.get(key)
        if spec is not None:
            return spec
        settings = self.settings
        task_root = self.blobs.code_dir / record.code_sha256_hex
        runtime_dir = runtimes.runtime_dir(config.Runtime)
        visible_task_root, visible_runtime_dir = self.sandbox.visible_paths(task_root, runtime_dir)
        launch = runtimes.launch(config.Runtime, visible_runtime_dir, visible_task_root, settings.python_interpreter)
        opt_dir = self.layers.opt_dir(layer_arns(config)) if config.Layers else None
        argv = launch.argv
        if config.Runtime in runtimes.PROVIDED_RUNTIMES and _layer_bootstrap(task_root, opt_dir):
            argv = (f"{self.sandbox.visible_opt(opt_dir)}/bootstrap",)  # Lambda looks in /opt after /var/task
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LD_LIBRARY_PATH": f"{visible_task_root}:{visible_task_root}/lib:/opt/lib",
        }
        env.update(launch.env)
        env.update((config.Environment.Variables or {}) if config.Environment else {})
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": record.name,
            "AWS_LAMBDA_FUNCTION_VERSION": config.Version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.MemorySize),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{record.name}",
            "AWS_REGION": settings.region,
            "AWS_DEFAULT_REGION": settings.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.Runtime}",
            "_HANDLER": config.Handler,
            "LAMBDA_TASK_ROOT": visible_task_root,
            "LAMBDA_RUNTIME_DIR": visible_runtime_dir,
        })
        spec = EnvironmentSpec(
            function_name=record.name, function_arn=config.FunctionArn, version=config.Version,
            revision_id=record.environment_revision, runtime=config.Runtime, handler=config.Handler,
            memory_mb=config.MemorySize, timeout_s=config.Timeout,
            ephemeral_storage_mb=config.EphemeralStorage.Size if config.EphemeralStorage else 512,
            task_root=task_root, runtime_dir=runtime_dir, argv=argv, env=env, region=settings.region,
            opt_dir=opt_dir,
        )
        self._specs = {k: v for k, v in self._specs.items() if k[:2] != key[:2]}
        self._specs[key] = spec
        return spec

    # ------------------------------------------------------------------ operations
    async def create(self, request: CreateFunctionRequest) -> FunctionConfiguration:
        name, qualifier = self.arns.resolve(request.FunctionName)
        if len(name) > MAX_NAME_LENGTH:  # the model allows 140 for the whole ARN; the name itself is capped
            raise ValidationException(
                f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_NAME_LENGTH}")
        if qualifier:
            raise InvalidParameterValueException("Function name cannot contain a version or alias qualifier.")
        async with self._lock:
            if name in self._records:
                raise ResourceConflictException(f"Function already exist: {name}")
            if request.PackageType == "Image" or request.Code.ImageUri:
                raise InvalidParameterValueException(
                    "Container image functions (PackageType Image / Code.ImageUri) are not supported by Stratus; "
                    "deploy a .zip archive in Code.ZipFile.")
            self._check_unsupported(request.FileSystemConfigs, request.ImageConfig)
            if not request.Runtime or not request.Handler:
                raise InvalidParameterValueException(
                    "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
            self._check_runtime(request.Runtime)
            if request.Tags:
                check_tags(request.Tags)
                if len(request.Tags) > MAX_TAGS:
                    raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")
            timeout = self._check_timeout(request.Timeout)
            memory = self._check_memory(request.MemorySize)
            storage = self._check_storage(request.EphemeralStorage)
            variables = self._check_environment(request.Environment.Variables if request.Environment else None)
            zip_bytes = self._zip_from_code(request.Code.ZipFile, request.Code.S3Bucket, request.Code.S3Key)
            attached = await self.layers.attach_async(request.Layers or [])
            package = await asyncio.to_thread(self._store_code, zip_bytes, request.Runtime, request.Handler,
                                              attached.opt_dir)
            self._check_total_size(package.unpacked_size, attached.unzipped_size)
            config = FunctionConfiguration(
                FunctionName=name,
                FunctionArn=self.arns.function(name),
                Runtime=request.Runtime,
                Role=request.Role,
                Handler=request.Handler,
                CodeSize=package.size,
                Description=request.Description or "",
                Timeout=timeout,
                MemorySize=memory,
                LastModified=lambda_time(),
                CodeSha256=package.sha256_b64,
                Version=LATEST,
                Environment=EnvironmentResponse(Variables=variables) if variables is not None else None,
                KMSKeyArn=request.KMSKeyArn or None,
                TracingConfig=TracingConfig(Mode=(request.TracingConfig.Mode if request.TracingConfig else None) or "PassThrough"),
                DeadLetterConfig=request.DeadLetterConfig,
                RevisionId=str(uuid.uuid4()),
                State="Active",
                LastUpdateStatus="Successful",
                PackageType="Zip",
                Architectures=request.Architectures or ["x86_64"],
                EphemeralStorage=EphemeralStorage(Size=storage),
                LoggingConfig=LoggingConfig(LogFormat="Text", LogGroup=f"/aws/lambda/{name}"),
                Layers=msgspec.to_builtins(attached.layers) or None,
            )
            record = FunctionRecord(
                name=name, config=config, code_sha256_hex=package.sha256_hex,
                unzipped_size=package.unpacked_size, tags=request.Tags or {}, created_ms=int(time.time() * 1000),
            )
            try:
                await self.store.insert_function(self.sealer.seal(record))
            except FunctionAlreadyExists:
                raise ResourceConflictException(f"Function already exist: {name}") from None
            self._records[name] = record
            if request.Publish:
                return (await self._publish_locked(record, None)).config
            return config

    async def get(self, reference: str, qualifier: str | None) -> FunctionRecord:
        """The record FunctionName (+ Qualifier) names; for an alias, its version's with the alias's ARN."""
        record, qualifier, alias = self.lookup(reference, qualifier)
        if alias is not None:
            config = msgspec.structs.replace(record.config, FunctionArn=self.arns.function(record.name, alias.Name))
            return msgspec.structs.replace(record, config=config)
        return record

    async def list(self, marker: str | None, max_items: int | None,
                   all_versions: bool = False) -> tuple[list[FunctionConfiguration], str | None]:
        """ListFunctions: $LATEST of each function by name; with FunctionVersion=ALL, every version too."""
        if all_versions:
            entries = []
            for name in sorted(self._records):
                entries.append(self._records[name].config)
                entries += [version.config for version in self._versions_in_order(name)]
            return paginate(entries, marker, max_items, lambda config: f"{config.FunctionName}:{config.Version}")
        limit = max_items or DEFAULT_MAX_ITEMS
        after = decode_marker(marker) if marker else None
        records = await self.store.list_functions(after, limit + 1)
        next_marker = None
        if len(records) > limit:
            records = records[:limit]
            next_marker = encode_marker(records[-1].name)
        return [record.config for record in records], next_marker

    async def update_code(self, reference: str, request: UpdateFunctionCodeRequest) -> FunctionConfiguration:
        async with self._lock:
            record, qualifier = self._resolve_latest_for_update(reference)
            self._check_revision(record, request.RevisionId)
            if request.ImageUri:
                raise InvalidParameterValueException("Container image functions are not supported by Stratus.")
            zip_bytes = self._zip_from_code(request.ZipFile, request.S3Bucket, request.S3Key)
            config = record.config
            current_layers = layer_arns(config)
            attached = await self.layers.attach_async(current_layers, current_layers)
            package = await asyncio.to_thread(self._store_code, zip_bytes, config.Runtime, config.Handler,
                                              attached.opt_dir)
            self._check_total_size(package.unpacked_size, attached.unzipped_size)
            if request.DryRun:
                return msgspec.structs.replace(config, CodeSha256=package.sha256_b64, CodeSize=package.size)
            new_config = msgspec.structs.replace(
                config, CodeSha256=package.sha256_b64, CodeSize=package.size, LastModified=lambda_time(),
                RevisionId=str(uuid.uuid4()), LastUpdateStatus="Successful",
                Architectures=request.Architectures or config.Architectures,
            )
            new_record = msgspec.structs.replace(
                record, config=new_config, code_sha256_hex=package.sha256_hex, unzipped_size=package.unpacked_size)
            await self._save(new_record)
            if request.Publish:
                return (await self._publish_locked(new_record, None)).config
            return new_config

    async def publish_version(self, reference: str, request: PublishVersionRequest) -> FunctionConfiguration:
        """PublishVersion: an immutable snapshot of $LATEST's code and configuration."""
        async with self._lock:
            record, _ = self._resolve_latest_for_update(reference)
            self._check_revision(record, request.RevisionId)
            if request.CodeSha256 and request.CodeSha256 != record.config.CodeSha256:
                # AWS answers a stale CodeSha256 with InvalidParameterValueException (RevisionId: 412).
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({request.CodeSha256}) is different from current CodeSHA256 in $LATEST "
                    f"({record.config.CodeSha256}). Please try again with the CodeSHA256 in $LATEST.")
            if request.PublishTo:
                raise InvalidParameterValueException("PublishTo (LATEST_PUBLISHED) applies to capacity-provider "
                                                     "functions, which Stratus does not support.")
            return (await self._publish_locked(record, request.Description)).config

    async def _publish_locked(self, record: FunctionRecord, description: str | None) -> FunctionRecord:
        """Publish $LATEST (the lock is held); nothing changed since the last version → that version."""
        name = record.name
        last = self.versions.get(name, {}).get(str(record.last_version))
        if last is not None and last.published_from == record.environment_revision:
            return last
        number = record.last_version + 1
        config = msgspec.structs.replace(
            record.config, Version=str(number), FunctionArn=self.arns.function(name, str(number)),
            RevisionId=str(uuid.uuid4()), LastModified=lambda_time(),
            Description=record.config.Description if description is None else description,
        )
        version = msgspec.structs.replace(record, config=config, last_version=0, code_revision=None,
                                          published_from=record.environment_revision)
        latest = msgspec.structs.replace(record, last_version=number)
        await self.store.apply(functions=[self.sealer.seal(latest)],
                               puts=[("version", version_key(name, number),
                                      msgspec.json.encode(self.sealer.seal(version)))])
        self._records[name] = latest
        self.versions.setdefault(name, {})[str(number)] = version
        return version

    async def list_versions(self, reference: str, marker: str | None,
                            max_items: int | None) -> ListVersionsByFunctionResponse:
        """ListVersionsByFunction: $LATEST (with its qualified ARN), then each version in order."""
        name, qualifier = self.arns.resolve(reference)
        latest = self._records.get(name)
        if latest is None or qualifier is not None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        entries = [msgspec.structs.replace(latest.config, FunctionArn=self.arns.function(name, LATEST))]
        entries += [version.config for version in self._versions_in_order(name)]
        page, next_marker = paginate(entries, marker, max_items, lambda config: config.Version)
        return ListVersionsByFunctionResponse(Versions=page, NextMarker=next_marker)

    async def update_configuration(self, reference: str,
                                   request: UpdateFunctionConfigurationRequest) -> FunctionConfiguration:
        async with self._lock:
            record, _ = self._resolve_latest_for_update(reference)
            self._check_revision(record, request.RevisionId)
            self._check_unsupported(request.FileSystemConfigs, request.ImageConfig)
            config = record.config
            changes: dict = {}
            if request.Layers is not None:
                current_layers = layer_arns(config)
                attached = await self.layers.attach_async(request.Layers, current_layers)
                self._check_total_size(record.unzipped_size, attached.unzipped_size)
                changes["Layers"] = msgspec.to_builtins(attached.layers) or None
            if request.Runtime is not None:
                self._check_runtime(request.Runtime)
                changes["Runtime"] = request.Runtime
            if request.Handler is not None:
                changes["Handler"] = request.Handler
            if request.Timeout is not None:
                changes["Timeout"] = self._check_timeout(request.Timeout)
            if request.MemorySize is not None:
                changes["MemorySize"] = self._check_memory(request.MemorySize)
            if request.EphemeralStorage is not None:
                changes["EphemeralStorage"] = EphemeralStorage(Size=self._check_storage(request.EphemeralStorage))
            if request.Environment is not None:
                variables = self._check_environment(request.Environment.Variables or {})
                changes["Environment"] = EnvironmentResponse(Variables=variables)
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
            changes.update(LastModified=lambda_time(), RevisionId=str(uuid.uuid4()), LastUpdateStatus="Successful")
            new_config = msgspec.structs.replace(config, **changes)
            await self._save(msgspec.structs.replace(record, config=new_config))
            return new_config

    async def delete(self, reference: str, qualifier: str | None) -> None:
        async with self._lock:
            name, qualifier = self.arns.resolve(reference, qualifier)
            if name not in self._records:
                raise ResourceNotFoundException(f"Function not found: {self.arns.function(name)}")
            if qualifier == LATEST:
                raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the function.")
            if qualifier is not None and not is_version_number(qualifier):
                raise InvalidParameterValueException("Deletion of aliases is not currently supported.")
            if qualifier is not None:
                await self._delete_version(name, str(int(qualifier)))
                return
            await self.store.delete_function(name, [(kind, f"{name}:") for kind in self.owned_kinds])
            del self._records[name]
            self.versions.pop(name, None)
            self.aliases.pop(name, None)
            self._specs = {k: v for k, v in self._specs.items() if k[0] != name}
            self.invoker.retire(name)

    def account_settings(self) -> GetAccountSettingsResponse:
        settings = self.settings
        # AWS counts deployment packages of $LATEST and every version, and layer archives.
        total_code = sum(record.config.CodeSize for record in self._records.values()) + sum(
            version.config.CodeSize for versions in self.versions.values() for version in versions.values()
        ) + self.layers.total_code_size()
        return GetAccountSettingsResponse(
            AccountLimit=AccountLimit(
                TotalCodeSize=80530636800,
                CodeSizeUnzipped=settings.unzipped_code_max_bytes,
                CodeSizeZipped=settings.zip_direct_upload_max_bytes,
                ConcurrentExecutions=settings.account_concurrency_limit,
                UnreservedConcurrentExecutions=self.invoker.concurrency.unreserved(),
            ),
            AccountUsage=AccountUsage(TotalCodeSize=total_code, FunctionCount=len(self._records)),
        )

    # ------------------------------------------------------------------ rules
    def _resolve_latest_for_update(self, reference: str) -> tuple[FunctionRecord, str]:
        name, qualifier = self.arns.resolve(reference)
        record = self._records.get(name)
        if record is None or qualifier not in (None, LATEST):
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        return record, LATEST

    @property
    def lock(self) -> asyncio.Lock:
        """Held by every operation that reads then writes a function's records (one writer at a time)."""
        return self._lock

    async def save_record(self, record: FunctionRecord, new_revision: bool = False) -> None:
        """Store a changed $LATEST record that does not change how it runs (tags, ...); hold `lock`.

        `new_revision`: the change gets a new RevisionId (as tagging does on AWS), while environments
        keep running (they follow the code revision)."""
        if new_revision:
            record = msgspec.structs.replace(
                record, code_revision=record.environment_revision,
                config=msgspec.structs.replace(record.config, RevisionId=str(uuid.uuid4())))
        await self.store.replace_function(self.sealer.seal(record))
        self._records[record.name] = record

    async def _delete_version(self, name: str, version: str) -> None:
        if version not in self.versions.get(name, {}):
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, version)}")
        users = sorted(alias.Name for alias in self.aliases.get(name, {}).values()
                       if alias.FunctionVersion == version or version in (
                           (alias.RoutingConfig.AdditionalVersionWeights or {}) if alias.RoutingConfig else {}))
        if users:
            raise ResourceConflictException(
                f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]")
        await self.store.apply(deletes=[("version", version_key(name, version))])
        del self.versions[name][version]
        self._specs = {k: v for k, v in self._specs.items() if k[:2] != (name, version)}
        self.invoker.retire(name, version=version)
        for forget in self.on_qualifier_deleted:
            await forget(name, version)

    async def _save(self, record: FunctionRecord) -> None:
        """Store a change to code or configuration: new environments from now on."""
        record = msgspec.structs.replace(record, code_revision=None)
        await self.store.replace_function(self.sealer.seal(record))
        self._records[record.name] = record
        self.invoker.retire(record.name, keep_revision=record.environment_revision, version=LATEST)

    @staticmethod
    def _check_revision(record: FunctionRecord, revision_id: str | None) -> None:
        if revision_id and revision_id != record.config.RevisionId:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")

    def _check_total_size(self, code_unzipped: int, layers_unzipped: int) -> None:
        limit = self.settings.unzipped_code_max_bytes
        if code_unzipped + layers_unzipped > limit:
            raise InvalidParameterValueException(
                f"Function code combined with layers exceeds the maximum allowed size of {limit} bytes. "
                f"The actual size is {code_unzipped + layers_unzipped} bytes.")

    @staticmethod
    def _check_unsupported(file_systems, image_config) -> None:
        if file_systems:
            raise InvalidParameterValueException("FileSystemConfigs (EFS) are not supported by Stratus.")
        if image_config:
            raise InvalidParameterValueException("ImageConfig applies to container image functions, which Stratus does not support.")

    @staticmethod
    def _check_runtime(runtime: str) -> None:
        if runtime not in runtimes.supported_runtimes():
            raise InvalidParameterValueException(
                f"The runtime parameter of {runtime} is not supported by Stratus. "
                f"Supported runtimes: {', '.join(runtimes.supported_runtimes())}.")
        try:
            runtimes.check_available(runtime)
        except runtimes.RuntimeUnavailable as exc:
            raise InvalidParameterValueException(str(exc)) from None

    def _check_timeout(self, timeout: int | None) -> int:
        if timeout is None:
            return self.settings.default_timeout_s
        if not 1 <= timeout <= self.settings.max_timeout_s:
            raise InvalidParameterValueException(
                f"Timeout must be between 1 and {self.settings.max_timeout_s} seconds; got {timeout}.")
        return timeout

    def _check_memory(self, memory: int | None) -> int:
        settings = self.settings
        if memory is None:
            return settings.default_memory_mb
        if not settings.min_memory_mb <= memory <= settings.max_memory_mb:
            raise InvalidParameterValueException(
                f"'MemorySize' value failed to satisfy constraint: Member must have value between "
                f"{settings.min_memory_mb} and {settings.max_memory_mb}; got {memory}.")
        return memory

    def _check_storage(self, storage: EphemeralStorage | None) -> int:
        settings = self.settings
        if storage is None:
            return settings.default_ephemeral_storage_mb
        if not 512 <= storage.Size <= settings.max_ephemeral_storage_mb:
            raise InvalidParameterValueException(
                f"EphemeralStorage.Size must be between 512 and {settings.max_ephemeral_storage_mb} MB.")
        return storage.Size

    def _check_environment(self, variables: dict[str, str] | None) -> dict[str, str] | None:
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

    def _zip_from_code(self, zip_b64: str | None, s3_bucket: str | None, s3_key: str | None) -> bytes:
        if s3_bucket or s3_key:
            raise InvalidParameterValueException(
                "Code from S3 (S3Bucket/S3Key) is not supported by Stratus yet; upload the .zip in ZipFile.")
        if not zip_b64:
            raise InvalidParameterValueException("Please provide a source for function code.")
        try:
            data = base64.b64decode(zip_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameterValueException("ZipFile is not valid base64.") from None
        if len(data) > self.settings.zip_direct_upload_max_bytes:
            raise RequestEntityTooLargeException(
                f"Request must be smaller than {self.settings.control_request_max_bytes} bytes for the operation")
        return data

    def _store_code(self, data: bytes, runtime: str, handler: str, opt_dir: Path | None = None) -> CodePackage:
        """Check, store and unpack a zip (blocking: runs in a worker thread); `opt_dir`: the function's
        layers, which may bring a custom runtime's bootstrap."""
        unpacked_size = checked_unzipped_size(data, self.settings.unzipped_code_max_bytes)
        present, wanted = runtimes.handler_file_present(runtime, handler, zip_names(data))
        if not present and runtime in runtimes.PROVIDED_RUNTIMES and opt_dir is not None:
            present = (opt_dir / "bootstrap").is_file()
        if not present:
            raise InvalidParameterValueException(
                f"The deployment package does not contain what handler '{handler}' needs: {wanted}.")
        sha_hex = self.blobs.put(data)
        try:
            root = self.blobs.unpacked(sha_hex)
        except BadZip as exc:
            raise InvalidParameterValueException(f"Could not unzip uploaded file: {exc}") from None
        digest = bytes.fromhex(sha_hex)
        return CodePackage(sha256_hex=sha_hex, sha256_b64=base64.b64encode(digest).decode(), size=len(data),
                           unpacked_size=unpacked_size, root=root)


def checked_unzipped_size(data: bytes, limit: int) -> int:
    """The unzipped size of a function or layer zip; InvalidParameterValueException (AWS's words) if it
    is not a zip or unpacks to more than `limit` bytes."""
    try:
        unpacked_size = zip_unpacked_size(data)
    except BadZip:
        raise InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again.") from None
    if unpacked_size > limit:
        raise InvalidParameterValueException(f"Unzipped size must be smaller than {limit} bytes")
    return unpacked_size


def _layer_bootstrap(task_root: Path, opt_dir: Path | None) -> bool:
    """A custom runtime's bootstrap comes from the layers when the code has none."""
    return opt_dir is not None and not (task_root / "bootstrap").exists() and (opt_dir / "bootstrap").is_file()


def layer_arns(config: FunctionConfiguration) -> list[str]:
    """The layer version ARNs of a configuration, in order."""
    return [layer["Arn"] for layer in config.Layers or []]

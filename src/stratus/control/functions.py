"""Functions: create, read, update, delete, publish, with Lambda's rules; the store is the record, this the judge.

Every record is also kept in memory (`FunctionRegistry`, loaded at start, updated on each write) so the
invoke path resolves a function without touching the store. The lookups (route, target, ...) are in
control/function_lookups.py, the rules on configuration values in control/function_rules.py, code
packages in control/code.py, and how a record becomes an EnvironmentSpec in invoke/specs.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from stratus.config import Settings
from stratus.control import function_rules as rules
from stratus.control import function_states as states
from stratus.control.code import CodePackages
from stratus.control.function_lookups import FunctionLookups
from stratus.control.layers import LayerService
from stratus.control.logging_config import merge_logging
from stratus.control.names import Arns, is_alias_name
from stratus.control.paging import DEFAULT_MAX_ITEMS, decode_marker, encode_marker, paginate
from stratus.control.ports import Environments
from stratus.control.registry import LATEST, FunctionRegistry, is_version_number, version_key
from stratus.control.secrets import EnvironmentSealer, load_key
from stratus.control.vpc import VpcConfigs
from stratus.errors import (
    InvalidParameterValueException,
    LambdaError,
    ResourceConflictException,
    ResourceNotFoundException,
)
from stratus.invoke.specs import EnvironmentSpecs, SandboxPaths
from stratus.runtime.catalog import RuntimeCatalog
from stratus.service_clients import ServiceClients
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
    PublishVersionRequest,
    TracingConfig,
    UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
    layer_arns,
)
from stratus.store.base import FunctionAlreadyExists, Store
from stratus.store.blobs import BlobStore
from stratus.timestamps import lambda_time

__all__ = ["LATEST", "FunctionService", "is_version_number", "version_key"]

_decode_record = msgspec.json.Decoder(FunctionRecord).decode
_decode_alias = msgspec.json.Decoder(AliasConfiguration).decode

QualifierDeleted = Callable[[str, str], Awaitable[None]]  # (function name, version or alias) → forget what hangs off it

log = logging.getLogger("stratus.functions")


class FunctionService(FunctionLookups):
    """The rules for functions; every public coroutine is one API operation (lookups: FunctionLookups).

    Other resources of a function (versions, aliases, policies, concurrency, ...) are store documents
    keyed `"<function name>:..."`; their kinds are listed in `owned_kinds` so that deleting the
    function deletes them in the same transaction.
    """

    def __init__(self, settings: Settings, store: Store, blobs: BlobStore, invoker: Environments,
                 sandbox: SandboxPaths, layers: LayerService, catalog: RuntimeCatalog):
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.invoker = invoker
        self.layers = layers  # its attach() checks a function's Layers and merges its /opt
        self.arns = Arns(settings.region, settings.account_id)
        self.registry = FunctionRegistry(self.arns)
        self.specs = EnvironmentSpecs(settings, blobs.code_dir, sandbox, layers.opt_dir, self._prepare_code, catalog)
        self.rules = rules.FunctionRules(settings, catalog)
        self.packages = CodePackages(settings, blobs)
        self.vpcs = VpcConfigs(ServiceClients(settings))
        self.sealer = EnvironmentSealer(load_key(settings.encryption_key, settings.key_path))
        self._lock = asyncio.Lock()
        self.owned_kinds: list[str] = ["version", "alias"]  # other services append theirs
        # Callbacks run when a version or alias is deleted (lock held): what hangs off a qualifier (its
        # policy, provisioned concurrency) goes with it.
        self.on_qualifier_deleted: list[QualifierDeleted] = []
        self.on_function_deleted: list[Callable[[str], None]] = []  # with the function's name (lock held)
        # Removes code no version uses any more (control/garbage.py); set by the application.
        self.collect_garbage: Callable[[], Awaitable[None]] | None = None

    @property
    def lock(self) -> asyncio.Lock:
        """Held by every operation that reads then writes a function's records (one writer at a time)."""
        return self._lock

    async def load(self) -> None:
        """Read every function, version and alias into memory (at start-up)."""
        registry = self.registry
        for stored in await self.store.all_functions():
            record = self.sealer.open(stored)
            registry.put_latest(record)
            if stored.sealed_environment is None and record.config.Environment is not None \
                    and record.config.Environment.Variables is not None:
                await self.store.replace_function(self.sealer.seal(record))  # stored before sealing existed
        for _, body in await self.store.list_documents("version"):
            registry.put_version(self.sealer.open(_decode_record(body)))
        for record in list(registry.records()):
            if record.config.Layers:  # merged off the event loop now, not on a first invoke
                try:
                    await asyncio.to_thread(self.layers.opt_dir, layer_arns(record.config))
                except LambdaError as exc:  # a corrupt layer: that function fails when invoked, the others run
                    log.error("function %s: %s", record.config.FunctionArn, exc.message)
        for key, body in await self.store.list_documents("alias"):
            function_name, _, _ = key.partition(":")
            registry.put_alias(function_name, _decode_alias(body))

    # ------------------------------------------------------------------ operations
    async def create(self, request: CreateFunctionRequest) -> FunctionConfiguration:
        return await self._collecting(self._create(request), dry_run=False)

    async def _create(self, request: CreateFunctionRequest) -> FunctionConfiguration:
        name, qualifier = self.arns.resolve(request.FunctionName)
        rules.check_name_length(name, request.FunctionName)
        if qualifier:
            raise InvalidParameterValueException("Function name cannot contain a version or alias qualifier.")
        if self.registry.latest(name) is not None:
            raise ResourceConflictException(f"Function already exist: {name}")
        runtime, handler = rules.check_create(request, self.rules.catalog)
        log_config = merge_logging(request.LoggingConfig, None, name)
        timeout = self.rules.timeout(request.Timeout)
        memory = self.rules.memory(request.MemorySize)
        storage = self.rules.storage(request.EphemeralStorage)
        variables = self.rules.environment(request.Environment.Variables if request.Environment else None)
        code = request.Code  # fetched before the lock is taken: an S3 object may take a while to arrive
        zip_bytes = await self.packages.zip_from(code.ZipFile, code.S3Bucket, code.S3Key, code.S3ObjectVersion)
        vpc = await asyncio.to_thread(self.vpcs.check, request.VpcConfig) if request.VpcConfig else None
        async with self._lock:
            if self.registry.latest(name) is not None:  # created while the code arrived
                raise ResourceConflictException(f"Function already exist: {name}")
            attached = await self.layers.attach_async(request.Layers or [])
            package = await asyncio.to_thread(self.packages.function_code, zip_bytes)
            self.rules.total_size(package.unpacked_size, attached.unzipped_size)
            config = FunctionConfiguration(
                FunctionName=name,
                FunctionArn=self.arns.function(name),
                Runtime=runtime,
                RuntimeVersionConfig=self.rules.runtime_version(runtime),
                Role=request.Role,
                Handler=handler,
                CodeSize=package.size,
                Description=request.Description or "",
                Timeout=timeout,
                MemorySize=memory,
                LastModified=lambda_time(),
                CodeSha256=package.sha256_b64,
                Version=LATEST,
                Environment=EnvironmentResponse(Variables=variables) if variables is not None else None,
                VpcConfig=vpc,
                KMSKeyArn=request.KMSKeyArn or None,
                TracingConfig=TracingConfig(
                    Mode=(request.TracingConfig.Mode if request.TracingConfig else None) or "PassThrough"),
                DeadLetterConfig=request.DeadLetterConfig,
                RevisionId=str(uuid.uuid4()),
                State="Active",
                LastUpdateStatus="Successful",
                SnapStart=states.snap_start(request.SnapStart, runtime),
                PackageType="Zip",
                Architectures=request.Architectures or ["x86_64"],
                EphemeralStorage=EphemeralStorage(Size=storage),
                LoggingConfig=log_config,
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
            self.registry.put_latest(record)
            if request.Publish:  # the new version, under the function's unqualified ARN (as AWS answers)
                version = (await self._publish_locked(record, None)).config
                return states.creating(msgspec.structs.replace(version, FunctionArn=config.FunctionArn))
            return states.creating(config)

    async def get(self, reference: str, qualifier: str | None) -> FunctionRecord:
        """The record FunctionName (+ Qualifier) names; for an alias, its version's with the alias's ARN, and
        for $LATEST named explicitly, the ARN qualified with it (as AWS answers)."""
        record, qualifier, alias = self.lookup(reference, qualifier)
        if alias is not None or qualifier == LATEST:
            shown = alias.Name if alias is not None else LATEST
            config = msgspec.structs.replace(record.config, FunctionArn=self.arns.function(record.name, shown))
            return msgspec.structs.replace(record, config=config)
        return record

    async def list(self, marker: str | None, max_items: int | None,
                   all_versions: bool = False) -> tuple[list[FunctionConfiguration], str | None]:
        """ListFunctions: $LATEST of each function by name; with FunctionVersion=ALL, every version too."""
        if all_versions:
            entries = []
            for name in self.registry.names():
                latest = self.registry.latest(name)
                assert latest is not None
                entries.append(states.listed(latest.config, FunctionArn=self.arns.function(name, LATEST)))
                entries += [states.listed(version.config) for version in self.registry.versions_in_order(name)]
            return paginate(entries, marker, max_items, lambda config: f"{config.FunctionName}:{config.Version}")
        limit = max_items or DEFAULT_MAX_ITEMS
        after = decode_marker(marker) if marker else None
        records = await self.store.list_functions(after, limit + 1)
        next_marker = None
        if len(records) > limit:
            records = records[:limit]
            next_marker = encode_marker(records[-1].name)
        # The registry's records carry the environment variables (the store's are sealed).
        return [states.listed((self.registry.latest(record.name) or self.sealer.open(record)).config)
                for record in records], next_marker

    async def update_code(self, reference: str, request: UpdateFunctionCodeRequest) -> FunctionConfiguration:
        return await self._collecting(self._update_code(reference, request), dry_run=bool(request.DryRun))

    async def _update_code(self, reference: str, request: UpdateFunctionCodeRequest) -> FunctionConfiguration:
        # A failed or DryRun upload leaves its package to `update_code`'s collection; the code this one
        # replaces stays until the next collection (environments of the old code may still be running).
        rules.check_revision(self._latest_for_update(reference), request.RevisionId)
        if request.ImageUri:
            raise InvalidParameterValueException("Container image functions are not supported by Stratus.")
        # Fetched before the lock is taken: an S3 object may take a while to arrive.
        zip_bytes = await self.packages.zip_from(request.ZipFile, request.S3Bucket, request.S3Key,
                                                 request.S3ObjectVersion)
        async with self._lock:
            record = self._latest_for_update(reference)
            rules.check_revision(record, request.RevisionId)
            config = record.config
            current_layers = layer_arns(config)
            attached = await self.layers.attach_async(current_layers, current_layers)
            package = await asyncio.to_thread(self.packages.function_code, zip_bytes)
            self.rules.total_size(package.unpacked_size, attached.unzipped_size)
            if request.DryRun:
                return msgspec.structs.replace(config, CodeSha256=package.sha256_b64, CodeSize=package.size)
            new_config = msgspec.structs.replace(
                config, CodeSha256=package.sha256_b64, CodeSize=package.size, LastModified=lambda_time(),
                RevisionId=str(uuid.uuid4()), LastUpdateStatus="Successful",
                Architectures=request.Architectures or config.Architectures,
            )
            new_record = msgspec.structs.replace(
                record, config=new_config, code_sha256_hex=package.sha256_hex, unzipped_size=package.unpacked_size)
            new_record = await self._save(new_record)
            if request.Publish:
                return states.creating((await self._publish_locked(new_record, None)).config)
            return states.updating(new_config)

    async def update_configuration(self, reference: str,
                                   request: UpdateFunctionConfigurationRequest) -> FunctionConfiguration:
        async with self._lock:
            record = self._latest_for_update(reference)
            name = record.name
            rules.check_revision(record, request.RevisionId)
            rules.check_unsupported(request.FileSystemConfigs, request.ImageConfig)
            changes: dict[str, Any] = {}
            if request.Layers is not None:
                attached = await self.layers.attach_async(request.Layers, layer_arns(record.config))
                self.rules.total_size(record.unzipped_size, attached.unzipped_size)
                changes["Layers"] = msgspec.to_builtins(attached.layers) or None
            changes.update(self.rules.configuration_changes(request))
            if request.LoggingConfig is not None:
                changes["LoggingConfig"] = merge_logging(request.LoggingConfig, record.config.LoggingConfig, name)
            if request.SnapStart is not None or (request.Runtime and record.config.SnapStart is not None
                                                 and record.config.SnapStart.ApplyOn == "PublishedVersions"):
                requested = request.SnapStart if request.SnapStart is not None else {"ApplyOn": "PublishedVersions"}
                changes["SnapStart"] = states.snap_start(requested, request.Runtime or record.config.Runtime)
            if request.VpcConfig is not None:
                changes["VpcConfig"] = await asyncio.to_thread(self.vpcs.check, request.VpcConfig)
            changes.update(LastModified=lambda_time(), RevisionId=str(uuid.uuid4()), LastUpdateStatus="Successful")
            new_config = msgspec.structs.replace(record.config, **changes)
            await self._save(msgspec.structs.replace(record, config=new_config))
            return states.updating(new_config)

    async def publish_version(self, reference: str, request: PublishVersionRequest) -> FunctionConfiguration:
        """PublishVersion: an immutable snapshot of $LATEST's code and configuration."""
        async with self._lock:
            record = self._latest_for_update(reference)
            rules.check_revision(record, request.RevisionId)
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
        last = self.registry.version(name, str(record.last_version))
        if last is not None and last.published_from == record.environment_revision:
            return last
        number = record.last_version + 1
        config = msgspec.structs.replace(
            record.config, Version=str(number), FunctionArn=self.arns.function(name, str(number)),
            RevisionId=str(uuid.uuid4()), LastModified=lambda_time(),
            SnapStart=states.published_snap_start(record.config.SnapStart),
            Description=record.config.Description if description is None else description,
        )
        version = msgspec.structs.replace(record, config=config, last_version=0, code_revision=None,
                                          published_from=record.environment_revision)
        # Publishing moves $LATEST's RevisionId too (as AWS), not what its environments run.
        latest = _new_revision(msgspec.structs.replace(record, last_version=number))
        await self.store.apply(functions=[self.sealer.seal(latest)],
                               puts=[("version", version_key(name, number),
                                      msgspec.json.encode(self.sealer.seal(version)))])
        self.registry.put_latest(latest)
        self.registry.put_version(version)
        if config.SnapStart is not None and config.SnapStart.OptimizationStatus == "On":
            prepare = getattr(self.invoker, "prepare_snapshot", None)  # SnapStart: the version's INIT runs now
            if prepare is not None:
                try:
                    prepare(self.specs.of(version))
                except LambdaError as exc:  # (the runtime is not on this host: its invokes say so)
                    log.warning("SnapStart: %s version %s: %s", name, number, exc.message)
        return version

    async def list_versions(self, reference: str, marker: str | None,
                            max_items: int | None) -> ListVersionsByFunctionResponse:
        """ListVersionsByFunction: $LATEST (with its qualified ARN), then each version in order."""
        name, qualifier = self.arns.resolve(reference)
        latest = self.registry.latest(name)
        if latest is None or qualifier is not None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        entries = [states.listed(latest.config, FunctionArn=self.arns.function(name, LATEST))]
        entries += [states.listed(version.config) for version in self.registry.versions_in_order(name)]
        page, next_marker = paginate(entries, marker, max_items, lambda config: config.Version or "")
        return ListVersionsByFunctionResponse(Versions=page, NextMarker=next_marker)

    async def delete(self, reference: str, qualifier: str | None) -> None:
        """DeleteFunction: the function, or one version. As AWS answers: a $LATEST or alias qualifier is refused
        before the function is looked up, and a version that does not exist is deleted already (204)."""
        name, qualifier = self.arns.resolve(reference, qualifier)
        if qualifier == LATEST:
            raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the function.")
        if qualifier is not None and is_alias_name(qualifier):
            raise InvalidParameterValueException("Deletion of aliases is not currently supported.")
        async with self._lock:
            if self.registry.latest(name) is None:
                raise ResourceNotFoundException(f"Function not found: {self.arns.function(name)}")
            if qualifier is not None:
                if is_version_number(qualifier):
                    await self._delete_version(name, str(int(qualifier)))
            else:
                await self.store.delete_function(name, [(kind, f"{name}:") for kind in self.owned_kinds])
                self.registry.remove_function(name)
                self.specs.forget(name)
                self.invoker.retire(name)
                for forget in self.on_function_deleted:
                    forget(name)
        await self._collect_garbage()  # its code, and layers only it used, go too

    async def _collect_garbage(self) -> None:
        if self.collect_garbage is not None:
            await self.collect_garbage()

    async def _collecting(self, upload: Awaitable[FunctionConfiguration], dry_run: bool) -> FunctionConfiguration:
        """Run an upload; if it stored a package for nothing (it failed, or was a dry run), collect it."""
        stored, kept = self.packages.stored, False
        try:
            result = await upload
            kept = not dry_run
            return result
        finally:
            if not kept and self.packages.stored != stored:
                await self._collect_garbage()

    def _prepare_code(self, sha_hex: str, arns: Sequence[str]) -> None:
        """Before an environment starts (blocking): the version's code, then its layers (see
        CodePackages.prepare and LayerService.opt_dir)."""
        self.packages.prepare(sha_hex, lambda: sorted({r.name for r in self.registry.records()
                                                       if r.code_sha256_hex == sha_hex}))
        self.layers.opt_dir(arns)

    def account_settings(self) -> GetAccountSettingsResponse:
        settings = self.settings
        # AWS counts deployment packages of $LATEST and every version, and layer archives.
        total_code = sum(record.config.CodeSize or 0 for record in self.registry.records())
        total_code += self.layers.total_code_size()
        return GetAccountSettingsResponse(
            AccountLimit=AccountLimit(
                TotalCodeSize=80530636800,
                CodeSizeUnzipped=settings.unzipped_code_max_bytes,
                CodeSizeZipped=settings.zip_direct_upload_max_bytes,
                ConcurrentExecutions=settings.account_concurrency_limit,
                UnreservedConcurrentExecutions=self.invoker.concurrency.unreserved(),
            ),
            AccountUsage=AccountUsage(TotalCodeSize=total_code, FunctionCount=self.registry.count()),
        )

    async def save_record(self, record: FunctionRecord, new_revision: bool = False) -> None:
        """Store a changed $LATEST record that does not change how it runs (tags, ...); hold `lock`.

        `new_revision`: the change gets a new RevisionId (as tagging does on AWS), while environments
        keep running (they follow the code revision)."""
        if new_revision:
            record = _new_revision(record)
        await self.store.replace_function(self.sealer.seal(record))
        self.registry.put_latest(record)

    # ------------------------------------------------------------------ internals
    def _latest_for_update(self, reference: str) -> FunctionRecord:
        name, qualifier = self.arns.resolve(reference)
        record = self.registry.latest(name)
        if record is None or qualifier not in (None, LATEST):
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(name, qualifier)}")
        return record

    async def _delete_version(self, name: str, version: str) -> None:
        if self.registry.version(name, version) is None:
            return
        users = sorted(str(alias.Name) for alias in self.registry.aliases_of(name)
                       if alias.FunctionVersion == version or version in (
                           (alias.RoutingConfig.AdditionalVersionWeights or {}) if alias.RoutingConfig else {}))
        if users:
            raise ResourceConflictException(
                f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]")
        await self.store.apply(deletes=[("version", version_key(name, version))])
        self.registry.remove_version(name, version)
        self.specs.forget(name, version)
        self.invoker.retire(name, version=version)
        for forget in self.on_qualifier_deleted:
            await forget(name, version)

    async def _save(self, record: FunctionRecord) -> FunctionRecord:
        """Store a change to code or configuration: new environments from now on. Returns the record stored."""
        record = msgspec.structs.replace(record, code_revision=None)
        await self.store.replace_function(self.sealer.seal(record))
        self.registry.put_latest(record)
        self.invoker.retire(record.name, keep_revision=record.environment_revision, version=LATEST)
        return record


def _new_revision(record: FunctionRecord) -> FunctionRecord:
    """`record` under a new RevisionId for a change that does not change how it runs (tags, a publish): its
    environments keep running (they follow the code revision)."""
    return msgspec.structs.replace(record, code_revision=record.environment_revision,
                                   config=msgspec.structs.replace(record.config, RevisionId=str(uuid.uuid4())))


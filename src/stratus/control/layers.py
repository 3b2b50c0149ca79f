"""Layers: publish, read, list, delete layer versions and their permission policies, with Lambda's rules;
and, for functions, checking a `Layers` list and merging its layers into one /opt folder.

Layer versions are store documents (kind "layer-version", key "<name>:<version, zero-padded>"),
mirrored in memory (loaded at start) so a function's layers resolve without touching the store.
Content is a blob in the content-addressed blob store, stored and unpacked once per distinct zip.
A deleted version stays behind as a tombstone: functions that use it keep working, and its number is
never given out again (the per-layer counter, kind "layer", records the highest number issued).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path

import msgspec

from stratus.config import Settings
from stratus.control.code import CodePackages, overlay_all
from stratus.control.layer_refs import (
    LAYER_REF,
    LAYER_VERSION_ARN,
    LAYER_VERSION_ARN_PATTERN,
    AttachedLayers,
    check_layer_version_arn,
    merged_name,
)
from stratus.control.paging import DEFAULT_MAX_ITEMS, decode_marker, encode_marker
from stratus.control.policy import (
    allow_statement,
    check_new_statement_id,
    policy_document,
    statement_json,
    without_statement,
)
from stratus.control.registry import version_key
from stratus.errors import (
    InvalidParameterValueException,
    InvalidZipFileException,
    PreconditionFailedException,
    ResourceNotFoundException,
    ValidationException,
)
from stratus.shapes import (
    AddLayerVersionPermissionRequest,
    AddLayerVersionPermissionResponse,
    GetLayerVersionPolicyResponse,
    GetLayerVersionResponse,
    Layer,
    LayersListItem,
    LayerVersionContentOutput,
    LayerVersionRecord,
    LayerVersionsListItem,
    ListLayersResponse,
    ListLayerVersionsResponse,
    PublishLayerVersionRequest,
)
from stratus.store import trees
from stratus.store.base import Store
from stratus.store.blobs import BlobStore, BlobUnavailable, build_folder
from stratus.timestamps import lambda_time

log = logging.getLogger("stratus.layers")

VERSION_KIND = "layer-version"
COUNTER_KIND = "layer"
MAX_LAYERS_PER_FUNCTION = 5

_NOT_FOUND = "The resource you requested does not exist."
_REVISION_MISMATCH = ("The Revision Id provided does not match the latest Revision Id. "
                      "Call the GetLayerPolicy API to retrieve the latest Revision Id")

_encode = msgspec.json.encode
_decode_record = msgspec.json.Decoder(LayerVersionRecord).decode


class LayerService:
    """The rules for layers; every public coroutine is one API operation."""

    def __init__(self, settings: Settings, store: Store, blobs: BlobStore):
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.packages = CodePackages(settings, blobs)
        self.region = settings.region
        self.account_id = settings.account_id
        self._ours = (settings.region, settings.account_id)
        self.opt_root = settings.data_dir / "opt"  # merged layers of functions with several
        self._versions: dict[str, dict[int, LayerVersionRecord]] = {}  # tombstones included
        self._last: dict[str, int] = {}  # per layer: the highest version number ever issued
        self._lock = asyncio.Lock()
        self.collect_garbage: Callable[[], Awaitable[None]] | None = None  # set by the application

    @property
    def lock(self) -> asyncio.Lock:
        """Held while layer versions are written (and by the garbage collector)."""
        return self._lock

    async def load(self) -> None:
        """Read every layer version into memory (at start-up)."""
        for _, body in await self.store.list_documents(VERSION_KIND):
            record = _decode_record(body)
            self._versions.setdefault(record.name, {})[record.version] = record
        for name, body in await self.store.list_documents(COUNTER_KIND):
            self._last[name] = msgspec.json.decode(body)["last_version"]
        for name, versions in self._versions.items():
            self._last[name] = max(self._last.get(name, 0), *versions)

    # ------------------------------------------------------------------ ARNs
    def layer_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{name}"

    def layer_version_arn(self, name: str, version: int) -> str:
        return f"{self.layer_arn(name)}:{version}"

    def _parse(self, reference: str) -> tuple[str, bool, str]:
        """(name, whether it is a layer of this region and account, the layer ARN it denotes)."""
        match = LAYER_REF.fullmatch(reference)
        if match is None or match["version"] is not None:
            return reference, False, reference
        if match["region"] is None:
            return match["name"], True, self.layer_arn(match["name"])
        ours = (match["partition"], match["region"], match["account"]) == ("aws", self.region, self.account_id)
        arn = f"arn:{match['partition']}:lambda:{match['region']}:{match['account']}:layer:{match['name']}"
        return match["name"], ours, arn

    def _live(self, name: str, version: int) -> LayerVersionRecord | None:
        record = self._versions.get(name, {}).get(version)
        return None if record is None or record.deleted else record

    @staticmethod
    def _check_version_number(version: int) -> None:
        if version < 1:
            raise InvalidParameterValueException("Layer Version Cannot be less than 1")

    def _version_for_policy(self, reference: str, version: int) -> LayerVersionRecord:
        self._check_version_number(version)
        name, ours, arn = self._parse(reference)
        record = self._live(name, version) if ours else None
        if record is None:
            raise ResourceNotFoundException(f"Layer version {arn}:{version} does not exist.")
        return record

    # ------------------------------------------------------------------ shapes
    def describe(self, record: LayerVersionRecord, code_url: Callable[[str], str]) -> GetLayerVersionResponse:
        """GetLayerVersion's (and PublishLayerVersion's) answer; Location (`code_url` of the zip's SHA-256)
        downloads the zip from this server."""
        return GetLayerVersionResponse(
            Content=LayerVersionContentOutput(
                Location=code_url(record.sha256_hex),
                CodeSha256=base64.b64encode(bytes.fromhex(record.sha256_hex)).decode(),
                CodeSize=record.code_size,
            ),
            LayerArn=self.layer_arn(record.name),
            LayerVersionArn=self.layer_version_arn(record.name, record.version),
            Description=record.description,
            CreatedDate=record.created,
            Version=record.version,
            CompatibleRuntimes=record.compatible_runtimes,
            LicenseInfo=record.license_info,
            CompatibleArchitectures=record.compatible_architectures,
        )

    def _list_item(self, record: LayerVersionRecord) -> LayerVersionsListItem:
        return LayerVersionsListItem(
            LayerVersionArn=self.layer_version_arn(record.name, record.version),
            Version=record.version,
            Description=record.description,
            CreatedDate=record.created,
            CompatibleRuntimes=record.compatible_runtimes,
            LicenseInfo=record.license_info,
            CompatibleArchitectures=record.compatible_architectures,
        )

    @staticmethod
    def _matches(record: LayerVersionRecord, runtime: str | None, architecture: str | None) -> bool:
        if record.deleted:
            return False
        if runtime is not None and runtime not in (record.compatible_runtimes or ()):
            return False
        return architecture is None or architecture in (record.compatible_architectures or ())

    # ------------------------------------------------------------------ operations
    async def publish(self, reference: str, request: PublishLayerVersionRequest,
                      code_url: Callable[[str], str]) -> GetLayerVersionResponse:
        name, ours, arn = self._parse(reference)
        if not ours:
            raise InvalidParameterValueException(
                f"Layer {arn} is not a layer of this server's region and account "
                f"({self.region}, {self.account_id}).")
        content = request.Content
        if not (content.ZipFile or content.S3Bucket or content.S3Key):
            raise InvalidParameterValueException(
                "Please provide a source for the layer content: Content.ZipFile or Content.S3Bucket and S3Key.")
        data = await self.packages.zip_from(content.ZipFile, content.S3Bucket, content.S3Key,
                                            content.S3ObjectVersion, "Content.ZipFile")
        stored = self.packages.stored
        try:
            return await self._publish(name, data, request, code_url)
        except BaseException:
            if self.packages.stored != stored and self.collect_garbage is not None:  # stored, then not recorded
                await self.collect_garbage()
            raise

    async def _publish(self, name: str, data: bytes, request: PublishLayerVersionRequest,
                       code_url: Callable[[str], str]) -> GetLayerVersionResponse:
        async with self._lock:  # held from storing to recording: the garbage collector holds it too
            sha_hex, unzipped_size = await asyncio.to_thread(self.packages.layer_content, data)
            version = self._last.get(name, 0) + 1
            record = LayerVersionRecord(
                name=name, version=version, sha256_hex=sha_hex, code_size=len(data), unzipped_size=unzipped_size,
                created=lambda_time(), description=request.Description or "",
                compatible_runtimes=request.CompatibleRuntimes,
                compatible_architectures=request.CompatibleArchitectures, license_info=request.LicenseInfo,
            )
            await self.store.apply(puts=[
                (VERSION_KIND, version_key(name, version), _encode(record)),
                (COUNTER_KIND, name, _encode({"last_version": version})),
            ])
            self._versions.setdefault(name, {})[version] = record
            self._last[name] = version
        return self.describe(record, code_url)

    async def get(self, reference: str, version: int, code_url: Callable[[str], str]) -> GetLayerVersionResponse:
        self._check_version_number(version)
        name, ours, _ = self._parse(reference)
        record = self._live(name, version) if ours else None
        if record is None:
            raise ResourceNotFoundException(_NOT_FOUND)
        return self.describe(record, code_url)

    async def get_by_arn(self, arn: str, code_url: Callable[[str], str]) -> GetLayerVersionResponse:
        check_layer_version_arn(arn)
        layer_ref, _, version = arn.rpartition(":")
        if not version.isdigit():  # an AWS-managed `awslayer` ARN: none exist here
            raise ResourceNotFoundException(_NOT_FOUND)
        return await self.get(layer_ref, int(version), code_url)

    async def list_layers(self, runtime: str | None, architecture: str | None, marker: str | None,
                          max_items: int | None) -> ListLayersResponse:
        after = decode_marker(marker) if marker else None
        limit = max_items or DEFAULT_MAX_ITEMS
        items: list[LayersListItem] = []
        next_marker = None
        for name in sorted(self._versions):
            if after is not None and name <= after:
                continue
            matching = [v for v, r in self._versions[name].items() if self._matches(r, runtime, architecture)]
            if not matching:
                continue
            if len(items) == limit:
                next_marker = encode_marker(items[-1].LayerName or "")
                break
            latest = self._versions[name][max(matching)]
            items.append(LayersListItem(LayerName=name, LayerArn=self.layer_arn(name),
                                        LatestMatchingVersion=self._list_item(latest)))
        return ListLayersResponse(Layers=items, NextMarker=next_marker)

    async def list_versions(self, reference: str, runtime: str | None, architecture: str | None,
                            marker: str | None, max_items: int | None) -> ListLayerVersionsResponse:
        below = None
        if marker:
            text = decode_marker(marker)
            if not text.isdigit():
                raise InvalidParameterValueException("Invalid Marker")
            below = int(text)
        limit = max_items or DEFAULT_MAX_ITEMS
        name, ours, _ = self._parse(reference)
        versions = self._versions.get(name, {}) if ours else {}
        numbers = sorted((v for v, r in versions.items() if self._matches(r, runtime, architecture)
                          and (below is None or v < below)), reverse=True)
        page = numbers[:limit]
        next_marker = encode_marker(str(page[-1])) if len(numbers) > limit else None
        return ListLayerVersionsResponse(LayerVersions=[self._list_item(versions[v]) for v in page],
                                         NextMarker=next_marker)

    async def delete(self, reference: str, version: int) -> None:
        """Delete a version (idempotent, as AWS). Its content stays while functions use it."""
        self._check_version_number(version)
        name, ours, _ = self._parse(reference)
        async with self._lock:
            record = self._live(name, version) if ours else None
            if record is None:
                return
            tombstone = msgspec.structs.replace(record, deleted=True, statements=[], policy_revision=None)
            await self.store.apply(puts=[(VERSION_KIND, version_key(name, version), _encode(tombstone))])
            self._versions[name][version] = tombstone
        if self.collect_garbage is not None:  # its content goes unless a function still uses it
            await self.collect_garbage()

    async def add_permission(self, reference: str, version: int, request: AddLayerVersionPermissionRequest,
                             revision_id: str | None) -> AddLayerVersionPermissionResponse:
        async with self._lock:
            record = self._version_for_policy(reference, version)
            check_new_statement_id(record.statements, request.StatementId)
            if revision_id is not None and revision_id != record.policy_revision:
                raise PreconditionFailedException(_REVISION_MISMATCH)
            condition = {"StringEquals": {"aws:PrincipalOrgID": request.OrganizationId}} \
                if request.OrganizationId else None
            statement = allow_statement(request.StatementId, request.Principal, request.Action,
                                        self.layer_version_arn(record.name, record.version), condition)
            updated = msgspec.structs.replace(
                record, statements=[*record.statements, statement], policy_revision=str(uuid.uuid4()))
            await self._save(updated)
        return AddLayerVersionPermissionResponse(Statement=statement_json(statement),
                                                 RevisionId=updated.policy_revision)

    async def get_policy(self, reference: str, version: int) -> GetLayerVersionPolicyResponse:
        record = self._version_for_policy(reference, version)
        if not record.statements:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        return GetLayerVersionPolicyResponse(Policy=policy_document(record.statements).decode(),
                                             RevisionId=record.policy_revision)

    async def remove_permission(self, reference: str, version: int, statement_id: str,
                                revision_id: str | None) -> None:
        async with self._lock:
            record = self._version_for_policy(reference, version)
            if revision_id is not None and revision_id != record.policy_revision:
                raise PreconditionFailedException(_REVISION_MISMATCH)
            remaining = without_statement(record.statements, statement_id)
            await self._save(msgspec.structs.replace(
                record, statements=remaining, policy_revision=str(uuid.uuid4()) if remaining else None))

    async def _save(self, record: LayerVersionRecord) -> None:
        await self.store.apply(puts=[(VERSION_KIND, version_key(record.name, record.version), _encode(record))])
        self._versions[record.name][record.version] = record

    def total_code_size(self) -> int:
        """Bytes of the layer archives that exist (deleted versions excluded), for GetAccountSettings."""
        return sum(record.code_size for versions in self._versions.values()
                   for record in versions.values() if not record.deleted)

    # ------------------------------------------------------------------ functions' layers
    def check(self, layer_arns: list[str], already_attached: Collection[str] = ()) -> list[LayerVersionRecord]:
        """The layer versions a function's `Layers` names, in order, after AWS's checks (no I/O).

        A deleted version is accepted only if the function already uses it (`already_attached`).
        """
        if len(layer_arns) > MAX_LAYERS_PER_FUNCTION:
            raise InvalidParameterValueException(f"Cannot reference more than {MAX_LAYERS_PER_FUNCTION} layers.")
        records: list[LayerVersionRecord] = []
        seen: dict[str, str] = {}
        for arn in layer_arns:
            if not LAYER_VERSION_ARN.fullmatch(arn):
                raise ValidationException(
                    f"1 validation error detected: Value '[{', '.join(layer_arns)}]' at 'layers' failed to satisfy "
                    "constraint: Member must satisfy constraint: [Member must have length less than or equal to "
                    "2048, Member must have length greater than or equal to 1, Member must satisfy regular "
                    f"expression pattern: {LAYER_VERSION_ARN_PATTERN}, Member must not be null]")
            match = LAYER_REF.fullmatch(arn)  # None for an AWS-managed `awslayer` ARN: none exist here
            if match and match["account"] == self.account_id and match["region"] != self.region:
                raise InvalidParameterValueException(
                    f"Layers are not in the same region as the function. Layers are expected to be in region "
                    f"{self.region}.")
            record = None
            if match and (match["partition"], match["region"], match["account"]) == ("aws", *self._ours):
                record = self._versions.get(match["name"], {}).get(int(match["version"]))
            if record is None or (record.deleted and arn not in already_attached):
                raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
            layer_arn = arn.rpartition(":")[0]
            if layer_arn in seen:
                raise InvalidParameterValueException(
                    "Two different versions of the same layer are not allowed to be referenced in the same "
                    f"function. {seen[layer_arn]} and {arn} are versions of the same layer.")
            seen[layer_arn] = arn
            records.append(record)
        return records

    def attach(self, layer_arns: list[str], already_attached: Collection[str] = ()) -> AttachedLayers:
        """Check a function's `Layers` (see `check`) and build its /opt (blocking the first time for a
        new combination of several layers; `attach_async` does that part in a worker thread)."""
        records = self.check(layer_arns, already_attached)
        return AttachedLayers(self._entries(records), sum(r.unzipped_size for r in records),
                              self._merged([r.sha256_hex for r in records]))

    async def attach_async(self, layer_arns: list[str], already_attached: Collection[str] = ()) -> AttachedLayers:
        """`attach`, with the /opt merge off the event loop."""
        records = self.check(layer_arns, already_attached)
        opt_dir = await asyncio.to_thread(self._merged, [r.sha256_hex for r in records])
        return AttachedLayers(self._entries(records), sum(r.unzipped_size for r in records), opt_dir)

    def _entries(self, records: list[LayerVersionRecord]) -> list[Layer]:
        return [Layer(Arn=self.layer_version_arn(r.name, r.version), CodeSize=r.code_size) for r in records]

    def opt_dir(self, layer_arns: Sequence[str]) -> Path | None:
        """The merged folder of these layer versions, in this order (deleted versions included);
        None for no layers. Built once per distinct ordered list of contents, then reused."""
        shas = []
        for arn in layer_arns:
            record = self._record_of(arn)
            if record is None:
                raise ResourceNotFoundException(f"Layer version {arn} does not exist.")
            shas.append(record.sha256_hex)
        return self._merged(shas)

    def _record_of(self, arn: str) -> LayerVersionRecord | None:
        """The version (deleted or not) a function's layer version ARN names, or None."""
        match = LAYER_REF.fullmatch(arn)
        if match and match["version"] and (match["region"], match["account"]) == (self.region, self.account_id):
            return self._versions.get(match["name"], {}).get(int(match["version"]))
        return None

    def _merged(self, shas: list[str]) -> Path | None:
        """One folder holding the layers' files, later layers overwriting earlier ones (blocking; safe
        to call from several threads). Built once per distinct ordered list of contents and used while it
        matches its manifest (rebuilt from the layers' verified blobs when not): called before each
        environment starts. InvalidZipFileException (and a log line) when a layer's blob is corrupt."""
        if not shas:
            return None
        try:
            if len(set(shas)) == 1:  # one layer's content: its unpacked folder is the merge
                return self.blobs.unpacked(shas[0])
            target = self.opt_root / merged_name(shas)
            if not trees.intact(target):
                roots = [self.blobs.unpacked(sha) for sha in shas]
                self.opt_root.mkdir(parents=True, exist_ok=True)
                build_folder(target, lambda staging: overlay_all(roots, staging))
            return target
        except BlobUnavailable as exc:
            names = sorted(f"{r.name}:{r.version}" for versions in self._versions.values()
                           for r in versions.values() if r.sha256_hex == exc.sha_hex)
            log.error("layer %s cannot be used: %s", ", ".join(names) or "?", exc)
            raise InvalidZipFileException(
                f"Lambda could not unzip the deployment package: the {exc} (layer "
                f"{', '.join(names) or '?'}). Publish the layer version again.") from None

    def contents(self) -> list[tuple[str, str]]:
        """(blob sha256 hex, "name:version") of every live layer version."""
        return [(r.sha256_hex, f"{r.name}:{r.version}") for versions in self._versions.values()
                for r in versions.values() if not r.deleted]

    def referenced(self, function_layers: list[list[str]]) -> tuple[set[str], set[str]]:
        """What the garbage collector keeps: (the blobs of live layer versions and of the versions these
        functions' `Layers` lists name, deleted or not; the merged /opt folders of those lists)."""
        blobs = {r.sha256_hex for versions in self._versions.values() for r in versions.values() if not r.deleted}
        merged = set()
        for arns in function_layers:
            shas = [record.sha256_hex for record in map(self._record_of, arns) if record is not None]
            blobs.update(shas)
            if len(set(shas)) > 1:
                merged.add(merged_name(shas))
        return blobs, merged


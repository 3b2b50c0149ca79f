"""Runtime management controls (Get/PutRuntimeManagementConfig) and the runtime version ARNs functions report.

Each Stratus runtime has one runtime version, named as AWS names them (`arn:aws:lambda:<region>::runtime:<64
hex>`, here derived from the runtime's name); a function's configuration reports it in RuntimeVersionConfig.
The config of a function version (`$LATEST` or a published number) is a store document (kind
"runtime-management", key "<function>:<version>"), deleted with the function or the version. UpdateRuntimeOn
changes nothing about how a function runs here (there is one version per runtime); Manual pins the version
the function reports, and must name its runtime's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from stratus.control.function_rules import runtime_version_arn
from stratus.control.registry import LATEST, is_version_number
from stratus.errors import InvalidParameterValueException
from stratus.shapes import FunctionRecord, RuntimeManagementConfig, RuntimeManagementDocument

if TYPE_CHECKING:
    from stratus.control.functions import FunctionService

KIND = "runtime-management"
AUTO, MANUAL = "Auto", "Manual"


class RuntimeManagementService:
    """GetRuntimeManagementConfig and PutRuntimeManagementConfig."""

    def __init__(self, functions: FunctionService):
        self.functions = functions
        self.arns = functions.arns
        self.region = functions.settings.region
        functions.owned_kinds.append(KIND)
        functions.on_qualifier_deleted.append(self.forget)

    async def get(self, reference: str, qualifier: str | None) -> RuntimeManagementConfig:
        name, version, arn = self._version(reference, qualifier)
        body = await self.functions.store.get_document(KIND, f"{name}:{version}")
        if body is None:
            return RuntimeManagementConfig(UpdateRuntimeOn=AUTO, FunctionArn=arn)
        document = msgspec.json.decode(body, type=RuntimeManagementDocument)
        return RuntimeManagementConfig(UpdateRuntimeOn=document.UpdateRuntimeOn, FunctionArn=arn,
                                       RuntimeVersionArn=document.RuntimeVersionArn)

    async def put(self, reference: str, qualifier: str | None, update_runtime_on: str,
                  runtime_version_arn_: str | None) -> RuntimeManagementConfig:
        """Set the config of a version; the model's checks (enum, ARN pattern) have passed."""
        async with self.functions.lock:
            name, version, arn = self._version(reference, qualifier)
            if update_runtime_on == MANUAL:
                record = self._record(name, version)
                self._check_pinned(record, runtime_version_arn_)
            elif runtime_version_arn_:
                raise InvalidParameterValueException(
                    f"RuntimeVersionArn can be specified only when UpdateRuntimeOn is {MANUAL}.")
            document = RuntimeManagementDocument(
                UpdateRuntimeOn=update_runtime_on,
                RuntimeVersionArn=runtime_version_arn_ if update_runtime_on == MANUAL else None)
            await self.functions.store.apply(puts=[(KIND, f"{name}:{version}", msgspec.json.encode(document))])
        return RuntimeManagementConfig(UpdateRuntimeOn=document.UpdateRuntimeOn, FunctionArn=arn,
                                       RuntimeVersionArn=document.RuntimeVersionArn)

    async def forget(self, name: str, qualifier: str) -> None:
        """A deleted version takes its config along (functions.lock held)."""
        if is_version_number(qualifier):
            await self.functions.store.apply(deletes=[(KIND, f"{name}:{qualifier}")])

    # ------------------------------------------------------------------ internals
    def _version(self, reference: str, qualifier: str | None) -> tuple[str, str, str]:
        """(name, version, FunctionArn to answer with) of an existing function version; an alias stands for
        the version it points to."""
        name, qualifier = self.arns.resolve(reference, qualifier)
        record, _, _ = self.functions.lookup(name, qualifier)  # ResourceNotFoundException with AWS's words
        version = record.config.Version or LATEST
        return name, version, self.arns.function(name, qualifier)

    def _record(self, name: str, version: str) -> FunctionRecord:
        record, _, _ = self.functions.lookup(name, version)
        return record

    def _check_pinned(self, record: FunctionRecord, arn: str | None) -> None:
        if not arn:
            raise InvalidParameterValueException(
                f"RuntimeVersionArn must be specified when UpdateRuntimeOn is {MANUAL}.")
        runtime = record.config.Runtime or ""
        if arn != runtime_version_arn(self.region, runtime):
            raise InvalidParameterValueException(
                f"The runtime version {arn} is not valid for the runtime {runtime} of this function in "
                f"{self.region}. Specify the RuntimeVersionArn in the function's RuntimeVersionConfig.")

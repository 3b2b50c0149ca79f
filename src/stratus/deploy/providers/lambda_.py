"""AWS::Lambda::* resources through Stratus's own Lambda API (loopback, the internal admin key).

Ref and GetAtt as CloudFormation documents them: Function → name (Arn); Version → version ARN (Version,
FunctionArn); Alias → alias ARN (AliasArn); LayerVersion → layer version ARN (LayerVersionArn);
LayerVersionPermission → "<layer version ARN>#<statement id>"; Permission → statement id; EventSourceMapping →
UUID (EventSourceMappingArn); EventInvokeConfig → "<function>:<qualifier>"; Url → function ARN (FunctionUrl,
FunctionArn).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, Endpoint, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import (
    boolean,
    call,
    changed,
    delete_call,
    integer,
    tag_map,
    wait_until,
)

# CreateFunction members that UpdateFunctionConfiguration also takes, with the value that resets each one when the
# template no longer sets it.
CONFIG_DEFAULTS: dict[str, Any] = {
    "Role": None, "Handler": None, "Runtime": None, "Description": "", "Timeout": 3, "MemorySize": 128,
    "Environment": {"Variables": {}}, "Layers": [], "TracingConfig": {"Mode": "PassThrough"},
    "DeadLetterConfig": {"TargetArn": ""}, "KMSKeyArn": "", "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []},
    "EphemeralStorage": {"Size": 512}, "LoggingConfig": {"LogFormat": "Text"}, "FileSystemConfigs": [],
    "ImageConfig": {}, "SnapStart": {"ApplyOn": "None"},
}
CREATE_ONLY = ("PackageType", "Architectures", "CodeSigningConfigArn")
REPLACING = ("FunctionName", "PackageType")


def _zip_file(source: str, runtime: str) -> bytes:
    """CloudFormation's inline `ZipFile` code: the source as index.py / index.js (by runtime) in a zip."""
    name = "index.js" if runtime.startswith("nodejs") else "index.py"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = (0o100755) << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def _code(properties: dict[str, Any]) -> dict[str, Any]:
    code = properties.get("Code")
    if not isinstance(code, dict):
        raise ResourceFailed("InvalidParameterValueException: Code is required (S3Bucket/S3Key, ZipFile or "
                             "ImageUri)")
    out: dict[str, Any] = {}
    if "ZipFile" in code:
        out["ZipFile"] = _zip_file(str(code["ZipFile"]), str(properties.get("Runtime", "")))
    for member in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri"):
        if member in code:
            out[member] = code[member]
    return out


def _config(properties: dict[str, Any]) -> dict[str, Any]:
    """The configuration members of a Function's properties, in API form."""
    out: dict[str, Any] = {}
    for member in CONFIG_DEFAULTS:
        source = "KmsKeyArn" if member == "KMSKeyArn" else member
        if source in properties:
            out[member] = properties[source]
    for member in ("Timeout", "MemorySize"):
        if member in out:
            out[member] = integer(out[member], member)
    if "EphemeralStorage" in out and isinstance(out["EphemeralStorage"], dict):
        out["EphemeralStorage"] = {"Size": integer(out["EphemeralStorage"].get("Size"), "EphemeralStorage.Size")}
    if "Environment" in out and isinstance(out["Environment"], dict):
        variables = out["Environment"].get("Variables") or {}
        out["Environment"] = {"Variables": {str(key): _text(value) for key, value in variables.items()}}
    return out


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _function_name(properties: dict[str, Any], ctx: DeployContext, logical_id: str) -> str:
    name = properties.get("FunctionName")
    return str(name) if name else ctx.physical_name(logical_id, 64)


def _wait_updated(client: Any, name: str) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def done() -> bool:
        result.update(call(client, "get_function_configuration", FunctionName=name))
        status = result.get("LastUpdateStatus")
        if status == "Failed":
            raise ResourceFailed(f"the function's update failed: {result.get('LastUpdateStatusReason', '')}")
        return result.get("State") in ("Active", "Inactive", None) and status in ("Successful", None)

    wait_until(done, f"function {name} to become Active")
    return result


@provider("AWS::Lambda::Function")
class FunctionProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = ctx.client("lambda")
        name = _function_name(properties, ctx, logical_id)
        params = {**_config(properties), "FunctionName": name, "Code": _code(properties)}
        for member in CREATE_ONLY:
            if member in properties:
                params[member] = properties[member]
        tags = tag_map(properties.get("Tags"))
        if tags:
            params["Tags"] = tags
        if "Publish" in properties:
            params["Publish"] = boolean(properties["Publish"])
        created = call(client, "create_function", **params)
        try:
            _wait_updated(client, name)
            self._extras(client, name, {}, properties)
        except ResourceFailed:
            delete_call(client, "delete_function", FunctionName=name)
            raise
        return Applied(name, {"Arn": created["FunctionArn"]})

    @staticmethod
    def _extras(client: Any, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Reserved concurrency and runtime management (their own operations)."""
        if old.get("ReservedConcurrentExecutions") != new.get("ReservedConcurrentExecutions"):
            if new.get("ReservedConcurrentExecutions") is None:
                delete_call(client, "delete_function_concurrency", FunctionName=name)
            else:
                call(client, "put_function_concurrency", FunctionName=name, ReservedConcurrentExecutions=integer(
                    new["ReservedConcurrentExecutions"], "ReservedConcurrentExecutions"))
        if old.get("RuntimeManagementConfig") != new.get("RuntimeManagementConfig"):
            config = new.get("RuntimeManagementConfig") or {"UpdateRuntimeOn": "Auto"}
            call(client, "put_runtime_management_config", FunctionName=name,
                 UpdateRuntimeOn=config.get("UpdateRuntimeOn", "Auto"),
                 RuntimeVersionArn=config.get("RuntimeVersionArn"))

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        old = current.properties
        if changed(old, properties, *REPLACING, *CREATE_ONLY):
            return self.create(ctx, current.logical_id, properties)
        client = ctx.client("lambda")
        name = current.physical_id
        if old.get("Code") != properties.get("Code"):
            code = _code(properties)
            call(client, "update_function_code", FunctionName=name, **code)
            _wait_updated(client, name)
        old_config, new_config = _config(old), _config(properties)
        if old_config != new_config:
            update = {member: new_config.get(member, CONFIG_DEFAULTS[member]) for member in CONFIG_DEFAULTS
                      if old_config.get(member) != new_config.get(member)}
            update = {key: value for key, value in update.items() if value is not None}
            if update.get("ImageConfig") == {}:
                update.pop("ImageConfig")
            call(client, "update_function_configuration", FunctionName=name, **update)
            _wait_updated(client, name)
        self._extras(client, name, old, properties)
        old_tags, new_tags = tag_map(old.get("Tags")), tag_map(properties.get("Tags"))
        if old_tags != new_tags:
            arn = current.attributes["Arn"]
            gone = [key for key in old_tags if key not in new_tags]
            if gone:
                call(client, "untag_resource", Resource=arn, TagKeys=gone)
            if new_tags:
                call(client, "tag_resource", Resource=arn, Tags=new_tags)
        return Applied(name, dict(current.attributes))

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(ctx.client("lambda"), "delete_function", FunctionName=current.physical_id)


@provider("AWS::Lambda::Version")
class VersionProvider:
    """PublishVersion; any change but ProvisionedConcurrencyConfig publishes a new version (a replacement)."""

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = ctx.client("lambda")
        published = call(client, "publish_version", FunctionName=properties.get("FunctionName"),
                         Description=properties.get("Description"), CodeSha256=properties.get("CodeSha256"))
        arn, version = published["FunctionArn"], published["Version"]
        self._provisioned(client, arn, {}, properties)
        return Applied(arn, {"Version": version, "FunctionArn": arn.rsplit(":", 1)[0]})

    @staticmethod
    def _provisioned(client: Any, arn: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        before, after = old.get("ProvisionedConcurrencyConfig"), new.get("ProvisionedConcurrencyConfig")
        if before == after:
            return
        function, qualifier = arn.rsplit(":", 1)
        if after:
            call(client, "put_provisioned_concurrency_config", FunctionName=function, Qualifier=qualifier,
                 ProvisionedConcurrentExecutions=integer(after.get("ProvisionedConcurrentExecutions"),
                                                         "ProvisionedConcurrentExecutions"))
        else:
            delete_call(client, "delete_provisioned_concurrency_config", FunctionName=function, Qualifier=qualifier)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, "FunctionName", "Description", "CodeSha256", "RuntimePolicy"):
            return self.create(ctx, current.logical_id, properties)
        self._provisioned(ctx.client("lambda"), current.physical_id, current.properties, properties)
        return Applied(current.physical_id, dict(current.attributes))

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        function, qualifier = current.physical_id.rsplit(":", 1)
        delete_call(ctx.client("lambda"), "delete_function", FunctionName=function, Qualifier=qualifier)


def _routing(config: Any) -> dict[str, Any] | None:
    """CloudFormation's RoutingConfig (a list of {FunctionVersion, FunctionWeight}) in the API's form."""
    if not isinstance(config, dict):
        return None
    weights = config.get("AdditionalVersionWeights") or []
    return {"AdditionalVersionWeights": {str(item["FunctionVersion"]): float(item["FunctionWeight"])
                                         for item in weights if isinstance(item, dict)}}


@provider("AWS::Lambda::Alias")
class AliasProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = ctx.client("lambda")
        created = call(client, "create_alias", FunctionName=properties.get("FunctionName"),
                       Name=properties.get("Name"), FunctionVersion=str(properties.get("FunctionVersion")),
                       Description=properties.get("Description"),
                       RoutingConfig=_routing(properties.get("RoutingConfig")))
        arn = created["AliasArn"]
        self._provisioned(client, arn, {}, properties)
        return Applied(arn, {"AliasArn": arn})

    @staticmethod
    def _provisioned(client: Any, arn: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        VersionProvider._provisioned(client, arn, old, new)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, "FunctionName", "Name"):
            return self.create(ctx, current.logical_id, properties)
        client = ctx.client("lambda")
        function, name = current.physical_id.rsplit(":", 1)
        call(client, "update_alias", FunctionName=function, Name=name,
             FunctionVersion=str(properties.get("FunctionVersion")), Description=properties.get("Description", ""),
             RoutingConfig=_routing(properties.get("RoutingConfig")) or {"AdditionalVersionWeights": {}})
        self._provisioned(client, current.physical_id, current.properties, properties)
        return Applied(current.physical_id, dict(current.attributes))

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        function, name = current.physical_id.rsplit(":", 1)
        delete_call(ctx.client("lambda"), "delete_alias", FunctionName=function, Name=name)


@provider("AWS::Lambda::LayerVersion")
class LayerVersionProvider:
    """PublishLayerVersion; every change publishes a new version (a replacement)."""

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        content = properties.get("Content")
        if not isinstance(content, dict):
            raise ResourceFailed("InvalidParameterValueException: Content (S3Bucket, S3Key) is required")
        name = properties.get("LayerName") or ctx.physical_name(logical_id, 64)
        published = call(ctx.client("lambda"), "publish_layer_version", LayerName=name,
                         Description=properties.get("Description"), LicenseInfo=properties.get("LicenseInfo"),
                         CompatibleRuntimes=properties.get("CompatibleRuntimes"),
                         CompatibleArchitectures=properties.get("CompatibleArchitectures"),
                         Content={key: content[key] for key in ("S3Bucket", "S3Key", "S3ObjectVersion")
                                  if key in content})
        arn = published["LayerVersionArn"]
        return Applied(arn, {"LayerVersionArn": arn})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return self.create(ctx, current.logical_id, properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        layer, version = current.physical_id.rsplit(":", 1)
        delete_call(ctx.client("lambda"), "delete_layer_version", LayerName=layer, VersionNumber=int(version))


@provider("AWS::Lambda::LayerVersionPermission")
class LayerVersionPermissionProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        arn = str(properties.get("LayerVersionArn", ""))
        layer, _, version = arn.rpartition(":")
        if not version.isdigit():
            raise ResourceFailed(f"InvalidParameterValueException: LayerVersionArn '{arn}' is not a layer version ARN")
        statement = ctx.physical_name(logical_id, 100)
        call(ctx.client("lambda"), "add_layer_version_permission", LayerName=layer, VersionNumber=int(version),
             StatementId=statement, Action=properties.get("Action"), Principal=properties.get("Principal"),
             OrganizationId=properties.get("OrganizationId"))
        return Applied(f"{arn}#{statement}")

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return self.create(ctx, current.logical_id, properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        arn, _, statement = current.physical_id.partition("#")
        layer, _, version = arn.rpartition(":")
        delete_call(ctx.client("lambda"), "remove_layer_version_permission", LayerName=layer,
                    VersionNumber=int(version), StatementId=statement)


def _split_function(name: str) -> tuple[str, str | None]:
    """(function, qualifier) of a name or ARN (qualified or not)."""
    if name.startswith("arn:") and name.count(":") == 7:
        function, qualifier = name.rsplit(":", 1)
        return function, qualifier
    return name, None


@provider("AWS::Lambda::Permission")
class PermissionProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        function, qualifier = _split_function(str(properties.get("FunctionName", "")))
        statement = ctx.physical_name(logical_id, 100)
        call(ctx.client("lambda"), "add_permission", FunctionName=function, Qualifier=qualifier,
             StatementId=statement, Action=properties.get("Action"), Principal=properties.get("Principal"),
             SourceArn=properties.get("SourceArn"), SourceAccount=properties.get("SourceAccount"),
             EventSourceToken=properties.get("EventSourceToken"), PrincipalOrgID=properties.get("PrincipalOrgID"),
             FunctionUrlAuthType=properties.get("FunctionUrlAuthType"))
        return Applied(statement, {"FunctionName": function, "Qualifier": qualifier})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        return self.create(ctx, current.logical_id, properties)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        function, qualifier = _split_function(str(current.properties.get("FunctionName", "")))
        delete_call(ctx.client("lambda"), "remove_permission", FunctionName=function, Qualifier=qualifier,
                    StatementId=current.physical_id)


ESM_REPLACING = ("EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "SelfManagedEventSource",
                 "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig", "Topics", "Queues")
ESM_INTEGERS = ("BatchSize", "MaximumBatchingWindowInSeconds", "MaximumRecordAgeInSeconds",
                "MaximumRetryAttempts", "ParallelizationFactor", "TumblingWindowInSeconds")


def _mapping_params(properties: dict[str, Any]) -> dict[str, Any]:
    params = {key: value for key, value in properties.items() if key not in ("Tags",)}
    for member in ESM_INTEGERS:
        if member in params:
            params[member] = integer(params[member], member)
    for member in ("Enabled", "BisectBatchOnFunctionError"):
        if member in params:
            params[member] = boolean(params[member])
    if "StartingPositionTimestamp" in params:
        params["StartingPositionTimestamp"] = float(params["StartingPositionTimestamp"])
    return params


@provider("AWS::Lambda::EventSourceMapping")
class EventSourceMappingProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        params = _mapping_params(properties)
        tags = tag_map(properties.get("Tags"))
        if tags:
            params["Tags"] = tags
        created = call(ctx.client("lambda"), "create_event_source_mapping", **params)
        uuid = created["UUID"]
        return Applied(uuid, {"Id": uuid, "EventSourceMappingArn": created.get("EventSourceMappingArn", "")})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, *ESM_REPLACING):
            return self.create(ctx, current.logical_id, properties)
        params = {key: value for key, value in _mapping_params(properties).items() if key not in ESM_REPLACING}
        for member in ("FilterCriteria", "DestinationConfig", "FunctionResponseTypes", "ScalingConfig"):
            if member in current.properties and member not in params:  # reset what the template no longer sets
                params[member] = {} if member != "FunctionResponseTypes" else []
        if "Enabled" not in params:
            params["Enabled"] = True
        client = ctx.client("lambda")
        wait_until(lambda: call(client, "get_event_source_mapping", UUID=current.physical_id).get("State")
                   not in ("Creating", "Updating", "Enabling", "Disabling"), "the event source mapping to settle")
        call(client, "update_event_source_mapping", UUID=current.physical_id, **params)
        return Applied(current.physical_id, dict(current.attributes))

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(ctx.client("lambda"), "delete_event_source_mapping", UUID=current.physical_id)


@provider("AWS::Lambda::EventInvokeConfig")
class EventInvokeConfigProvider:
    def _put(self, ctx: DeployContext, properties: dict[str, Any]) -> str:
        function, qualifier = str(properties.get("FunctionName")), str(properties.get("Qualifier"))
        call(ctx.client("lambda"), "put_function_event_invoke_config", FunctionName=function, Qualifier=qualifier,
             MaximumRetryAttempts=integer(properties["MaximumRetryAttempts"], "MaximumRetryAttempts")
             if "MaximumRetryAttempts" in properties else None,
             MaximumEventAgeInSeconds=integer(properties["MaximumEventAgeInSeconds"], "MaximumEventAgeInSeconds")
             if "MaximumEventAgeInSeconds" in properties else None,
             DestinationConfig=properties.get("DestinationConfig"))
        return f"{function}:{qualifier}"

    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        return Applied(self._put(ctx, properties))

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        physical = self._put(ctx, properties)
        if physical != current.physical_id:
            self.delete(ctx, current)  # a different function or qualifier: the old config is not this one
        return Applied(physical)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(ctx.client("lambda"), "delete_function_event_invoke_config",
                    FunctionName=str(current.properties.get("FunctionName")),
                    Qualifier=str(current.properties.get("Qualifier")))


@provider("AWS::Lambda::Url")
class UrlProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        function, arn_qualifier = _split_function(str(properties.get("TargetFunctionArn", "")))
        qualifier = properties.get("Qualifier") or arn_qualifier
        created = call(ctx.client("lambda"), "create_function_url_config", FunctionName=function,
                       Qualifier=qualifier, AuthType=properties.get("AuthType"), Cors=properties.get("Cors"),
                       InvokeMode=properties.get("InvokeMode"))
        return self._applied(logical_id, created)

    @staticmethod
    def _applied(logical_id: str, answer: dict[str, Any]) -> Applied:
        url, arn = answer["FunctionUrl"], answer["FunctionArn"]
        return Applied(arn, {"FunctionUrl": url, "FunctionArn": arn}, Endpoint(logical_id, "URL", url.rstrip("/")))

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, "TargetFunctionArn", "Qualifier"):
            return self.create(ctx, current.logical_id, properties)
        function, arn_qualifier = _split_function(str(properties.get("TargetFunctionArn", "")))
        updated = call(ctx.client("lambda"), "update_function_url_config", FunctionName=function,
                       Qualifier=properties.get("Qualifier") or arn_qualifier, AuthType=properties.get("AuthType"),
                       Cors=properties.get("Cors") or {}, InvokeMode=properties.get("InvokeMode") or "BUFFERED")
        return self._applied(current.logical_id, updated)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        function, arn_qualifier = _split_function(str(current.properties.get("TargetFunctionArn", "")))
        delete_call(ctx.client("lambda"), "delete_function_url_config", FunctionName=function,
                    Qualifier=current.properties.get("Qualifier") or arn_qualifier)

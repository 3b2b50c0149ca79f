"""AWS::DynamoDB::Table on the DynamoDB endpoint of STRATUS_SERVICE_ENDPOINTS.

CreateTable with the template's KeySchema, AttributeDefinitions, BillingMode, ProvisionedThroughput,
StreamSpecification (StreamViewType → a stream), Global/LocalSecondaryIndexes, SSESpecification, Tags, then
TimeToLiveSpecification; the deploy waits for ACTIVE. Ref: the table name; GetAtt Arn, StreamArn. A new
TableName, KeySchema, LocalSecondaryIndexes or GlobalSecondaryIndexes is a replacement; BillingMode,
ProvisionedThroughput and StreamSpecification changes are UpdateTable, TTL changes UpdateTimeToLive.
"""

from __future__ import annotations

from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import boolean, call, changed, integer, wait_until

REPLACING = ("TableName", "KeySchema", "LocalSecondaryIndexes", "GlobalSecondaryIndexes")


def _client(ctx: DeployContext) -> Any:
    return ctx.client("dynamodb")


def _throughput(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    return {"ReadCapacityUnits": integer(value.get("ReadCapacityUnits"), "ReadCapacityUnits"),
            "WriteCapacityUnits": integer(value.get("WriteCapacityUnits"), "WriteCapacityUnits")}


def _stream(properties: dict[str, Any]) -> dict[str, Any] | None:
    spec = properties.get("StreamSpecification")
    if isinstance(spec, dict) and spec.get("StreamViewType"):
        return {"StreamEnabled": True, "StreamViewType": str(spec["StreamViewType"])}
    return None


def _indexes(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list) or not value:
        return None
    out = []
    for index in value:
        entry = {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
        if _throughput(index.get("ProvisionedThroughput")):
            entry["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
        out.append(entry)
    return out


def _wait_active(client: Any, name: str) -> dict[str, Any]:
    table: dict[str, Any] = {}

    def active() -> bool:
        table.update(call(client, "describe_table", TableName=name)["Table"])
        return table.get("TableStatus") == "ACTIVE"

    wait_until(active, f"table {name} to become ACTIVE", 120.0)
    return table


def _applied(table: dict[str, Any]) -> Applied:
    attributes = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attributes["StreamArn"] = table["LatestStreamArn"]
    return Applied(table["TableName"], attributes)


def _ttl(client: Any, name: str, properties: dict[str, Any]) -> None:
    spec = properties.get("TimeToLiveSpecification")
    if isinstance(spec, dict) and spec.get("AttributeName"):
        call(client, "update_time_to_live", TableName=name, TimeToLiveSpecification={
            "AttributeName": str(spec["AttributeName"]), "Enabled": boolean(spec.get("Enabled", True))})


@provider("AWS::DynamoDB::Table")
class TableProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        name = str(properties.get("TableName") or ctx.physical_name(logical_id, 255))
        tags = properties.get("Tags")
        call(client, "create_table", TableName=name, KeySchema=properties.get("KeySchema"),
             AttributeDefinitions=properties.get("AttributeDefinitions"), BillingMode=properties.get("BillingMode"),
             ProvisionedThroughput=_throughput(properties.get("ProvisionedThroughput")),
             StreamSpecification=_stream(properties),
             GlobalSecondaryIndexes=_indexes(properties.get("GlobalSecondaryIndexes")),
             LocalSecondaryIndexes=_indexes(properties.get("LocalSecondaryIndexes")),
             SSESpecification=properties.get("SSESpecification"),
             Tags=[{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags]
             if isinstance(tags, list) and tags else None)
        table = _wait_active(client, name)
        _ttl(client, name, properties)
        return _applied(table)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, *REPLACING):
            return self.create(ctx, current.logical_id, properties)
        client = _client(ctx)
        name = current.physical_id
        old = current.properties
        if changed(old, properties, "BillingMode", "ProvisionedThroughput"):
            call(client, "update_table", TableName=name, BillingMode=properties.get("BillingMode") or "PROVISIONED",
                 ProvisionedThroughput=_throughput(properties.get("ProvisionedThroughput")),
                 AttributeDefinitions=properties.get("AttributeDefinitions"))
            _wait_active(client, name)
        if _stream(old) != _stream(properties):
            if _stream(old) is not None:
                call(client, "update_table", TableName=name, StreamSpecification={"StreamEnabled": False})
                _wait_active(client, name)
            if _stream(properties) is not None:
                call(client, "update_table", TableName=name, StreamSpecification=_stream(properties))
        if changed(old, properties, "TimeToLiveSpecification"):
            _ttl(client, name, properties)
        return _applied(_wait_active(client, name))

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        try:
            call(_client(ctx), "delete_table", TableName=current.physical_id)
        except ResourceFailed as error:
            if str(error).split(":", 1)[0] != "ResourceNotFoundException":
                raise

"""AWS::S3::Bucket on the S3 endpoint of STRATUS_SERVICE_ENDPOINTS.

BucketName (generated lower-case when absent, at most 63 characters), VersioningConfiguration, Tags. Ref: the
bucket name; GetAtt Arn, DomainName, RegionalDomainName, DualStackDomainName, WebsiteURL. A new BucketName is a
replacement. Deleting a bucket that still holds objects fails, as on CloudFormation (the stack names it).
"""

from __future__ import annotations

import re
from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import call, changed


def _client(ctx: DeployContext) -> Any:
    return ctx.client("s3")


def _name(ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> str:
    if properties.get("BucketName"):
        return str(properties["BucketName"])
    name = re.sub(r"[^a-z0-9.-]", "-", ctx.physical_name(logical_id, 63).lower()).strip("-.")
    return name if len(name) >= 3 else f"{name}-bucket"


def _attributes(ctx: DeployContext, name: str) -> dict[str, str]:
    suffix = "amazonaws.com"
    return {"Arn": f"arn:{ctx.partition}:s3:::{name}", "DomainName": f"{name}.s3.{suffix}",
            "RegionalDomainName": f"{name}.s3.{ctx.region}.{suffix}",
            "DualStackDomainName": f"{name}.s3.dualstack.{ctx.region}.{suffix}",
            "WebsiteURL": f"http://{name}.s3-website-{ctx.region}.{suffix}"}


def _versioning(client: Any, name: str, properties: dict[str, Any]) -> None:
    config = properties.get("VersioningConfiguration")
    if isinstance(config, dict) and config.get("Status"):
        call(client, "put_bucket_versioning", Bucket=name, VersioningConfiguration={"Status": str(config["Status"])})


def _tags(client: Any, name: str, properties: dict[str, Any]) -> None:
    tags = properties.get("Tags")
    if isinstance(tags, list) and tags:
        call(client, "put_bucket_tagging", Bucket=name, Tagging={
            "TagSet": [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags]})


@provider("AWS::S3::Bucket")
class BucketProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        name = _name(ctx, logical_id, properties)
        location = None if ctx.region == "us-east-1" else {"LocationConstraint": ctx.region}
        call(client, "create_bucket", Bucket=name, CreateBucketConfiguration=location)
        _versioning(client, name, properties)
        _tags(client, name, properties)
        return Applied(name, _attributes(ctx, name))

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, "BucketName"):
            return self.create(ctx, current.logical_id, properties)
        client = _client(ctx)
        if changed(current.properties, properties, "VersioningConfiguration"):
            _versioning(client, current.physical_id, properties)
        if changed(current.properties, properties, "Tags"):
            _tags(client, current.physical_id, properties)
        return Applied(current.physical_id, _attributes(ctx, current.physical_id))

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        try:
            call(_client(ctx), "delete_bucket", Bucket=current.physical_id)
        except ResourceFailed as error:
            if str(error).split(":", 1)[0] not in ("NoSuchBucket", "404"):
                raise

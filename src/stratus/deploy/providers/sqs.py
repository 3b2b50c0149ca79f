"""AWS::SQS::Queue and AWS::SQS::QueuePolicy on the SQS endpoint of STRATUS_SERVICE_ENDPOINTS.

Queue: QueueName (generated as CloudFormation does when absent; `.fifo` for a FifoQueue) and its attributes
(VisibilityTimeout, MessageRetentionPeriod, DelaySeconds, RedrivePolicy as an object or JSON text, ...). Ref:
the queue URL; GetAtt Arn, QueueName, QueueUrl. A new QueueName or FifoQueue is a replacement; other changes are
SetQueueAttributes (an attribute gone from the template goes back to SQS's default).
QueuePolicy: SetQueueAttributes Policy on each of its Queues (URLs); deleting it clears the policy.
"""

from __future__ import annotations

import json
from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import call, changed, delete_call

# Attribute → its value when the template no longer sets it (SQS's defaults).
DEFAULTS: dict[str, str] = {
    "DelaySeconds": "0", "MaximumMessageSize": "262144", "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0", "VisibilityTimeout": "30", "RedrivePolicy": "", "RedriveAllowPolicy": "",
    "KmsMasterKeyId": "", "KmsDataKeyReusePeriodSeconds": "300", "SqsManagedSseEnabled": "false",
}
FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
def _client(ctx: DeployContext) -> Any:
    return ctx.client("sqs")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _attributes(properties: dict[str, Any]) -> dict[str, str]:
    attributes = {key: _text(properties[key]) for key in (*DEFAULTS, *FIFO_ONLY) if properties.get(key) is not None}
    if str(properties.get("FifoQueue", "")).lower() == "true":
        attributes["FifoQueue"] = "true"
    return attributes


def _name(ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> str:
    if properties.get("QueueName"):
        return str(properties["QueueName"])
    if str(properties.get("FifoQueue", "")).lower() == "true":
        return ctx.physical_name(logical_id, 75) + ".fifo"
    return ctx.physical_name(logical_id, 80)



@provider("AWS::SQS::Queue")
class QueueProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        name = _name(ctx, logical_id, properties)
        tags = properties.get("Tags")
        url = call(client, "create_queue", QueueName=name, Attributes=_attributes(properties),
                   tags={str(t["Key"]): str(t["Value"]) for t in tags} if isinstance(tags, list) and tags else None
                   )["QueueUrl"]
        return self._applied(client, url, name)

    @staticmethod
    def _applied(client: Any, url: str, name: str) -> Applied:
        arn = call(client, "get_queue_attributes", QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Applied(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, "QueueName", "FifoQueue"):
            return self.create(ctx, current.logical_id, properties)  # a replacement
        client = _client(ctx)
        wanted = _attributes(properties)
        wanted.pop("FifoQueue", None)
        for key in _attributes(current.properties):
            if key not in wanted and key in DEFAULTS:
                wanted[key] = DEFAULTS[key]
        if wanted:
            call(client, "set_queue_attributes", QueueUrl=current.physical_id, Attributes=wanted)
        return self._applied(client, current.physical_id, str(current.attributes.get("QueueName", "")))

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_queue", QueueUrl=current.physical_id)


@provider("AWS::SQS::QueuePolicy")
class QueuePolicyProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        policy = properties.get("PolicyDocument")
        queues = properties.get("Queues") or []
        if not isinstance(queues, list) or not queues:
            raise ResourceFailed("InvalidParameterValue: Queues must list at least one queue URL")
        client = _client(ctx)
        for url in queues:
            call(client, "set_queue_attributes", QueueUrl=str(url), Attributes={"Policy": _text(policy)})
        return Applied(ctx.physical_name(logical_id))

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        for url in set(current.properties.get("Queues") or []) - set(properties.get("Queues") or []):
            self._clear(client, str(url))
        self.create(ctx, current.logical_id, properties)
        return Applied(current.physical_id)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        client = _client(ctx)
        for url in current.properties.get("Queues") or []:
            self._clear(client, str(url))

    @staticmethod
    def _clear(client: Any, url: str) -> None:
        delete_call(client, "set_queue_attributes", QueueUrl=url, Attributes={"Policy": ""})  # gone queue: done

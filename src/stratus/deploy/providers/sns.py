"""AWS::SNS::Topic and AWS::SNS::Subscription on the SNS endpoint of STRATUS_SERVICE_ENDPOINTS.

Topic: TopicName (generated when absent; `.fifo` for a FifoTopic), DisplayName, FifoTopic,
ContentBasedDeduplication, KmsMasterKeyId, and its inline Subscription list ({Protocol, Endpoint}: lambda, sqs,
...), diffed on update. Ref: the topic ARN; GetAtt TopicArn, TopicName. A new TopicName or FifoTopic is a
replacement. Subscription: Subscribe (TopicArn, Protocol, Endpoint, FilterPolicy, RawMessageDelivery, ...);
Ref: the subscription ARN; a new TopicArn, Protocol or Endpoint is a replacement, other changes
SetSubscriptionAttributes. Delivering to a Lambda function is the SNS endpoint's business, not Stratus's.
"""

from __future__ import annotations

import json
from typing import Any

from stratus.deploy.providers.base import Applied, DeployContext, ResourceFailed, ResourceState, provider
from stratus.deploy.providers.calls import call, changed, delete_call

TOPIC_ATTRIBUTES = ("DisplayName", "KmsMasterKeyId", "ContentBasedDeduplication", "SignatureVersion",
                    "TracingConfig", "ArchivePolicy", "DeliveryStatusLogging")
SUBSCRIPTION_ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
                           "DeliveryPolicy", "SubscriptionRoleArn", "ReplayPolicy")


def _client(ctx: DeployContext) -> Any:
    return ctx.client("sns")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _subscriptions(properties: dict[str, Any]) -> set[tuple[str, str]]:
    items = properties.get("Subscription") or []
    if not isinstance(items, list) or not all(isinstance(s, dict) for s in items):
        raise ResourceFailed("InvalidParameter: Subscription must be a list of {Protocol, Endpoint}")
    return {(str(s.get("Protocol", "")), str(s.get("Endpoint", ""))) for s in items}


@provider("AWS::SNS::Topic")
class TopicProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        client = _client(ctx)
        fifo = str(properties.get("FifoTopic", "")).lower() == "true"
        name = str(properties.get("TopicName") or (ctx.physical_name(logical_id, 251) + ".fifo" if fifo
                                                   else ctx.physical_name(logical_id, 256)))
        attributes = {key: _text(properties[key]) for key in TOPIC_ATTRIBUTES if properties.get(key) is not None}
        if fifo:
            attributes["FifoTopic"] = "true"
        tags = properties.get("Tags")
        arn = call(client, "create_topic", Name=name, Attributes=attributes or None,
                   Tags=[{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags]
                   if isinstance(tags, list) and tags else None)["TopicArn"]
        for protocol, endpoint in sorted(_subscriptions(properties)):
            call(client, "subscribe", TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
        return Applied(arn, {"TopicArn": arn, "TopicName": name})

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, "TopicName", "FifoTopic"):
            return self.create(ctx, current.logical_id, properties)
        client = _client(ctx)
        arn = current.physical_id
        for key in TOPIC_ATTRIBUTES:
            if current.properties.get(key) != properties.get(key):
                call(client, "set_topic_attributes", TopicArn=arn, AttributeName=key,
                     AttributeValue=_text(properties.get(key, "")))
        old, new = _subscriptions(current.properties), _subscriptions(properties)
        if old != new:
            listed = call(client, "list_subscriptions_by_topic", TopicArn=arn).get("Subscriptions", [])
            for item in listed:
                if (item["Protocol"], item["Endpoint"]) in old - new and item["SubscriptionArn"].startswith("arn:"):
                    call(client, "unsubscribe", SubscriptionArn=item["SubscriptionArn"])
            for protocol, endpoint in sorted(new - old):
                call(client, "subscribe", TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
        return Applied(arn, dict(current.attributes))

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "delete_topic", TopicArn=current.physical_id)


@provider("AWS::SNS::Subscription")
class SubscriptionProvider:
    def create(self, ctx: DeployContext, logical_id: str, properties: dict[str, Any]) -> Applied:
        attributes = {key: _text(properties[key]) for key in SUBSCRIPTION_ATTRIBUTES if properties.get(key) is not None}
        arn = call(_client(ctx), "subscribe", TopicArn=str(properties.get("TopicArn", "")),
                   Protocol=str(properties.get("Protocol", "")), Endpoint=properties.get("Endpoint"),
                   Attributes=attributes or None, ReturnSubscriptionArn=True)["SubscriptionArn"]
        return Applied(arn)

    def update(self, ctx: DeployContext, current: ResourceState, properties: dict[str, Any]) -> Applied:
        if changed(current.properties, properties, "TopicArn", "Protocol", "Endpoint"):
            return self.create(ctx, current.logical_id, properties)
        client = _client(ctx)
        for key in SUBSCRIPTION_ATTRIBUTES:
            if current.properties.get(key) != properties.get(key):
                call(client, "set_subscription_attributes", SubscriptionArn=current.physical_id, AttributeName=key,
                     AttributeValue=_text(properties.get(key, "")))
        return Applied(current.physical_id)

    def delete(self, ctx: DeployContext, current: ResourceState) -> None:
        delete_call(_client(ctx), "unsubscribe", SubscriptionArn=current.physical_id)

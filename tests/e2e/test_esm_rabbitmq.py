"""Event source mappings with Amazon MQ (RabbitMQ), against the real RabbitMQ on 127.0.0.1:5672: AWS's
fields and errors, messages delivered in AWS's event shape, acked only after the function succeeded
(a failing function gets the message again, redelivered).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import socket

import aio_pika
import pytest

from tests.e2e.test_esm_sqs import FAST, create_function, error_of, mapping_count, wait_for, wait_gone, wait_state
from tests.support.environments import function_log
from tests.support.server import StratusServer

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
BROKER = "arn:aws:mq:us-east-1:000000000000:broker:stratus-test:b-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
SECRET = "arn:aws:secretsmanager:us-east-1:000000000000:secret:rabbit-credentials"
ACCESS = [{"Type": "BASIC_AUTH", "URI": SECRET}]

RECORDER = """
import json
def handler(event, context):
    print("EVENT " + json.dumps(event))
    return {}
"""

FAILS_FIRST_DELIVERY = """
import base64, json, time
def handler(event, context):
    (messages,) = event["rmqMessagesByQueue"].values()
    for message in messages:
        print("SEEN " + json.dumps({"t": time.time(), "data": base64.b64decode(message["data"]).decode(),
                                      "redelivered": message["redelivered"]}))
    if not all(message["redelivered"] for message in messages):
        raise RuntimeError("fails until redelivered")
    return {}
"""


def _rabbitmq_reason() -> str:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        return f"RabbitMQ is not reachable on 127.0.0.1:5672 ({exc})"
    return ""


@pytest.fixture(scope="module", autouse=True)
def rabbitmq():
    reason = _rabbitmq_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ must be available in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def esm(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("esm-rabbitmq") / "data"
    with StratusServer(data_dir, env={**FAST, "STRATUS_MQ_BROKERS": f"{BROKER}={AMQP_URL}"}) as server:
        yield server


@pytest.fixture(scope="module")
def lam(esm):
    return esm.client()


@pytest.fixture(scope="module")
def raw_lam(esm):
    return esm.client(parameter_validation=False)


def amqp(coroutine_function, *args):
    """Run one short AMQP conversation (declare, publish, count) on a connection of its own."""
    async def run():
        connection = await aio_pika.connect(AMQP_URL)
        try:
            return await coroutine_function(await connection.channel(), *args)
        finally:
            await connection.close()

    return asyncio.run(run())


async def _declare(channel, name: str) -> None:
    await channel.declare_queue(name, durable=False, auto_delete=False)


async def _delete(channel, name: str) -> None:
    await channel.queue_delete(name)


async def _publish(channel, name: str, messages: list[aio_pika.Message]) -> None:
    for message in messages:
        await channel.default_exchange.publish(message, routing_key=name)


async def _ready(channel, name: str) -> int:
    return (await channel.declare_queue(name, passive=True)).declaration_result.message_count


@pytest.fixture
def queue(fn_name):
    amqp(_declare, fn_name)
    yield fn_name
    amqp(_delete, fn_name)


def events(server, function: str) -> list[dict]:
    return [json.loads(line[6:]) for line in function_log(server, function).splitlines() if line.startswith("EVENT ")]


def test_mapping_fields_and_bad_input(esm, lam, raw_lam, queue, fn_name):
    create_function(lam, fn_name, RECORDER)
    before = mapping_count(lam)
    unknown_broker = BROKER.replace("stratus-test", "elsewhere")
    cases = [
        (dict(FunctionName=fn_name, EventSourceArn=BROKER, SourceAccessConfigurations=ACCESS),
         "InvalidParameterValueException", "Required 'queues' parameter is missing."),
        (dict(FunctionName=fn_name, EventSourceArn=BROKER, Queues=[queue]),
         "InvalidParameterValueException", "Required 'sourceAccessConfigurations' parameter is missing."),
        (dict(FunctionName=fn_name, EventSourceArn=BROKER, Queues=[queue, "second"], SourceAccessConfigurations=ACCESS),
         "ValidationException", "Member must have length less than or equal to 1"),
        (dict(FunctionName=fn_name, EventSourceArn=BROKER, Queues=[queue], SourceAccessConfigurations=ACCESS,
              StartingPosition="LATEST"), "InvalidParameterValueException", "StartingPosition is not valid"),
        (dict(FunctionName=fn_name, EventSourceArn=BROKER, Queues=[queue], SourceAccessConfigurations=ACCESS,
              BisectBatchOnFunctionError=True), "InvalidParameterValueException",
         "Unsupported BisectBatchOnFunctionError parameter"),
        (dict(FunctionName=fn_name, EventSourceArn=unknown_broker, Queues=[queue], SourceAccessConfigurations=ACCESS),
         "InvalidParameterValueException", "STRATUS_MQ_BROKERS"),
        (dict(FunctionName="no-such-function", EventSourceArn=BROKER, Queues=[queue],
              SourceAccessConfigurations=ACCESS),
         "InvalidParameterValueException", "Function does not exist"),
    ]
    for params, code, message in cases:
        got = error_of(lambda params=params: raw_lam.create_event_source_mapping(**params))
        assert got[:2] == (400, code), (params, got)
        assert message in got[2], (params, got)
    assert mapping_count(lam) == before

    created = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=BROKER, Queues=[queue],
                                              SourceAccessConfigurations=ACCESS)
    assert created["BatchSize"] == 100 and created["Queues"] == [queue]
    assert created["SourceAccessConfigurations"] == ACCESS
    assert created["State"] == "Creating" and created["StateTransitionReason"] == "USER_INITIATED"
    assert created["LastProcessingResult"] == "No records processed"
    assert "StartingPosition" not in created and "FunctionResponseTypes" not in created
    wait_state(lam, created["UUID"], "Enabled")
    assert error_of(lambda: lam.create_event_source_mapping(
        FunctionName=fn_name, EventSourceArn=BROKER, Queues=[queue], SourceAccessConfigurations=ACCESS))[:2] == (
        409, "ResourceConflictException")
    lam.delete_event_source_mapping(UUID=created["UUID"])
    wait_gone(lam, created["UUID"])


def test_messages_arrive_in_aws_shape_and_are_acked_after_success(esm, lam, queue, fn_name):
    create_function(lam, fn_name, RECORDER)
    sent_at = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    amqp(_publish, queue, [
        aio_pika.Message(b'{"order": 1}', content_type="application/json", headers={"source": "shop", "n": 10},
                         priority=3, correlation_id="c-1", message_id="m-1", timestamp=sent_at, app_id="tests",
                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        aio_pika.Message(b"plain second"),
    ])
    mapping = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=BROKER, Queues=[queue],
                                              SourceAccessConfigurations=ACCESS, BatchSize=10,
                                              MaximumBatchingWindowInSeconds=1)
    messages = wait_for(lambda: len(found := [m for e in events(esm, fn_name) for m in e["rmqMessagesByQueue"][
        f"{queue}::/"]]) >= 2 and found, what="both messages")
    event = events(esm, fn_name)[0]
    assert list(event) == ["eventSource", "eventSourceArn", "rmqMessagesByQueue"]
    assert event["eventSource"] == "aws:rmq" and event["eventSourceArn"] == BROKER
    assert list(event["rmqMessagesByQueue"]) == [f"{queue}::/"]
    first, second = messages
    assert list(first) == ["basicProperties", "redelivered", "data"]
    assert first["redelivered"] is False
    assert base64.b64decode(first["data"]) == b'{"order": 1}'
    assert base64.b64decode(second["data"]) == b"plain second"
    properties = first["basicProperties"]
    assert list(properties) == ["contentType", "contentEncoding", "headers", "deliveryMode", "priority",
                                "correlationId", "replyTo", "expiration", "messageId", "timestamp", "type",
                                "userId", "appId", "clusterId", "bodySize"]
    assert properties["contentType"] == "application/json" and properties["contentEncoding"] is None
    assert properties["headers"] == {"source": {"bytes": list(b"shop")}, "n": 10}
    assert properties["deliveryMode"] == 2 and properties["priority"] == 3
    assert properties["correlationId"] == "c-1" and properties["messageId"] == "m-1" and properties["appId"] == "tests"
    assert properties["timestamp"] == "Jan 2, 2024, 3:04:05 AM"
    assert properties["bodySize"] == len(b'{"order": 1}')
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK",
             what="LastProcessingResult OK")
    # Acked: once the consumer is gone nothing comes back to the queue.
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    wait_gone(lam, mapping["UUID"])
    assert amqp(_ready, queue) == 0


def test_a_failing_function_gets_the_message_again_redelivered(esm, lam, queue, fn_name):
    create_function(lam, fn_name, FAILS_FIRST_DELIVERY)
    amqp(_publish, queue, [aio_pika.Message(b"only-once-acked")])
    mapping = lam.create_event_source_mapping(FunctionName=fn_name, EventSourceArn=BROKER, Queues=[queue],
                                              SourceAccessConfigurations=ACCESS, BatchSize=1)

    def seen():
        found = [json.loads(line[5:]) for line in function_log(esm, fn_name).splitlines() if line.startswith("SEEN ")]
        return sorted(found, key=lambda item: item["t"])

    deliveries = wait_for(lambda: len(found := seen()) >= 2 and found, what="the redelivery")
    assert [(d["data"], d["redelivered"]) for d in deliveries[:2]] == [("only-once-acked", False),
                                                                       ("only-once-acked", True)]
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK",
             what="the second delivery to succeed")
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    wait_gone(lam, mapping["UUID"])
    assert amqp(_ready, queue) == 0
    assert len(seen()) == 2

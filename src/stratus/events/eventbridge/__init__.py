"""An EventBridge subset: event buses, rules (event patterns and schedules), Lambda targets, PutEvents.

    service.py     EventBridgeService: the operations api/eventbridge.py dispatches to; start and close
    catalog.py     buses and rules in memory (loaded at start), their store kinds, keys and ARNs
    buses.py       Create/Describe/List/DeleteEventBus
    rules.py       Put/Describe/List/Delete/Enable/DisableRule, ListRuleNamesByTarget, TestEventPattern
    targets.py     Put/RemoveTargets, ListTargetsByRule
    put_events.py  PutEvents: entries → events → the targets of matching rules
    scheduled.py   scheduled rules: durable schedule state, the "Scheduled Event" they fire
    delivery.py    what a target receives (Input, InputPath, InputTransformer), handed to the async queue

Delivery: EventBridge invokes Lambda targets asynchronously, so matched events go to the durable async
queue (the `Enqueue` given at construction); PutEvents answers once they are queued. Errors are
stratus.errors' EventBridge classes (`{"__type", "message"}` bodies); the names below are the ones
api/eventbridge.py imports.
"""

from stratus.errors import EventBridgeError, InternalException, SerializationException
from stratus.errors import EventBridgeUnknownOperationException as UnknownOperationException
from stratus.errors import EventBridgeValidationException as ValidationException
from stratus.events.eventbridge.service import EventBridgeService

__all__ = [
    "EventBridgeError", "EventBridgeService", "InternalException", "SerializationException",
    "UnknownOperationException", "ValidationException",
]

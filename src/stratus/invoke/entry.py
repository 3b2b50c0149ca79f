"""The one way to invoke a function: `InvokeService.invoke`.

Every caller — the Invoke API (both front doors), async queue workers, event source pollers,
destinations and schedules, and later Function URLs and API Gateway — resolves a Target and invokes
it here, and gets one InvokeResult. Authorization will sit here too: every invoke passes this point.
"""

from __future__ import annotations

import asyncio

from stratus.invoke import trace
from stratus.invoke.service import Invoker
from stratus.invoke.streaming import ResponseStream, StreamLimits
from stratus.invoke.types import EventQueue, FunctionResolver, Invocation, InvocationType, InvokeResult, Target


class InvokeService:
    """Resolve a name to a Target; run, queue or dry-run an invocation of it."""

    def __init__(self, resolver: FunctionResolver, invoker: Invoker, events: EventQueue | None = None):
        self.resolver = resolver
        self.invoker = invoker
        self.events = events

    def resolve(self, reference: str, qualifier: str | None = None) -> Target:
        """The Target of FunctionName (+ Qualifier); ResourceNotFoundException when none."""
        return self.resolver.target(reference, qualifier)

    def invoke(self, target: Target, payload: bytes, *, invocation_type: InvocationType = "RequestResponse",
               request_id: str, client_context: bytes | None = None, trace_id: bytes | None = None,
               tenant_id: bytes | None = None, want_log: bool = False,
               stream: ResponseStream | None = None) -> asyncio.Future[InvokeResult]:
        """Invoke `target` with `payload` (checked JSON bytes, passed on unchanged).

        RequestResponse: the future resolves once the function answered (status 200, its Outcome).
        Event: once the event is durably queued (202). DryRun: at once (204). A refusal that is known
        at once (TooManyRequestsException) is raised here; later ones fail the future.

        `trace_id` is the caller's X-Amzn-Trace-Id (or the trace an event, a retry or a destination belongs
        to): the function runs in that trace, or in a new one (invoke/trace.py), with its Lineage counted. `stream`: see
        invoke_stream.
        """
        if invocation_type == "RequestResponse":
            if trace_id:
                header = trace.for_invocation(trace.incoming(trace_id, target.active_tracing), target.function_name)
            else:
                header = trace.new_invocation(target.active_tracing, target.function_name)
            invocation = Invocation(payload, target.invoked_arn, request_id=request_id,
                                    client_context=client_context, trace_id=header, tenant_id=tenant_id,
                                    want_log=want_log, stream=stream)
            return self.invoker.submit(target.spec, invocation, target.executed_version)
        if invocation_type == "Event":
            if self.events is None:
                raise RuntimeError("Event invokes need the async queue")
            return self.events.accept(target.function_name, target.qualifier, payload, request_id,
                                      InvokeResult(202, request_id, target.executed_version),
                                      trace.incoming(trace_id, target.active_tracing))
        done: asyncio.Future[InvokeResult] = asyncio.get_running_loop().create_future()
        done.set_result(InvokeResult(204, request_id, target.executed_version))
        return done

    def invoke_stream(self, target: Target, payload: bytes, *, request_id: str, limits: StreamLimits | None = None,
                      client_context: bytes | None = None, trace_id: bytes | None = None,
                      tenant_id: bytes | None = None, want_log: bool = False) -> ResponseStream:
        """Invoke `target` synchronously, taking its response as the runtime sends it (InvokeWithResponseStream,
        Function URLs in RESPONSE_STREAM mode): `await stream.started()`, `async for piece in stream`, then
        `stream.result` (its Outcome says whether the function failed: invoke/streaming.py's completion_error).
        A buffered answer (a function that does not stream) comes as one piece at the end. A throttle known at
        once is raised here, a later one by `started()`."""
        stream = ResponseStream(limits)
        stream.follow(self.invoke(target, payload, request_id=request_id, client_context=client_context,
                                  trace_id=trace_id, tenant_id=tenant_id, want_log=want_log, stream=stream))
        return stream

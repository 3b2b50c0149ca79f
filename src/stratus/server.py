"""The application object (built once at start-up, the only holder of state) and `serve`."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys

import uvicorn

from stratus.api.app import build_asgi
from stratus.api.concurrency import ConcurrencyRoutes
from stratus.api.event_invoke_config import EventInvokeConfigRoutes
from stratus.api.event_source_mappings import EventSourceMappingRoutes
from stratus.api.eventbridge import EventBridgeRoutes
from stratus.api.fastpath import StratusHttpProtocol
from stratus.api.invoke import InvokeEndpoint
from stratus.api.layers import LayerRoutes
from stratus.api.policy import PolicyRoutes
from stratus.api.tags import TagRoutes
from stratus.api.versions import VersionRoutes
from stratus.config import Settings
from stratus.control.aliases import AliasService
from stratus.control.concurrency import ConcurrencyService
from stratus.control.event_invoke_config import EventInvokeConfigService
from stratus.control.event_source_mappings import EventSourceMappingService
from stratus.control.functions import FunctionService
from stratus.control.layers import LayerService
from stratus.control.policy import PolicyService
from stratus.control.tags import TagService
from stratus.events.async_queue import AsyncInvocations
from stratus.events.destinations import Destinations
from stratus.events.eventbridge import EventBridgeService
from stratus.events.mappings import MappingRunner
from stratus.invoke.entry import InvokeService
from stratus.invoke.service import Invoker
from stratus.observe.logs import LogSink
from stratus.sandbox import NetworkConfig, create_sandbox
from stratus.store.blobs import BlobStore
from stratus.store.migrations import SchemaTooNew
from stratus.store.queue_sqlite import SqliteQueueStorage
from stratus.store.sqlite import SqliteStore

log = logging.getLogger("stratus")


class Application:
    """Store, blobs, sandbox, invoker and control services, wired together."""

    async_invocations: AsyncInvocations  # declared here: the lambdas given to Destinations refer to them
    eventbridge: EventBridgeService

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = SqliteStore(settings.db_path)
        self.blobs = BlobStore(settings.blobs_dir, settings.code_dir)
        network = NetworkConfig.parse(settings.function_network, settings.function_host_ports, settings.port,
                                      settings.isolated_network)
        self.sandbox = create_sandbox(settings.sandbox, settings.data_dir / "sandboxes", network)
        self.log_sink = LogSink(settings.logs_dir)
        self.invoker = Invoker(settings, self.sandbox, self.log_sink)
        self.layers = LayerService(settings, self.store, self.blobs)  # before functions: they attach layers
        self.functions = FunctionService(settings, self.store, self.blobs, self.invoker, self.sandbox, self.layers)
        self.event_invoke_configs = EventInvokeConfigService(self.functions)
        # Destinations and the async queue need each other (a function destination is an async invoke), and
        # event bus destinations go to the EventBridge built below: both are reached through lambdas, called
        # only once the server runs.
        destinations = Destinations(settings, lambda ref, payload: self.async_invocations.enqueue(ref, payload),
                                    lambda entries: self.eventbridge.put_events(entries))
        self.async_invocations = AsyncInvocations(settings, self.functions, self.event_invoke_configs, destinations,
                                                  SqliteQueueStorage(settings.queue_path))
        self.invoke_service = InvokeService(self.functions, self.invoker, self.async_invocations)
        self.invoke_endpoint = InvokeEndpoint(self.invoke_service, settings)
        # Each resource's routes (one line per resource; its service is built just above its line).
        routes = []
        routes += LayerRoutes(self.layers, settings).routes()
        self.aliases = AliasService(self.functions)
        routes += VersionRoutes(self.functions, self.aliases).routes()
        self.policies = PolicyService(self.functions)
        self.functions.on_qualifier_deleted.append(self.policies.forget)  # a version's or alias's policy goes with it
        routes += PolicyRoutes(self.policies).routes()
        routes += TagRoutes(TagService(self.functions)).routes()
        self.concurrency = ConcurrencyService(self.functions, self.invoker)
        routes += ConcurrencyRoutes(self.concurrency).routes()
        routes += EventInvokeConfigRoutes(self.event_invoke_configs).routes()
        self.eventbridge = EventBridgeService(settings, self.store, self.functions.arns, self.async_invocations.enqueue)
        routes += EventBridgeRoutes(self.eventbridge).routes()
        self.mappings = EventSourceMappingService(self.functions, self.store, MappingRunner(
            settings, self.functions, self.invoke_service, self.store, self.async_invocations.destinations))
        routes += EventSourceMappingRoutes(self.mappings).routes()
        self.asgi = build_asgi(self.invoke_endpoint, self.functions, settings, self.lifespan, routes)

    async def startup(self) -> None:
        self.sandbox.cleanup_leftovers()
        await self.store.open()
        await self.layers.load()
        await self.functions.load()
        self.invoker.start()
        await self.concurrency.load()  # after functions (it resolves their versions), once the invoker runs
        await self.async_invocations.start(self.invoke_service)  # after concurrency: queued events run under its limits
        await self.eventbridge.start()  # after the async queue: matched and scheduled events go to it
        await self.mappings.load()  # event source pollers start once everything they invoke is ready
        log.info("Stratus serving the Lambda API on %s (data in %s, sandbox %s)",
                 self.settings.endpoint, self.settings.data_dir, self.sandbox.name)

    async def shutdown(self) -> None:
        await self.mappings.close()  # pollers stop first: their batches in flight still need the invoker
        await self.eventbridge.close()  # no schedule fires into a closing queue
        await self.async_invocations.close()
        await self.invoker.close()
        await self.store.close()
        self.log_sink.close()
        self.sandbox.close()

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()


class _Server(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM after its graceful shutdown; a clean stop must exit 0."""

    def handle_exit(self, sig, frame) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def serve(settings: Settings) -> None:
    """Run the server until SIGTERM/SIGINT: stop accepting, finish running invokes, shut environments down."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        application = Application(settings)
    except (SchemaTooNew, ValueError) as exc:  # a data dir from a newer release, a bad setting: say so in one line
        print(f"stratus: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    config = uvicorn.Config(
        application.asgi, host=settings.host, port=settings.port, loop="uvloop",
        http=StratusHttpProtocol.bind(application.invoke_endpoint),
        proxy_headers=False,
        lifespan="on", access_log=False, log_level="warning", server_header=False, date_header=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s), timeout_keep_alive=60,
    )
    server = _Server(config)
    server.run()
    if not server.started:  # start-up failed (uvicorn logged why): a non-zero exit, as `uvicorn.run` does
        raise SystemExit(3)

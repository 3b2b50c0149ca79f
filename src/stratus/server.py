"""The application object (built once at start-up, the only holder of state) and `serve`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import resource
import signal
import sys
from pathlib import Path

import uvicorn

from stratus.api.admin import AdminRoutes
from stratus.api.apigateway import ApiGatewayRoutes
from stratus.api.apigatewayv2 import ApiGatewayV2Routes
from stratus.api.app import build_asgi
from stratus.api.capacity import CapacityRoutes
from stratus.api.code_signing import CodeSigningRoutes
from stratus.api.code_urls import CodeUrls
from stratus.api.concurrency import ConcurrencyRoutes
from stratus.api.debug import DebugRoutes
from stratus.api.durable import DurableExecutionRoutes
from stratus.api.event_invoke_config import EventInvokeConfigRoutes
from stratus.api.event_source_mappings import EventSourceMappingRoutes
from stratus.api.eventbridge import EventBridgeRoutes
from stratus.api.fastpath import StratusHttpProtocol
from stratus.api.function_urls import FunctionUrlRoutes
from stratus.api.invoke import InvokeEndpoint
from stratus.api.layers import LayerRoutes
from stratus.api.logs import LogsRoutes
from stratus.api.origins import PublicUrlError
from stratus.api.policy import PolicyRoutes
from stratus.api.runtime_config import RuntimeConfigRoutes
from stratus.api.stacks import StackRoutes
from stratus.api.stream_invoke import StreamInvokeEndpoint
from stratus.api.tags import TagRoutes
from stratus.api.versions import VersionRoutes
from stratus.auth.keys import AccessKeyError
from stratus.auth.setup import build_authenticator
from stratus.config import Settings, is_loopback_host
from stratus.control.aliases import AliasService
from stratus.control.capacity import CapacityService
from stratus.control.code_signing import CodeSigningService
from stratus.control.concurrency import ConcurrencyService
from stratus.control.durable import DurableExecutions
from stratus.control.event_invoke_config import EventInvokeConfigService
from stratus.control.event_source_mappings import EventSourceMappingService
from stratus.control.function_urls import FunctionUrlService
from stratus.control.functions import FunctionService
from stratus.control.garbage import CodeCollector
from stratus.control.layers import LayerService
from stratus.control.policy import PolicyService
from stratus.control.recursion import RecursionService
from stratus.control.runtime_management import RuntimeManagementService
from stratus.control.tags import TagService
from stratus.deploy.artifacts import Artifacts
from stratus.deploy.loopback import LoopbackServices
from stratus.deploy.stacks import StackService
from stratus.events.async_queue import Accepted, AsyncInvocations
from stratus.events.destinations import Destinations
from stratus.events.eventbridge import EventBridgeService
from stratus.events.mappings import MappingRunner
from stratus.frontdoor.api_door import ApiDoor
from stratus.frontdoor.apis import HttpApis
from stratus.frontdoor.door import FrontDoor
from stratus.frontdoor.rest_apis import RestApis
from stratus.frontdoor.rest_door import ExecuteApiDoor, RestDoor
from stratus.frontdoor.urls import FunctionUrls
from stratus.http_limits import HttpLimits
from stratus.iam.api import IamRoutes, root_route
from stratus.iam.service import IamService
from stratus.invoke.debug import debug_modes
from stratus.invoke.endpoints import loopback_ports
from stratus.invoke.entry import InvokeService
from stratus.invoke.service import Invoker
from stratus.invoke.streaming import StreamLimits
from stratus.observe.log_store import LogStore
from stratus.observe.logs_service import LogsService
from stratus.runtime import http as runtime_http
from stratus.runtime import sdks
from stratus.runtime.catalog import RuntimeCatalog
from stratus.runtime.runtimes import PYTHON_RUNTIMES, RuntimeUnavailable
from stratus.sandbox import NetworkConfig, SandboxRefused, create_sandbox
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
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)  # the server's alone (functions see their code elsewhere)
        self.store = SqliteStore(settings.db_path)
        self.blobs = BlobStore(settings.blobs_dir, settings.code_dir)
        queue_storage: SqliteQueueStorage[Accepted] = SqliteQueueStorage(settings.queue_path)  # schema checked now
        # Refusals of the settings come before anything is started (the sandbox prepares networks).
        self.auth, self.auth_note = build_authenticator(settings)  # after the stores' schema checks
        network = NetworkConfig.parse(settings.function_network, settings.function_host_ports, settings.port,
                                      settings.isolated_network, loopback_ports(settings.service_endpoint_map()))
        self.sandbox = create_sandbox(settings.sandbox, settings.data_dir / "sandboxes", network,
                                      seccomp=settings.seccomp, host=settings.host,
                                      python_zygote=settings.python_zygote,
                                      python_prefork=settings.python_prefork,
                                      node_prefork=settings.node_prefork)
        self.log_sink = LogStore(settings.logs_db_path, max_bytes=settings.log_max_bytes,
                                 day_s=settings.log_retention_day_s, sweep_interval_s=settings.log_retention_sweep_s)
        self.invoker = Invoker(settings, self.sandbox, self.log_sink)
        self.invoker.credentials = self.auth.sessions  # each environment's role credentials (SigV4 on)
        self.layers = LayerService(settings, self.store, self.blobs)  # before functions: they attach layers
        # Which interpreter serves each runtime: looked for once, here, for the sandbox in use.
        self.runtimes = RuntimeCatalog.discover(self.sandbox.name, search_path=settings.runtime_search_path,
                                                python_override=settings.python_interpreter,
                                                strict=settings.strict_runtimes)
        self.functions = FunctionService(settings, self.store, self.blobs, self.invoker, self.sandbox, self.layers,
                                         self.runtimes)
        self.garbage = CodeCollector(self.functions, self.layers, self.blobs, self.layers.opt_root)
        self.functions.collect_garbage = self.layers.collect_garbage = self.garbage.collect
        self.event_invoke_configs = EventInvokeConfigService(self.functions)
        self.recursion = RecursionService(self.functions)  # recursive loop detection: the async queue, SQS pollers
        # Destinations and the async queue need each other (a function destination is an async invoke), and
        # event bus destinations go to the EventBridge built below: both are reached through lambdas, called
        # only once the server runs.
        destinations = Destinations(
            settings, lambda ref, payload, *, trace=None: self.async_invocations.enqueue(ref, payload, trace=trace),
            lambda entries: self.eventbridge.put_events(entries))
        self.async_invocations = AsyncInvocations(settings, self.functions, self.event_invoke_configs, destinations,
                                                  queue_storage, self.recursion)
        self.invoke_service = InvokeService(self.functions, self.invoker, self.async_invocations)
        self.invoke_endpoint = InvokeEndpoint(self.invoke_service, settings, self.auth)
        # Each resource's routes (one line per resource; its service is built just above its line).
        routes = []
        self.code_urls = CodeUrls(settings)  # presigned Code.Location / Content.Location links
        routes += LayerRoutes(self.layers, settings, self.code_urls).routes()
        self.aliases = AliasService(self.functions)
        routes += VersionRoutes(self.functions, self.aliases).routes()
        self.policies = PolicyService(self.functions)
        self.auth.use_resource_policies(self.policies.statements_for)  # an invocation may be allowed by one
        self.functions.on_qualifier_deleted.append(self.policies.forget)  # a version's or alias's policy goes with it
        routes += PolicyRoutes(self.policies).routes()
        self.concurrency = ConcurrencyService(self.functions, self.invoker)
        routes += ConcurrencyRoutes(self.concurrency).routes()
        routes += EventInvokeConfigRoutes(self.event_invoke_configs).routes()
        routes += RuntimeConfigRoutes(self.recursion, RuntimeManagementService(self.functions), self.invoke_service,
                                      settings).routes()
        self.eventbridge = EventBridgeService(settings, self.store, self.functions.arns, self.async_invocations.enqueue)
        self.iam = IamService(self.store, settings.account_id)
        self.auth.use_role_policies(self.iam)  # a function's credentials act with its role's policies
        self.logs = LogsService(self.log_sink, settings.region, settings.account_id)  # CloudWatch Logs
        routes.append(root_route(EventBridgeRoutes(self.eventbridge).dispatch,  # POST /: EventBridge, IAM, STS, Logs
                                 IamRoutes(self.iam, settings.account_id).dispatch,
                                 LogsRoutes(self.logs, settings.log_live_tail_max_s).dispatch))
        self.mappings = EventSourceMappingService(self.functions, self.store, MappingRunner(
            settings, self.functions, self.invoke_service, self.store, self.async_invocations.destinations,
            self.recursion))
        routes += EventSourceMappingRoutes(self.mappings).routes()
        routes += TagRoutes(TagService(self.functions, self.mappings)).routes()  # functions' and mappings' tags
        # The HTTP front door: Function URLs (and API Gateway APIs), served by Host or path, one invoke each.
        self.function_urls = FunctionUrlService(settings, self.functions)
        routes += FunctionUrlRoutes(self.function_urls).routes()
        # Code signing configs (kept, not enforced), capacity providers and scaling configs (kept, no effect here),
        # durable executions (none yet: answered as Lambda answers for a missing one).
        routes += CodeSigningRoutes(CodeSigningService(self.functions)).routes()
        routes += CapacityRoutes(CapacityService(self.functions)).routes()
        routes += DurableExecutionRoutes(DurableExecutions(self.functions)).routes()
        self.invoker.debug = debug_modes(settings, self.sandbox, self.invoker)  # `stratus debug` (invoke/debug.py)
        routes += DebugRoutes(self.invoker.debug, self.functions, (settings.port,)).routes()
        self.http_apis = HttpApis(settings, self.store)  # the route table (its Python interface: frontdoor/apis.py)
        routes += ApiGatewayV2Routes(self.http_apis).routes()
        self.rest_apis = RestApis(settings, self.store, taken=self.http_apis.api)  # REST APIs (frontdoor/rest_apis.py)
        routes += ApiGatewayRoutes(self.rest_apis).routes()
        routes += AdminRoutes(settings, self.invoker, self.sandbox.name).routes()  # what the CLI reads (ls, runtimes)
        self.frontdoor = FrontDoor(settings, FunctionUrls(
            self.function_urls, self.invoke_service, self.auth, self.policies.statements_for, settings.account_id,
            settings.region, settings.sync_payload_max_bytes,
            StreamLimits(settings.stream_response_max_bytes, settings.stream_uncapped_bytes,
                         settings.stream_bandwidth_bytes_per_s),
            settings.stream_drain_timeout_s, scheme="https" if settings.tls_cert else "http",
            port=settings.port), ExecuteApiDoor(ApiDoor(
                self.http_apis, self.invoke_service, settings.account_id, settings.region,
                settings.sync_payload_max_bytes), RestDoor(
                self.rest_apis, self.invoke_service, settings.account_id, settings.region,
                settings.sync_payload_max_bytes, settings.port, "https" if settings.tls_cert else "http")))
        # Stacks (deploy/): the engine calls the APIs above over loopback with an in-memory admin key.
        self.deploy_services = LoopbackServices(settings)
        if self.auth.verifier is not None:
            self.auth.verifier.add_key(self.deploy_services.key_id, self.deploy_services.secret)
        self.stacks = StackService(self.store, self.deploy_services, settings.region, settings.account_id)
        routes += StackRoutes(self.stacks, Artifacts(settings.artifacts_dir)).routes()
        self.asgi = build_asgi(self.invoke_endpoint, self.functions, settings, self.code_urls, self.lifespan,
                               routes, self.auth, self.frontdoor, StreamInvokeEndpoint(self.invoke_endpoint))

    async def startup(self) -> None:
        self.sandbox.cleanup_leftovers()
        await self.store.open()
        await self.layers.load()
        await self.iam.load()
        await self.functions.load()
        await self.policies.load()  # policies are served, and authorization reads them, from memory
        await self.function_urls.load()
        await self.http_apis.load()
        await self.recursion.load()
        await self.rest_apis.load()
        await self.garbage.collect()  # what a delete, a failed upload or a kill -9 mid-upload left behind
        self._verifying = asyncio.get_running_loop().create_task(self.garbage.verify_all())  # in the background
        self._compiling = asyncio.get_running_loop().run_in_executor(  # the runtime SDKs' bytecode, in the background
            None, sdks.compile_bytecode, self._sdk_bytecode_targets())
        self.invoker.start()
        await self.concurrency.load()  # after functions (it resolves their versions), once the invoker runs
        await self.async_invocations.start(self.invoke_service)  # after concurrency: queued events run under its limits
        await self.eventbridge.start()  # after the async queue: matched and scheduled events go to it
        await self.mappings.load()  # event source pollers start once everything they invoke is ready
        log.info("Stratus serving the Lambda API on %s (data in %s, sandbox %s)",
                 self.settings.endpoint, self.settings.data_dir, self.sandbox.name)
        log.info("%s", self.auth_note)
        log.info("runtimes: %s (`stratus runtimes` lists them)", self.runtimes.summary())

    def _sdk_bytecode_targets(self) -> list[tuple[Path, str, tuple[int, ...]]]:
        """(SDK folder, interpreter, version) for each Python runtime this server can run."""
        root, targets = sdks.sdk_root(self.settings.runtime_sdk_dir), set()
        for runtime in PYTHON_RUNTIMES:
            interpreter, folder = self.runtimes.resolution(runtime).interpreter, sdks.sdk_dir(runtime, root)
            if interpreter is not None and folder is not None:
                targets.add((folder, interpreter.path, interpreter.version[:2]))
        return sorted(targets)

    async def shutdown(self) -> None:
        self.garbage.stop_verifying()
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


def warn_network_listener(settings: Settings) -> None:
    """A listener beyond loopback serves the API to every machine that reaches it: say so, loudly."""
    names = settings.public_url or "only localhost, 127.0.0.1 and [::1]: set STRATUS_PUBLIC_URL / --public-url " \
        "to the name other machines use"
    log.warning(
        "\n" + "!" * 100 + "\n"
        "WARNING: Stratus listens on %s:%d, beyond loopback: every machine that reaches this address can call\n"
        "the Lambda API. Each request must be signed with one of this server's access keys; keep them secret.\n"
        "Listen on 127.0.0.1 unless this network is yours alone. Host names answered: %s.\n" + "!" * 100,
        settings.host, settings.port, names)
    if not settings.tls_cert:
        log.warning("listening on %s without TLS: requests cross the network in clear (signed, but readable and "
                    "replayable for 5 minutes); serve HTTPS with --tls-cert/--tls-key", settings.host)


class _Server(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM after its graceful shutdown; a clean stop must exit 0."""

    def handle_exit(self, sig, frame) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    async def shutdown(self, sockets=None) -> None:
        # An idle TLS connection is dropped, not closed: a close waits (up to 30 s) for the client's
        # close_notify, which an idle keep-alive client never sends.
        if self.config.is_ssl:
            for connection in list(self.server_state.connections):
                if isinstance(connection, StratusHttpProtocol) and (
                        connection.cycle is None or connection.cycle.response_complete):
                    connection.raw_transport.abort()
        await super().shutdown(sockets)


def http_limits(settings: Settings) -> tuple[HttpLimits, HttpLimits]:
    """The API port's limits and every Runtime API endpoint's, from the settings."""
    api = HttpLimits(
        max_head_bytes=settings.http_max_head_bytes, max_header_count=settings.http_max_header_count,
        header_timeout_s=settings.http_header_timeout_s, body_timeout_s=settings.http_body_timeout_s,
        idle_timeout_s=settings.http_idle_timeout_s, max_connections=settings.http_max_connections,
        large_body_bytes=settings.http_large_body_bytes, max_large_bodies=settings.http_max_large_bodies)
    # A runtime's connection is idle while its function runs, and may be opened during INIT: longer than any
    # function timeout (see runtime/http.py).
    runtime_idle = max(settings.http_idle_timeout_s, settings.max_timeout_s + 60.0)
    runtime = dataclasses.replace(
        runtime_http.RUNTIME_LIMITS, max_head_bytes=api.max_head_bytes, max_header_count=api.max_header_count,
        header_timeout_s=api.header_timeout_s, body_timeout_s=api.body_timeout_s, idle_timeout_s=runtime_idle,
        first_request_timeout_s=runtime_idle, max_connections=settings.runtime_api_max_connections)
    return api, runtime


def raise_file_limit(wanted: int) -> None:
    """Raise the soft limit on open files towards the hard one, so the connection limits are what refuses
    connections, not EMFILE (the connection limit must stay below it, or accept() fails for everyone)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + 1024 if hard == resource.RLIM_INFINITY else min(hard, wanted + 1024)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning("open-file limit %d is below STRATUS_HTTP_MAX_CONNECTIONS and the Runtime APIs' (%d): "
                    "raise it (ulimit -n) or lower the setting", soft, wanted)


def serve(settings: Settings) -> None:
    """Run the server until SIGTERM/SIGINT: stop accepting, finish running invokes, shut environments down."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(settings.tls_cert) != bool(settings.tls_key) or not all(
            os.access(path, os.R_OK) for path in (settings.tls_cert, settings.tls_key) if path):
        print("stratus: HTTPS needs both --tls-cert and --tls-key (STRATUS_TLS_CERT, STRATUS_TLS_KEY), readable PEM "
              "files", file=sys.stderr)
        raise SystemExit(2)
    try:
        application = Application(settings)
    except (SchemaTooNew, PublicUrlError, AccessKeyError, SandboxRefused, RuntimeUnavailable, ValueError) as exc:
        print(f"stratus: {exc}", file=sys.stderr)  # a newer data dir, a bad or refused setting, an unsafe sandbox
        raise SystemExit(2) from None
    if not is_loopback_host(settings.host):
        warn_network_listener(settings)
    api_limits, runtime_limits = http_limits(settings)
    runtime_http.configure(runtime_limits)
    raise_file_limit(api_limits.max_connections + 64 * runtime_limits.max_connections)
    config = uvicorn.Config(
        application.asgi, host=settings.host, port=settings.port, loop="uvloop",
        ssl_certfile=settings.tls_cert or None, ssl_keyfile=settings.tls_key or None,
        http=StratusHttpProtocol.bind(application.invoke_endpoint, api_limits, application.frontdoor),
        proxy_headers=False,
        lifespan="on", access_log=False, log_level="warning", server_header=False, date_header=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s), timeout_keep_alive=60,
    )
    server = _Server(config)
    if hasattr(application.sandbox, "api_protocol"):  # the API inside each environment's network (sandbox/network.py)
        application.sandbox.api_protocol = lambda: config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=server.server_state, app_state=server.lifespan.state)
    server.run()
    if not server.started:  # start-up failed (uvicorn logged why): a non-zero exit, as `uvicorn.run` does
        raise SystemExit(3)

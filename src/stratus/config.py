"""One Settings object: every limit and knob, with AWS's defaults, from STRATUS_* env vars or flags."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Settings:
    """Server settings. Field `foo_bar` is read from env var `STRATUS_FOO_BAR` unless given explicitly."""

    host: str = "127.0.0.1"
    port: int = 8421
    # The name this server is reached by beyond loopback (e.g. "https://stratus.example.com"): requests for
    # other Host names are refused, and the URLs in answers (Code.Location) use it. Empty: http://127.0.0.1:PORT
    # (or the listen address when it is one specific address).
    public_url: str = ""
    # A FunctionUrl's form: "host" (http://<url-id>.lambda-url.<region>.localhost:<port>/, as AWS's are by host),
    # "path" (<public endpoint>/_stratus/url/<url-id>/: reachable by any HTTP client) or "auto": host when this
    # machine resolves names under .localhost (browsers and curl always do; glibc only with nss-myhostname or
    # systemd-resolved), else path. Both forms reach the function either way.
    function_url_style: str = "auto"
    code_url_expiry_s: float = 600.0  # Code.Location / layer Content.Location are presigned for this long (AWS: 10 min)
    data_dir: Path = Path("~/.stratus").expanduser()
    region: str = "us-east-1"
    account_id: str = "000000000000"

    # Function limits (AWS defaults).
    default_timeout_s: int = 3
    max_timeout_s: int = 900
    default_memory_mb: int = 128
    min_memory_mb: int = 128
    max_memory_mb: int = 10240
    default_ephemeral_storage_mb: int = 512
    max_ephemeral_storage_mb: int = 10240
    env_vars_max_bytes: int = 4096
    zip_direct_upload_max_bytes: int = 50 * MB
    unzipped_code_max_bytes: int = 250 * MB
    sync_payload_max_bytes: int = 6 * MB
    sync_response_max_bytes: int = 6 * MB
    async_payload_max_bytes: int = 1 * MB
    invoke_async_payload_max_bytes: int = 256 * 1024  # the deprecated InvokeAsync's limit (AWS: 256 KB)
    # Response streaming (InvokeWithResponseStream; Function URLs in RESPONSE_STREAM mode), AWS's limits: a
    # streamed response may reach this size; its first stream_uncapped_bytes flow at full speed, the rest at
    # most stream_bandwidth_bytes_per_s (0: no cap). A client that stops reading once the function has ended
    # is dropped after stream_drain_timeout_s.
    stream_response_max_bytes: int = 200 * MB
    stream_uncapped_bytes: int = 6 * MB
    stream_bandwidth_bytes_per_s: int = 2 * MB
    stream_drain_timeout_s: float = 60.0
    control_request_max_bytes: int = 70_167_211  # base64 of a 50 MB zip inside JSON, as AWS

    # Concurrency.
    account_concurrency_limit: int = 1000
    unreserved_concurrency_min: int = 100

    # Execution environments.
    init_timeout_s: float = 10.0
    idle_timeout_s: float = 300.0
    shutdown_grace_s: float = 2.0
    # A lone warm invocation's runtime runs on the server's CPU (invoke/placement.py): fewer cross-CPU wake-ups.
    cpu_placement: bool = True
    sandbox: str = "auto"  # auto (namespaced where the host allows, else plain) | namespaced | plain
    seccomp: bool = True  # namespaced sandbox: deny dangerous syscalls (bpf, keyctl, mount, ptrace...) with EPERM
    # Namespaced sandbox: Python cold starts fork from a runtime zygote (sandbox/zygote.py); 0 spawns them.
    python_zygote: bool = True
    # Blank Python environments kept forked ahead of demand per zygote (cgroups joined, network entered,
    # unprivileged reaper; they wait for a function): 0 forks every cold start on demand.
    python_prefork: int = 2
    # Pre-started Node runtimes kept per Node binary (sandboxed, Node running the bootstrap, waiting for a
    # function: sandbox/nodepool.py): 0 spawns every Node cold start (bwrap + a fresh node).
    node_prefork: int = 2
    # Namespaced sandbox: what an environment's own network reaches (sandbox/network.py). outbound: the
    # outside world through pasta, of the host's loopback only these ports (comma list; reached as
    # 127.0.0.1:PORT) and Stratus's API port | none: loopback only | host: every host loopback port too.
    function_network: str = "outbound"
    function_host_ports: str = ""
    isolated_network: bool = False  # the old name of function_network=none
    # Runtime interpreters (runtime/interpreters.py): each pythonX.Y / nodejsN.x runs on that version when the
    # host has it, else on the nearest (newer first) with a warning. python_interpreter: one Python for every
    # python runtime instead; runtime_search_path: only these folders (colon separated) are searched, instead of
    # PATH, pyenv, uv and the install step's Node.js wheels; strict_runtimes: refuse functions whose version is
    # missing (CreateFunction / UpdateFunctionConfiguration) instead of falling back.
    python_interpreter: str = ""
    runtime_search_path: str = ""
    strict_runtimes: bool = False
    # The AWS SDKs functions find in their runtime (boto3, @aws-sdk v3), as installed by scripts/runtime-sdks.sh:
    # <dir>/python, <dir>/python3.11, <dir>/python3.9, <dir>/node. Empty: <the server's venv>/share/stratus/runtime-sdk.
    runtime_sdk_dir: str = ""
    log_tail_bytes: int = 4096
    # Function logs: the CloudWatch Logs store (<data dir>/logs.db, observe/log_store.py). Past log_max_bytes of
    # messages (0: no cap) the oldest events are dropped first; each group's retentionInDays is enforced by a
    # sweep every log_retention_sweep_s. A StartLiveTail session ends after log_live_tail_max_s (AWS: 3 hours).
    log_max_bytes: int = 1024 * MB
    log_retention_sweep_s: float = 60.0
    log_live_tail_max_s: float = 3 * 3600.0
    # TESTS ONLY: the length of a retention "day" in seconds (2: retentionInDays=1 keeps events 2 s); AWS: 86,400.
    log_retention_day_s: float = 86400.0

    # Environment variables at rest: a base64 AES-256 key; empty: a key file in the data dir, made at first start.
    encryption_key: str = ""

    # AWS-API-compatible endpoints Stratus talks to for event sources and destinations (SQS, SNS,
    # Kinesis, DynamoDB Streams...): "sqs=http://127.0.0.1:4566,kinesis=http://..." (service=URL, comma
    # separated; "*=URL" for every service), with these credentials.
    service_endpoints: str = ""
    service_access_key_id: str = "test"
    service_secret_access_key: str = "test"

    # Authentication: "sigv4" (every request on the port signed with one of the access keys) or "off"
    # (refused unless the server listens only on loopback). Access keys: "id:secret,..."; empty: the admin
    # pair in <data dir>/credentials (profile "stratus"), made at first start.
    auth: str = "sigv4"
    # HTTPS: a PEM certificate (chain) and its key; both or neither. A non-loopback listener without them warns.
    tls_cert: str = ""
    tls_key: str = ""
    access_keys: str = dataclasses.field(default="", repr=False)  # secrets: never in a repr or a log
    # What a function's role credentials may do when the role is unknown to IAM: an AWS managed policy's
    # name (e.g. AWSLambdaRole: invoke any function); empty: nothing.
    unknown_role_policy: str = ""
    # HTTP hardening (the API port; the Runtime API endpoints share the sizes and timeouts, see runtime/http.py).
    # Heads: 16 KB (request line + headers; more than API Gateway's 10 KB, Node's default) and 100 fields.
    http_max_head_bytes: int = 16 * 1024
    http_max_header_count: int = 100
    http_header_timeout_s: float = 10.0  # a head must arrive within this of its first byte (431/408 beyond)
    http_body_timeout_s: float = 30.0  # a body that makes no progress for this long is cut (408)
    http_idle_timeout_s: float = 60.0  # an idle keep-alive connection is closed after this
    http_max_connections: int = 1000  # open connections on the API port; beyond, refused at once (503)
    http_large_body_bytes: int = 8 * MB  # bodies above this (more than any invoke payload) need a slot ...
    http_max_large_bodies: int = 4  # ... of this many; beyond: 429 TooManyRequestsException, retried by SDKs
    runtime_api_max_connections: int = 64  # per environment's Runtime API

    # Server shutdown: how long running invokes may take to finish on SIGTERM.
    graceful_shutdown_s: float = 30.0

    # Asynchronous invocations (InvocationType=Event): the durable queue (<data dir>/queue.db).
    async_retry_base_s: float = 60.0  # after a function error wait this, then twice this (AWS: ~1 min, ~2 min)
    async_throttle_retry_base_s: float = 1.0  # throttles/system errors: from 1 s, doubling ...
    async_throttle_retry_max_s: float = 300.0  # ... up to 5 min (AWS), until the event's maximum age
    async_workers: int = 32  # async invocations in flight at once, all functions together (0: accept, run none)
    async_event_age_scale: float = 1.0  # tests only: multiplies every MaximumEventAgeInSeconds when checked
    # Recursive loop detection: an event whose chain (the Lineage of its trace header) has invoked Lambda this
    # many times is not run again, unless the function's RecursiveLoop is Allow (AWS: 16).
    recursion_limit: int = 16

    # Event source mappings: the pollers (SQS, Kinesis, DynamoDB Streams, RabbitMQ).
    esm_sqs_wait_s: int = 20  # ReceiveMessage long polling, as Lambda's pollers do
    esm_sqs_max_concurrency: int = 10  # batches in flight per SQS mapping without ScalingConfig.MaximumConcurrency
    esm_stream_poll_s: float = 1.0  # an idle shard is read again after this (AWS: once per second)
    esm_retry_base_s: float = 1.0  # a failed stream / RabbitMQ batch is retried after this, doubling ...
    esm_retry_max_s: float = 60.0  # ... up to this
    esm_record_age_scale: float = 1.0  # tests only: multiplies MaximumRecordAgeInSeconds when checked
    # Amazon MQ brokers (RabbitMQ): "<broker ARN>=amqp://user:password@host:5672,..." (else the "mq" service endpoint).
    mq_brokers: str = ""

    # EventBridge schedules. TESTS ONLY: schedule time runs this many times faster than real time
    # (60: rate(1 minute) fires every second); AWS's behaviour is 1.
    schedule_time_scale: float = 1.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "stratus.db"

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def code_dir(self) -> Path:
        return self.data_dir / "code"

    @property
    def artifacts_dir(self) -> Path:
        """Deploy artifacts (`PUT /_stratus/artifacts/{sha256}`), kept apart from the blobs' garbage collector."""
        return self.data_dir / "artifacts"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def logs_db_path(self) -> Path:
        return self.data_dir / "logs.db"

    def service_endpoint(self, service: str) -> str | None:
        """The endpoint URL configured for an AWS service name (e.g. "sqs"), or None."""
        entries = self.service_endpoint_map()
        return entries.get(service) or entries.get("*")

    def service_endpoint_map(self) -> dict[str, str]:
        """STRATUS_SERVICE_ENDPOINTS as {service name (boto3's client name, or "*"): URL}."""
        entries = (item.strip().split("=", 1) for item in self.service_endpoints.split(",") if "=" in item)
        return {name.strip(): url.strip() for name, url in entries if name.strip() and url.strip()}

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls_cert else 'http'}://{self.host}:{self.port}"

    @property
    def local_endpoint(self) -> str:
        """The server's URL on this host's loopback (the listen address when it is a loopback one, else 127.0.0.1)."""
        host = self.host if is_loopback_host(self.host) and self.host != "localhost" else "127.0.0.1"
        host = f"[{host.strip('[]')}]" if ":" in host else host
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}"

    @property
    def public_endpoint(self) -> str:
        """The base URL of the answers' links: the public URL, else the listen address (127.0.0.1 for a wildcard)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings: explicit overrides win, then STRATUS_* variables, then defaults."""
        variables = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name in overrides and overrides[field.name] is not None:
                values[field.name] = overrides[field.name]
                continue
            raw = variables.get("STRATUS_" + field.name.upper())
            if raw is not None:
                values[field.name] = _coerce(str(field.type), raw)  # annotations are strings here
        settings = cls(**values)
        return dataclasses.replace(settings, data_dir=Path(settings.data_dir).expanduser().resolve())


def _coerce(type_name: str, raw: str) -> int | float | bool | Path | str:
    if type_name == "int":
        return int(raw)
    if type_name == "float":
        return float(raw)
    if type_name == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if type_name == "Path":
        return Path(raw)
    return raw


def is_loopback_host(host: str) -> bool:
    """True for a listen address that only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

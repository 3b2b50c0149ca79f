"""The CLI's one way to the server: its HTTP API, signed like any AWS client's request.

- Endpoint: `--endpoint-url`, else STRATUS_ENDPOINT_URL, else http://127.0.0.1:8421.
- Credentials: the usual AWS chain (botocore's, which boto3 uses: AWS_ACCESS_KEY_ID..., AWS_PROFILE,
  ~/.aws/credentials), else the admin pair
  the server made on first start (`~/.stratus/credentials`, profile `stratus`; README "Quick start").
- Region: AWS_REGION / AWS_DEFAULT_REGION (or the profile's), else us-east-1.

Stratus's own routes (/_stratus/...) are signed with botocore's SigV4Auth, service `lambda`; the Lambda and
CloudWatch Logs APIs go through botocore clients (boto3's). Every failure becomes a `CliError`: one line, no
traceback.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

# botocore's own session and clients (what boto3 wraps): the same credential chain and API models, without
# importing boto3 and s3transfer on every command (a third of the CLI's start-up).

DEFAULT_ENDPOINT = "http://127.0.0.1:8421"
FALLBACK_CREDENTIALS = Path("~/.stratus/credentials")
PROFILE = "stratus"


class CliError(Exception):
    """A failure to report as one line on stderr (exit code 1)."""


class ApiError(CliError):
    """The server refused a request: its AWS error type, message and the whole decoded body."""

    def __init__(self, status: int, error_type: str, message: str, body: dict[str, Any]):
        super().__init__(f"{error_type}: {message}" if error_type else message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.body = body


def endpoint_url(given: str | None) -> str:
    return (given or os.environ.get("STRATUS_ENDPOINT_URL") or DEFAULT_ENDPOINT).rstrip("/")


def region_name(session: Any = None) -> str:
    configured = None
    if session is not None:
        try:
            configured = session.get_config_variable("region")
        except Exception:  # noqa: BLE001 - a broken profile's region: the default
            configured = None
    return (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or configured or "us-east-1")


def resolve_credentials(credentials_file: Path | None = None) -> tuple[Any, Credentials]:
    """The usual chain (env, AWS_PROFILE, ~/.aws), else the server's generated profile. `credentials_file` (of a
    server `stratus dev` started) is read first when given."""
    if credentials_file is not None and credentials_file.exists():
        found = _profile_credentials(credentials_file)
        if found is not None:
            return found
    try:
        session = botocore.session.Session()
        credentials = session.get_credentials()
    except Exception as exc:  # noqa: BLE001 - a broken profile: say so in one line
        raise CliError(f"AWS credentials: {exc}") from None
    if credentials is not None:
        return session, credentials.get_frozen_credentials()
    fallback = FALLBACK_CREDENTIALS.expanduser()
    if fallback.exists():
        found = _profile_credentials(fallback)
        if found is not None:
            return found
    raise CliError("no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to a key the server "
                   f"knows, or run the server once locally so that {fallback} exists")


def _profile_credentials(path: Path) -> tuple[Any, Credentials] | None:
    """The `stratus` profile of a credentials file the server wrote."""
    session = botocore.session.Session(profile=PROFILE)
    session.set_config_variable("credentials_file", str(path))
    session.set_config_variable("config_file", os.devnull)
    try:
        credentials = session.get_credentials()
    except Exception:  # noqa: BLE001 - not a usable file: the next source
        return None
    return (session, credentials.get_frozen_credentials()) if credentials is not None else None


@dataclass
class Client:
    """A signed connection to one Stratus server."""

    endpoint: str
    region: str
    credentials: Credentials
    session: Any  # botocore.session.Session

    @classmethod
    def connect(cls, endpoint: str | None = None, credentials_file: Path | None = None) -> Client:
        session, credentials = resolve_credentials(credentials_file)
        return cls(endpoint_url(endpoint), region_name(session), credentials, session)

    # ------------------------------------------------------------ AWS APIs through botocore clients
    def boto(self, service: str, read_timeout: float = 960) -> Any:
        """A client of one of the server's AWS APIs (lambda, logs, ...), as boto3 would make it."""
        config = Config(retries={"max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5,
                        inject_host_prefix=False)
        return self.session.create_client(service, endpoint_url=self.endpoint, region_name=self.region,
                                          aws_access_key_id=self.credentials.access_key,
                                          aws_secret_access_key=self.credentials.secret_key,
                                          aws_session_token=self.credentials.token, config=config)

    # ------------------------------------------------------------ Stratus's own routes
    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 900,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """A SigV4-signed request; (status, headers with lower-case names, body). Connection failures are
        CliErrors."""
        url = self.endpoint + path
        request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers or {}))
        SigV4Auth(self.credentials, "lambda", self.region).add_auth(request)
        prepared = request.prepare()
        try:
            response = _pool().request(method, url, body=body, headers=dict(prepared.headers.items()),
                                       timeout=urllib3.Timeout(connect=5, read=timeout), retries=False,
                                       preload_content=True, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            raise CliError(f"cannot reach Stratus at {self.endpoint} ({_reason(exc)}): is `stratus serve` "
                           "running? (--endpoint-url or STRATUS_ENDPOINT_URL name another server)") from None
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.data

    def call(self, method: str, path: str, document: Any = None, timeout: float = 900,
             ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
        """A JSON request to a /_stratus route; the decoded answer, or ApiError."""
        body = json.dumps(document).encode() if document is not None else None
        status, headers, data = self.request(method, path, body, timeout,
                                    {"Content-Type": "application/json"} if body is not None else None)
        try:
            decoded = json.loads(data) if data.strip() else {}
        except ValueError:
            decoded = {}
        if status not in ok:
            raise api_error(status, headers.get("x-amzn-errortype", ""), decoded, data)
        return decoded if isinstance(decoded, dict) else {"value": decoded}


def api_error(status: int, error_type: str, decoded: Any, raw: bytes) -> ApiError:
    """The server's AWS-shaped error (x-amzn-ErrorType, {"message": ...}) as an ApiError."""
    body = decoded if isinstance(decoded, dict) else {}
    message = body.get("message") or body.get("Message") or raw.decode(errors="replace").strip()[:300] \
        or f"HTTP {status}"
    error_type = error_type.split(":", 1)[0] or str(body.get("__type") or "")
    if not error_type and status == 404:
        error_type = "NotFound"
    return ApiError(status, error_type, str(message), body)


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connection refused"
    return text.split(": ", 1)[-1][:120]


_POOL: urllib3.PoolManager | None = None


def _pool() -> urllib3.PoolManager:
    global _POOL
    if _POOL is None:
        _POOL = urllib3.PoolManager(num_pools=4, maxsize=4)
    return _POOL

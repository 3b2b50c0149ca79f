"""The engine's view of the server (engine.Services): boto3 clients and the URLs APIs are served at.

Stratus's own services (lambda, iam, sts, events, apigateway, apigatewayv2, logs) are called over loopback at
the server's own port, signed with an internal admin key pair made at start-up: it lives only in this process's
memory (never written, never given to functions). Other services go to STRATUS_SERVICE_ENDPOINTS.
"""

from __future__ import annotations

import threading
from typing import Any

from stratus.auth.keys import new_key_pair
from stratus.config import Settings
from stratus.deploy.providers.base import ResourceFailed
from stratus.service_clients import ServiceClients

OWN_SERVICES = ("lambda", "iam", "sts", "events", "apigateway", "apigatewayv2", "logs")


class LoopbackServices:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.key_id, self.secret = new_key_pair()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._others = ServiceClients(settings)

    def client(self, service: str) -> Any:
        if service not in OWN_SERVICES:
            if not self.settings.service_endpoint(service):
                raise ResourceFailed(f"no endpoint for {service}: set STRATUS_SERVICE_ENDPOINTS={service}=URL "
                                     "(or *=URL) to the service Stratus should create it on")
            return self._others.client(service)
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                import boto3
                from botocore.config import Config

                tls = bool(self.settings.tls_cert)
                client = boto3.session.Session().client(
                    service, endpoint_url=self.settings.local_endpoint, region_name=self.settings.region,
                    aws_access_key_id=self.key_id, aws_secret_access_key=self.secret, verify=False if tls else None,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5,
                                  read_timeout=300))
                self._clients[service] = client
            return client

    def base_url(self) -> str:
        """The server's URL as clients reach it (STRATUS_PUBLIC_URL, else the listen address)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = self.settings.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host.strip('[]')}]"
        return f"{'https' if self.settings.tls_cert else 'http'}://{host}:{self.settings.port}"

    def api_base_url(self, api_id: str, stage: str | None) -> str:
        """The path form of frontdoor/door.py: `/_stratus/api/<id>/<stage>`; an HTTP API's `$default` stage
        serves at `/_stratus/api/<id>` (api_door.py: a first segment naming no stage is `$default`'s path)."""
        suffix = f"/{stage}" if stage and stage != "$default" else ""
        return f"{self.base_url()}/_stratus/api/{api_id}{suffix}"

"""boto3 clients for the AWS services the server itself calls (S3 for code, EC2 for VPC configs, SQS/Kinesis/
DynamoDB Streams for event sources, SQS/SNS/EventBridge for destinations) at the endpoints STRATUS_SERVICE_ENDPOINTS
names, signed with the settings' service credentials. One client per (service, region, endpoint), made on first
use; boto3 clients are thread-safe, so worker threads share them.
"""

from __future__ import annotations

import threading
from typing import Any

from stratus.config import Settings


class ServiceClients:
    """The clients of one part of the server; `config` adds to botocore's Config (timeouts, pool size...)."""

    def __init__(self, settings: Settings, **config: Any):
        self.settings = settings
        self.config = {"retries": {"max_attempts": 3, "mode": "standard"}, "connect_timeout": 5,
                       "read_timeout": 30, **config}
        self._clients: dict[tuple[str, str, str], Any] = {}  # boto3 clients (botocore has no type stubs here)
        self._lock = threading.Lock()

    def endpoint(self, service: str) -> str | None:
        """The URL STRATUS_SERVICE_ENDPOINTS gives `service` (its own entry, else "*"), None if none."""
        return self.settings.service_endpoint(service)

    def client(self, service: str, region: str = "", endpoint: str | None = None) -> Any:
        """A client for `service` in `region` (default: the server's) at `endpoint` (default: its configured one)."""
        endpoint = endpoint or self.endpoint(service) or ""
        key = (service, region, endpoint)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                import boto3  # imported on first use: many servers never call another service
                from botocore.config import Config

                settings = self.settings
                client = boto3.session.Session().client(
                    service, endpoint_url=endpoint or None, region_name=region or settings.region,
                    aws_access_key_id=settings.service_access_key_id,
                    aws_secret_access_key=settings.service_secret_access_key, config=Config(**self.config))
                self._clients[key] = client
            return client

"""A client of the stacks API (docs/stacks-api.md) for tests: SigV4-signed HTTP (botocore's SigV4Auth, service
"lambda"), as `stratus deploy` talks to the server."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class StacksClient:
    def __init__(self, endpoint: str, key_id: str = "test", secret: str = "test", token: str | None = None,
                 region: str = "us-east-1"):
        self.endpoint = endpoint.rstrip("/")
        self.credentials = Credentials(key_id, secret, token)
        self.region = region

    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 300) -> tuple[int, dict[str, str], Any]:
        """(status, headers, decoded JSON body or None)."""
        data = body if body is not None else b""
        headers = {"content-type": "application/json"} if body is not None else {}
        aws = AWSRequest(method=method, url=self.endpoint + path, data=data, headers=headers)
        aws.headers["x-amz-content-sha256"] = hashlib.sha256(data).hexdigest()
        SigV4Auth(self.credentials, "lambda", self.region).add_auth(aws)
        request = urllib.request.Request(self.endpoint + path, data=data if body is not None else None,
                                         method=method, headers=dict(aws.headers.items()))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, received, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, received, raw = error.code, error.headers, error.read()
        answer = {name.lower(): value for name, value in received.items()}
        return status, answer, json.loads(raw) if raw else None

    def put_artifact(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        status, _, body = self.request("PUT", f"/_stratus/artifacts/{sha}", data)
        assert status == 200, body
        return sha

    def deploy(self, name: str, template: str, parameters: dict[str, str] | None = None) -> tuple[int, Any]:
        status, _, body = self.request("PUT", f"/_stratus/stacks/{name}", json.dumps(
            {"TemplateBody": template, "Parameters": parameters or {}}).encode())
        return status, body

    def describe(self, name: str) -> tuple[int, Any]:
        status, _, body = self.request("GET", f"/_stratus/stacks/{name}")
        return status, body

    def delete(self, name: str) -> tuple[int, Any]:
        status, _, body = self.request("DELETE", f"/_stratus/stacks/{name}")
        return status, body

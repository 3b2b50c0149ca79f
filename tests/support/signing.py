"""SigV4-signed raw HTTP for tests that speak HTTP themselves (botocore's own signer, keys test:test)."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TEST_CREDENTIALS = Credentials("test", "test")


def signed_headers(method: str, url: str, body: bytes | str | None = b"", headers: Mapping[str, str] | None = None,
                   service: str = "lambda", credentials: Credentials = TEST_CREDENTIALS,
                   region: str = "us-east-1") -> dict[str, str]:
    """`headers` plus the SigV4 ones (Authorization, X-Amz-Date) for this exact request (`url` names the
    Host the request is sent with, as http.client and urllib derive it)."""
    body = body.encode() if isinstance(body, str) else (body or b"")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


def auth_lines(method: str, host: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> str:
    """The `X-Amz-Date:` and `Authorization:` header lines (CRLF-terminated) for a hand-written request
    that sends `Host: <host>`."""
    signed = signed_headers(method, f"http://{host}{path}", body, headers)
    return "".join(f"{name}: {signed[name]}\r\n" for name in ("X-Amz-Date", "Authorization"))


def signed_request(url: str, data: bytes | None = None, headers: Mapping[str, str] | None = None,
                   method: str | None = None, service: str = "lambda") -> urllib.request.Request:
    """A urllib Request signed as boto3 would sign it."""
    method = method or ("POST" if data is not None else "GET")
    return urllib.request.Request(url, data=data, method=method,
                                  headers=signed_headers(method, url, data or b"", headers, service))


def presigned_url(url: str, expires: int = 300, credentials: Credentials = TEST_CREDENTIALS,
                  service: str = "lambda") -> str:
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(credentials, service, "us-east-1", expires=expires).add_auth(request)
    return str(request.url)

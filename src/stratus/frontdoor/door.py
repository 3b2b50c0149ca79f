"""The front door's dispatcher: which requests are for a Function URL or an API Gateway API, and the ASGI
adapter that serves them (api/fastpath.py serves them without ASGI through the same `FrontDoor.handle`).

A request is the front door's when its Host is `<url-id>.lambda-url.<region>.localhost[:port]` or
`<api-id>.execute-api.localhost[:port]` (any path), or when its path starts with `/_stratus/url/<url-id>`
or `/_stratus/api/<api-id>/<stage>` (for clients that cannot set a Host). Such requests never reach the
control API, and the control API's web-origin checks do not apply to them: they are public endpoints
whose browsers' access is governed by their own CORS configuration.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from starlette.types import Receive, Scope, Send

from stratus.config import Settings
from stratus.frontdoor.payloads import HttpRequest, HttpResponse
from stratus.frontdoor.url_stream import StreamedHttpResponse, send_asgi

URL_PREFIX = "/_stratus/url/"
API_PREFIX = "/_stratus/api/"


class Door(Protocol):
    """One kind of front door (Function URLs, APIs)."""

    body_limit: int

    def handle(self, resource_id: str, request: HttpRequest, raw_path: str,
               domain: str) -> asyncio.Future[HttpResponse]: ...

    def too_large(self) -> HttpResponse: ...


@dataclass(frozen=True, slots=True)
class Match:
    """A request's door, the id it names, the path its function sees and the domain it was sent to."""

    door: Door
    resource_id: str
    raw_path: str
    domain: str


class FrontDoor:
    """Finds a request's door from its Host or path; `handle` answers it."""

    def __init__(self, settings: Settings, urls: Door, apis: Door | None = None):
        self.urls = urls
        self.apis = apis
        self.region = settings.region
        self.url_suffix = f".lambda-url.{settings.region}.localhost"
        self.api_suffix = ".execute-api.localhost"
        self.ports = {str(settings.port)}
        self.bare_ok = settings.port in (80, 443)

    def match(self, host: bytes | None, raw_path: str) -> Match | None:
        """The door of a request (Host header as sent, path as sent), or None for the control API's requests."""
        if host is not None and b".localhost" in host:
            found = self._by_host(host.decode("latin-1").lower(), raw_path)
            if found is not None:
                return found
        if raw_path.startswith("/_stratus/"):
            return self._by_path(raw_path)
        return None

    def _by_host(self, host: str, raw_path: str) -> Match | None:
        name, _, port = host.partition(":")
        if (port and port not in self.ports) or (not port and not self.bare_ok):
            return None
        if name.endswith(self.url_suffix):
            url_id = name[:-len(self.url_suffix)]
            if url_id and "." not in url_id:
                return Match(self.urls, url_id, raw_path, name)
        elif name.endswith(self.api_suffix) and self.apis is not None:
            api_id = name[:-len(self.api_suffix)]
            if api_id and "." not in api_id:
                return Match(self.apis, api_id, raw_path, name)
        return None

    def _by_path(self, raw_path: str) -> Match | None:
        if raw_path.startswith(URL_PREFIX):
            url_id, slash, rest = raw_path[len(URL_PREFIX):].partition("/")
            if url_id:
                return Match(self.urls, url_id, slash + rest or "/", f"{url_id}{self.url_suffix}")
        elif raw_path.startswith(API_PREFIX) and self.apis is not None:
            api_id, slash, rest = raw_path[len(API_PREFIX):].partition("/")
            if api_id:
                return Match(self.apis, api_id, slash + rest or "/", f"{api_id}{self.api_suffix}")
        return None

    @staticmethod
    def handle(match: Match, request: HttpRequest) -> asyncio.Future[HttpResponse]:
        return match.door.handle(match.resource_id, request, match.raw_path, match.domain)

    async def asgi(self, match: Match, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a matched request through ASGI (the fast path's fallback: HTTP/1.0, Expect, pipelining)."""
        limit = match.door.body_limit
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                return await _send(send, match.door.too_large(), scope["method"])
            chunks.append(body)
            if not message.get("more_body", False):
                break
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        client = scope.get("client")
        request = HttpRequest(scope["method"], raw_path, scope["query_string"].decode("latin-1"),
                              list(scope["headers"]), b"".join(chunks), client[0] if client else "",
                              "HTTP/" + scope.get("http_version", "1.1"), names=scope.get("stratus.header_names"))
        response = await self.handle(match, request)
        if isinstance(response, StreamedHttpResponse):  # a Function URL in RESPONSE_STREAM mode
            await send_asgi(response, receive, send, scope["method"])
            return
        await _send(send, response, scope["method"])


async def _send(send: Send, response: HttpResponse, method: str) -> None:
    headers = list(response.headers)
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else response.body})

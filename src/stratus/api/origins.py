"""Web origins: the API answers only requests addressed to one of this server's own names, and no
browser page of another origin.

A web page cannot read Stratus's answers (no CORS headers are ever sent), but without these checks it
could still *send* requests: a `text/plain` POST from any site, or a DNS-rebinding page whose name
resolves to 127.0.0.1 (its requests carry `Host: evil.example:8421`). So:

- Host must be one of the server's names: localhost, 127.0.0.1 and [::1] with the server's port, the
  listen address when it is one specific address, and the host of `public_url`. (Function URL and API
  hosts, `<id>.lambda-url.<region>.localhost:<port>` and `<id>.execute-api.localhost:<port>`, are taken by
  the front door before this check and never reach the control API: frontdoor/door.py.) A request
  without Host (HTTP/1.0 tools) cannot come from a browser and is accepted.
- A request with an `Origin` that is not the server's own origin, or with `Sec-Fetch-Site: cross-site`
  or `same-site` (another port of localhost is another origin), is refused.

Both checks run before anything is read, created or invoked, on both front doors (the ASGI app and the
Invoke fast path, through `InvokeEndpoint.head`). The common case — an SDK sending
`Host: 127.0.0.1:PORT` and no Origin — costs one set lookup and two dict lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from stratus.config import Settings
from stratus.errors import LambdaError

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_WILDCARDS = ("", "0.0.0.0", "::")
_REFUSED_FETCH_SITES = (b"cross-site", b"same-site")


class ForbiddenRequestException(LambdaError):
    """A request from a foreign web origin or for a foreign Host (403, AWS's error shape)."""

    status = 403
    error_type = "AccessDeniedException"
    fault = "User"


class PublicUrlError(ValueError):
    """STRATUS_PUBLIC_URL / --public-url is not an http(s) URL of a host (and optional port)."""




def _public_origin(public_url: str) -> tuple[str, str]:
    """(origin, Host value) of the public URL: scheme://netloc, netloc without a default port."""
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise PublicUrlError(f"public URL {public_url!r} must be http(s)://HOST[:PORT] with no path, "
                             "e.g. https://stratus.example.com or http://192.168.1.5:8421")
    try:
        port = parts.port
    except ValueError:
        raise PublicUrlError(f"public URL {public_url!r} has an invalid port") from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 80 if parts.scheme == "http" else 443
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}", netloc


class WebOrigins:
    """The server's own Host names and origins, and the check every request passes first."""

    def __init__(self, settings: Settings):
        port = settings.port
        names = list(_LOOPBACK_NAMES)
        listen = settings.host
        if listen not in _WILDCARDS and listen not in names:
            names.append(f"[{listen}]" if ":" in listen else listen)
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:
            hosts.update(names)  # browsers leave the default port out of Host and Origin
        origins = {f"http://{host}" for host in hosts}
        if settings.public_url:
            origin, netloc = _public_origin(settings.public_url)
            hosts.add(netloc)
            origins.add(origin)
        self.hosts = frozenset(host.encode() for host in hosts)
        self.origins = frozenset(origin.encode() for origin in origins)

    def check(self, headers: dict[bytes, bytes]) -> None:
        """Raise ForbiddenRequestException unless the request is addressed to us and not from a foreign page.
        `headers` has lower-case names (as uvicorn gives them)."""
        host = headers.get(b"host")
        if host is not None and host not in self.hosts and not self._own_host(host):
            raise ForbiddenRequestException(
                f"Stratus does not answer requests for host {host.decode('latin-1')!r}: only its own names "
                "(localhost, 127.0.0.1, [::1] with its port, or the configured STRATUS_PUBLIC_URL / --public-url).")
        origin = headers.get(b"origin")
        if origin is not None and origin not in self.origins and origin.lower() not in self.origins:
            raise ForbiddenRequestException(
                f"Stratus refuses requests from the web origin {origin.decode('latin-1')!r}: web pages of other "
                "origins cannot use this API.")
        site = headers.get(b"sec-fetch-site")
        if site is not None and site.lower() in _REFUSED_FETCH_SITES:
            raise ForbiddenRequestException(
                "Stratus refuses requests sent by web pages of other sites (Sec-Fetch-Site: "
                f"{site.decode('latin-1')}).")

    def check_scope(self, scope: Mapping[str, Any]) -> None:
        """`check` for an ASGI scope (its headers are a list of lower-case name, value pairs)."""
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in (b"host", b"origin", b"sec-fetch-site"):
                if name in headers:  # two Host (or Origin) headers: ambiguous, refused
                    raise ForbiddenRequestException(f"Stratus refuses a request with two {name.decode()} headers.")
                headers[name] = value
        self.check(headers)

    def _own_host(self, host: bytes) -> bool:
        return host.lower() in self.hosts

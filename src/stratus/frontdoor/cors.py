"""CORS for Function URLs (the URL's `Cors` config) and HTTP APIs (the API's `CorsConfiguration`): preflight
requests are answered here without invoking anything; the other answers get the CORS headers, which replace
any the function set (as Lambda and API Gateway do)."""

from __future__ import annotations

from dataclasses import dataclass

from stratus.frontdoor.payloads import Headers, HttpRequest, HttpResponse


@dataclass(frozen=True, slots=True)
class CorsRules:
    """One CORS configuration, normalised once (lower-case origins, methods upper-case)."""

    origins: frozenset[str]
    methods: str  # the Access-Control-Allow-Methods value ("" if none)
    headers: str
    expose: str
    max_age: int | None
    credentials: bool

    @classmethod
    def of(cls, cors: object | None) -> CorsRules | None:
        """From a shape with AllowOrigins/AllowMethods/AllowHeaders/ExposeHeaders/MaxAge/AllowCredentials."""
        if cors is None:
            return None
        origins = getattr(cors, "AllowOrigins", None) or []
        return cls(
            origins=frozenset(origin.lower().rstrip("/") for origin in origins),
            methods=",".join(method.upper() for method in getattr(cors, "AllowMethods", None) or []),
            headers=",".join(getattr(cors, "AllowHeaders", None) or []).lower(),
            expose=",".join(getattr(cors, "ExposeHeaders", None) or []).lower(),
            max_age=getattr(cors, "MaxAge", None),
            credentials=bool(getattr(cors, "AllowCredentials", False)),
        )

    def allow_origin(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for this request origin, or None if it is not allowed."""
        if "*" in self.origins:
            return origin if self.credentials else "*"
        return origin if origin.lower().rstrip("/") in self.origins else None


def is_preflight(request: HttpRequest) -> bool:
    return request.method == "OPTIONS" and request.header(b"origin") is not None \
        and request.header(b"access-control-request-method") is not None


def preflight(rules: CorsRules, request: HttpRequest) -> HttpResponse:
    """The answer to a CORS preflight request (200; the CORS headers only when the origin is allowed)."""
    headers: Headers = []
    allowed = rules.allow_origin(request.header(b"origin") or "")
    if allowed is not None:
        headers.append((b"access-control-allow-origin", allowed.encode("latin-1")))
        if rules.methods:
            headers.append((b"access-control-allow-methods", rules.methods.encode("latin-1")))
        if rules.headers:
            headers.append((b"access-control-allow-headers", rules.headers.encode("latin-1")))
        if rules.max_age is not None:
            headers.append((b"access-control-max-age", str(rules.max_age).encode()))
        if rules.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        headers.append((b"vary", b"Origin"))
    return HttpResponse(200, headers, b"")


def decorate(rules: CorsRules, request: HttpRequest, response: HttpResponse) -> None:
    """Replace the function's CORS headers with the configuration's, for a request with an allowed Origin."""
    origin = request.header(b"origin")
    response.headers = [(name, value) for name, value in response.headers
                        if not name.startswith(b"access-control-")]
    if origin is None:
        return
    allowed = rules.allow_origin(origin)
    if allowed is None:
        return
    response.headers.append((b"access-control-allow-origin", allowed.encode("latin-1")))
    if rules.expose:
        response.headers.append((b"access-control-expose-headers", rules.expose.encode("latin-1")))
    if rules.credentials:
        response.headers.append((b"access-control-allow-credentials", b"true"))
    response.headers.append((b"vary", b"Origin"))

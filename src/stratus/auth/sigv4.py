"""AWS Signature Version 4 verification, canonicalised as botocore's signer does (botocore.auth.SigV4Auth).

Verification is split at the body: `Verifier.begin` reads the head (the Authorization header or the
presigned query: key, date, credential scope, signed headers) and fails early for a missing token,
an unknown key, a stale date; the `Pending` it returns completes the check with the payload's
SHA-256 once the body is complete (`finish`). Nothing runs for a request before `finish` passes.

Hot-path notes: no request objects are built; the parsing of the Authorization header, the
canonical URI and query, and the X-Amz-Date are memoised (a client replays them often), and
derived signing keys are cached per (secret, date, region, service).
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_tz
from urllib.parse import quote, unquote

from stratus.auth.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from stratus.auth.principal import Principal
from stratus.auth.sessions import SessionCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
SKEW_S = 300  # AWS: a signature is valid 5 minutes either side of the server's clock
PRESIGN_MAX_S = 604800  # AWS: presigned URLs live at most 7 days
_sha256 = hashlib.sha256
_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def _stamp(epoch: float) -> str:
    return time.strftime(_TIMESTAMP, time.gmtime(epoch))


@functools.lru_cache(maxsize=1024)
def canonical_uri(raw_path: str) -> str:
    """The path as sent, dot segments and doubled slashes removed, URI-encoded again (AWS services other
    than S3 sign the encoded path: botocore's `quote(normalize_url_path(path), safe='/~')`)."""
    if not raw_path:
        return "/"
    if "//" in raw_path or "/." in raw_path:
        parts = [part for part in raw_path.split("/") if part and part != "."]
        stack: list[str] = []
        for part in parts:
            if part == "..":
                if stack:
                    stack.pop()
            else:
                stack.append(part)
        raw_path = "/" + "/".join(stack) + ("/" if raw_path.endswith("/") and stack else "")
    return quote(raw_path, safe="/~")


@functools.lru_cache(maxsize=1024)
def _query_pairs(query: str) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs of a raw query string, each decoded then encoded as SigV4 wants, sorted."""
    pairs = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return tuple(sorted(pairs))


def canonical_query(query: str, drop: str = "") -> str:
    return "&".join(f"{name}={value}" for name, value in _query_pairs(query) if name != drop)


def raw_canonical_query(query: str, drop: str = "") -> str:
    """botocore's own form for a URL's query: the raw pairs as sent, sorted (differs from `canonical_query`
    only for a query that is not strictly percent-encoded, e.g. with '+' or ':')."""
    pairs = sorted(item.partition("=")[::2] for item in query.split("&") if item)
    return "&".join(f"{name}={value}" for name, value in pairs if name != drop)


class _Signed:
    """What a request says about its own signature (from the Authorization header or the query)."""

    __slots__ = ("key_id", "date", "region", "service", "terminator", "signed_headers", "signature", "timestamp",
                 "expires")

    def __init__(self, credential: str, signed_headers: str, signature: str) -> None:
        parts = credential.split("/")
        if len(parts) != 5:
            raise IncompleteSignatureException(
                f"Credential should have 5 parts, not {len(parts)}: '{credential}'.")
        self.key_id, self.date, self.region, self.service, self.terminator = parts
        self.signed_headers = signed_headers
        self.signature = signature
        self.timestamp = ""
        self.expires = 0


@functools.lru_cache(maxsize=1024)
def _parse_authorization(value: str) -> _Signed:
    algorithm, _, rest = value.strip().partition(" ")
    fields = {}
    for item in rest.split(","):
        name, _, field = item.strip().partition("=")
        fields[name] = field
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not fields.get(name)]
    if algorithm != ALGORITHM or missing:
        if algorithm != ALGORITHM:
            raise IncompleteSignatureException(
                f"Unsupported authorization type '{algorithm}': Stratus verifies {ALGORITHM} (Signature Version 4).")
        raise IncompleteSignatureException(" ".join(
            f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={value}")
    return _Signed(fields["Credential"], fields["SignedHeaders"], fields["Signature"])


@functools.lru_cache(maxsize=256)
def _parse_timestamp(stamp: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(stamp, _TIMESTAMP)))
    except ValueError:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{stamp}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


def _http_date(value: str) -> str:
    parsed = parsedate_tz(value)
    try:
        if parsed is None:
            raise ValueError(value)
        return _stamp(calendar.timegm(parsed[:9]) - (parsed[9] or 0))
    except (ValueError, OverflowError, OSError):
        raise IncompleteSignatureException(f"Date header could not be parsed: '{value}'.") from None


class Pending:
    """A request whose head checked out; `finish(payload_sha256)` completes (or fails) its verification."""

    __slots__ = ("principal", "prefix", "scope", "timestamp", "key", "signature", "declared", "presigned",
                 "alternative")

    def __init__(self, principal: Principal, prefix: str, scope: str, timestamp: str, key: bytes, signature: str,
                 declared: str | None, presigned: bool) -> None:
        self.principal = principal
        self.prefix = prefix  # the canonical request up to (not including) the payload hash
        self.scope = scope
        self.timestamp = timestamp
        self.key = key
        self.signature = signature
        self.declared = declared  # X-Amz-Content-SHA256 as sent, or None
        self.presigned = presigned
        self.alternative = ""  # the prefix with botocore's raw query form, when that differs

    @property
    def needs_body_hash(self) -> bool:
        return self.declared != UNSIGNED_PAYLOAD

    def _matches(self, payload_hash: str) -> bool:
        if self._matches_prefix(self.prefix, payload_hash):
            return True
        return bool(self.alternative) and self._matches_prefix(self.alternative, payload_hash)

    def _matches_prefix(self, prefix: str, payload_hash: str) -> bool:
        canonical = prefix + payload_hash
        to_sign = f"{ALGORITHM}\n{self.timestamp}\n{self.scope}\n{_sha256(canonical.encode()).hexdigest()}"
        expected = hmac.new(self.key, to_sign.encode(), _sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), self.signature.encode("utf-8", "replace"))

    def finish(self, body_sha256: str) -> Principal:
        """`body_sha256`: the hex SHA-256 of the complete body (ignored for UNSIGNED-PAYLOAD)."""
        declared = self.declared
        if declared is not None:
            if declared != UNSIGNED_PAYLOAD and not hmac.compare_digest(declared.lower().encode("utf-8", "replace"),
                                                                        body_sha256.encode()):
                raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what "
                                                "was computed.")
            ok = self._matches(declared)
        else:
            ok = self._matches(body_sha256) or (self.presigned and self._matches(UNSIGNED_PAYLOAD))
        if not ok:
            raise InvalidSignatureException()
        return self.principal


class Verifier:
    """Checks SigV4 signatures against a fixed set of access keys (id → secret)."""

    def __init__(self, keys: Mapping[str, str], clock: Callable[[], float] = time.time, skew_s: float = SKEW_S,
                 sessions: SessionCredentials | None = None):
        self.keys = dict(keys)
        self.sessions = sessions  # temporary credentials (with their session token), besides the fixed keys
        self.clock = clock
        self.skew_s = skew_s
        self._principals = {key_id: Principal(key_id) for key_id in self.keys}
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}

    def add_key(self, key_id: str, secret: str) -> None:
        """Accept one more admin key pair (the deploy engine's internal one, made at start-up, kept in memory)."""
        self.keys[key_id] = secret
        self._principals[key_id] = Principal(key_id)

    def signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        cache_key = (secret, date, region, service)
        key = self._signing_keys.get(cache_key)
        if key is None:
            key = ("AWS4" + secret).encode()
            for part in (date, region, service, "aws4_request"):
                key = hmac.new(key, part.encode(), _sha256).digest()
            if len(self._signing_keys) >= 256:
                self._signing_keys.clear()
            self._signing_keys[cache_key] = key
        return key

    def begin(self, method: str, raw_path: str, query: str, headers: Mapping[bytes, bytes], service: str) -> Pending:
        """Check a request's head: raises an auth error, or returns the Pending verification.

        `raw_path` and `query` as sent (still percent-encoded); `headers` with lower-case names;
        `service` the credential scope's service this path belongs to ("lambda", "events")."""
        authorization = headers.get(b"authorization")
        presigned = authorization is None and "X-Amz-Signature=" in query
        if authorization is not None:
            signed = _parse_authorization(authorization.decode("latin-1"))
            timestamp = self._header_timestamp(headers)
        elif presigned:
            signed = self._presigned(query)
            timestamp = signed.timestamp
        else:
            raise MissingAuthenticationTokenException()
        secret, principal = self._secret(signed.key_id, headers, query, presigned)
        self._check_scope(signed, timestamp, service)
        self._check_time(timestamp, signed.expires)
        names = signed.signed_headers.split(";")
        if "host" not in names:
            raise InvalidSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        drop = "X-Amz-Signature" if presigned else ""
        lines = [method, canonical_uri(raw_path), canonical_query(query, drop) if query else ""]
        for name in names:
            value = headers.get(name.encode("latin-1"), b"").decode("latin-1")
            lines.append(f"{name}:{' '.join(value.split())}")
        lines += ("", signed.signed_headers, "")
        declared = headers.get(b"x-amz-content-sha256")
        pending = Pending(principal, "\n".join(lines),
                          f"{signed.date}/{signed.region}/{signed.service}/{signed.terminator}", timestamp,
                          self.signing_key(secret, signed.date, signed.region, signed.service), signed.signature,
                          declared.decode("latin-1") if declared is not None else None, presigned)
        if query and (raw := raw_canonical_query(query, drop)) != lines[2]:
            lines[2] = raw
            pending.alternative = "\n".join(lines)
        return pending

    def _secret(self, key_id: str, headers: Mapping[bytes, bytes], query: str,
                presigned: bool) -> tuple[str, Principal]:
        secret = self.keys.get(key_id)
        if secret is not None:
            return secret, self._principals[key_id]
        session = self.sessions.get(key_id) if self.sessions is not None else None
        if session is None:
            raise UnrecognizedClientException()
        if presigned:
            token = next((unquote(value) for name, _, value in (item.partition("=") for item in query.split("&"))
                          if name == "X-Amz-Security-Token"), None)
        else:
            raw = headers.get(b"x-amz-security-token")
            token = raw.decode("latin-1") if raw is not None else None
        if not session.token_matches(token):
            raise UnrecognizedClientException()
        return session.secret, session.principal

    @staticmethod
    def _header_timestamp(headers: Mapping[bytes, bytes]) -> str:
        stamp = headers.get(b"x-amz-date")
        if stamp is not None:
            return stamp.decode("latin-1")
        date = headers.get(b"date")
        if date is None:
            raise IncompleteSignatureException(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        return _http_date(date.decode("latin-1"))

    @staticmethod
    def _presigned(query: str) -> _Signed:
        params = {name: unquote(value) for name, value in (item.partition("=")[::2] for item in query.split("&"))}
        missing = [name for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                                     "X-Amz-SignedHeaders") if not params.get(name)]
        if missing:
            raise IncompleteSignatureException(" ".join(f"AWS query-string parameters must include '{name}'."
                                                        for name in missing))
        if params["X-Amz-Algorithm"] != ALGORITHM:
            raise IncompleteSignatureException(f"Unsupported algorithm '{params['X-Amz-Algorithm']}'.")
        signed = _Signed(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"], params["X-Amz-Signature"])
        signed.timestamp = params["X-Amz-Date"]
        try:
            signed.expires = int(params.get("X-Amz-Expires") or PRESIGN_MAX_S)
        except ValueError:
            raise IncompleteSignatureException("X-Amz-Expires should be a number.") from None
        if not 0 < signed.expires <= PRESIGN_MAX_S:
            raise IncompleteSignatureException(
                f"X-Amz-Expires must be less than a week (in seconds) that is {PRESIGN_MAX_S}.")
        return signed

    @staticmethod
    def _check_scope(signed: _Signed, timestamp: str, service: str) -> None:
        if signed.date != timestamp[:8]:
            raise InvalidSignatureException(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{signed.date}' != '{timestamp[:8]}', from '{timestamp}'.")
        if signed.service != service:
            raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service}'. ")
        if signed.terminator != "aws4_request":
            raise InvalidSignatureException(
                f"Credential should be scoped with a valid terminator: 'aws4_request', not '{signed.terminator}'.")

    def _check_time(self, timestamp: str, expires: int) -> None:
        signed_at = _parse_timestamp(timestamp)
        now = self.clock()
        skew = self.skew_s
        if expires:  # presigned: valid from (signing time - skew) to (signing time + expires)
            if now > signed_at + expires:
                raise InvalidSignatureException(
                    f"Signature expired: {timestamp} is now earlier than {_stamp(now - expires)} "
                    f"({_stamp(now)} - {expires} sec.)")
        elif signed_at < now - skew:
            raise InvalidSignatureException(
                f"Signature expired: {timestamp} is now earlier than {_stamp(now - skew)} "
                f"({_stamp(now)} - {skew // 60:g} min.)")
        if signed_at > now + skew:
            raise InvalidSignatureException(
                f"Signature not yet current: {timestamp} is still later than {_stamp(now + skew)} "
                f"({_stamp(now)} + {skew // 60:g} min.)")

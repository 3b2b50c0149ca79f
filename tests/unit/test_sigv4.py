"""auth/sigv4.py against botocore's own signer: whatever boto3 signs verifies, anything changed does not."""

from __future__ import annotations

import calendar
import email.utils
import hashlib
import stat
import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stratus.auth.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from stratus.auth.keys import AccessKeyError, load_or_create_credentials, parse_access_keys
from stratus.auth.sigv4 import Verifier
from stratus.config import is_loopback_host as is_loopback

KEYS = {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
CREDENTIALS = Credentials("AKIDEXAMPLE", KEYS["AKIDEXAMPLE"])


def signed(method: str, url: str, body: bytes = b"", headers: dict | None = None, service: str = "lambda",
           credentials: Credentials = CREDENTIALS) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    return request


def as_received(request: AWSRequest) -> tuple[str, str, str, dict[bytes, bytes], bytes]:
    """(method, raw path, raw query, headers, body) as the server's HTTP parser hands them over."""
    parts = urlsplit(request.url)
    headers = {name.lower().encode(): value.encode() if isinstance(value, str) else value
               for name, value in request.headers.items()}
    headers.setdefault(b"host", parts.netloc.encode())
    body = request.body or b""
    return request.method, parts.path, parts.query, headers, body.encode() if isinstance(body, str) else body


def verify(verifier: Verifier, request: AWSRequest, service: str = "lambda", body: bytes | None = None):
    method, path, query, headers, sent = as_received(request)
    pending = verifier.begin(method, path, query, headers, service)
    return pending.finish(hashlib.sha256(sent if body is None else body).hexdigest())


@pytest.mark.parametrize("method, url, body, headers", [
    ("GET", "http://127.0.0.1:8421/2015-03-31/functions/", b"", {}),
    ("POST", "http://127.0.0.1:8421/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction"
             "%3Af/invocations?Qualifier=live", b'{"a": 1}', {"X-Amz-Invocation-Type": "Event"}),
    ("GET", "http://localhost:8421/2015-03-31/functions/?Marker=%25%25&MaxItems=10&FunctionVersion=ALL", b"", {}),
    ("GET", "http://h/2015-03-31/functions/a%20b/configuration?x=a%2Bb&x=a+b&empty=", b"", {}),
    ("PUT", "http://h/2015-03-31/functions/f/configuration", b"{}", {"Content-Type": "application/json",
                                                                     "X-Custom": "  spaced   value  "}),
    ("GET", "http://h/a/./b/../c//d", b"", {}),
])
def test_what_botocore_signs_verifies(method, url, body, headers):
    principal = verify(Verifier(KEYS), signed(method, url, body, headers))
    assert principal.access_key_id == "AKIDEXAMPLE" and principal.kind == "admin"


def test_any_change_breaks_the_signature():
    verifier = Verifier(KEYS)
    request = signed("POST", "http://h/2015-03-31/functions/f/invocations", b'{"n": 1}', {"X-Amz-Log-Type": "Tail"})
    with pytest.raises(InvalidSignatureException):
        verify(verifier, request, body=b'{"n": 2}')
    method, path, query, headers, body = as_received(request)
    for changed in ({**headers, b"x-amz-log-type": b"None"}, {**headers, b"host": b"evil.example"}):
        with pytest.raises(InvalidSignatureException):
            verifier.begin(method, path, query, changed, "lambda").finish(hashlib.sha256(body).hexdigest())
    for other_path, other_query in ((path.replace("/f/", "/g/"), query), (path, "Qualifier=1")):
        with pytest.raises(InvalidSignatureException):
            verifier.begin(method, other_path, other_query, headers, "lambda").finish(hashlib.sha256(body).hexdigest())
    with pytest.raises(InvalidSignatureException):
        verify(Verifier(KEYS), signed("GET", "http://h/x", credentials=Credentials("AKIDEXAMPLE", "wrong")))


def test_declared_payload_hash_must_match_the_body():
    verifier = Verifier(KEYS)
    body = b'{"n": 1}'
    request = signed("POST", "http://h/x", body, {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    assert verify(verifier, request)
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        verify(verifier, request, body=b'{"n": 2}')
    method, path, query, headers, _ = as_received(request)
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):  # not even a hash
        verifier.begin(method, path, query, {**headers, b"x-amz-content-sha256": "\u00e9t\u00e9".encode("latin-1")},
                       "lambda").finish(hashlib.sha256(body).hexdigest())
    unsigned = signed("POST", "http://h/x", body, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert verify(verifier, unsigned, body=b"anything")


def test_missing_unknown_and_malformed():
    verifier = Verifier(KEYS)
    with pytest.raises(MissingAuthenticationTokenException):
        verifier.begin("GET", "/", "", {b"host": b"h"}, "lambda")
    with pytest.raises(UnrecognizedClientException):
        verify(verifier, signed("GET", "http://h/x", credentials=Credentials("AKIDOTHER", "x")))
    with pytest.raises(IncompleteSignatureException):
        verifier.begin("GET", "/", "", {b"host": b"h", b"authorization": b"AWS4-HMAC-SHA256 Credential=a/b"}, "lambda")
    with pytest.raises(IncompleteSignatureException):
        verifier.begin("GET", "/", "", {b"host": b"h", b"authorization": b"AWS AKID:sig"}, "lambda")
    with pytest.raises(InvalidSignatureException, match="correct service: 'events'"):
        verify(verifier, signed("POST", "http://h/", b"{}"), service="events")


def test_the_clock_skew_window_is_five_minutes():
    request = signed("GET", "http://h/x")
    signed_at = calendar.timegm(time.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    for offset in (-299, 0, 299):
        assert verify(Verifier(KEYS, clock=lambda offset=offset: signed_at - offset), request)
    with pytest.raises(InvalidSignatureException, match=r"^Signature expired: \d{8}T\d{6}Z is now earlier than"):
        verify(Verifier(KEYS, clock=lambda: signed_at + 301), request)
    with pytest.raises(InvalidSignatureException, match=r"^Signature not yet current: .* is still later than .*\+ 5"):
        verify(Verifier(KEYS, clock=lambda: signed_at - 301), request)


def test_the_date_header_form_verifies():
    request = signed("GET", "http://h/x", headers={"Date": "Mon, 07 Dec 2026 10:00:00 GMT"})
    assert "X-Amz-Date" not in request.headers
    now = email.utils.parsedate_to_datetime(request.headers["Date"]).timestamp()
    assert verify(Verifier(KEYS, clock=lambda: now), request)


def test_presigned_urls_verify_until_they_expire():
    request = AWSRequest(method="GET", url="http://h/2015-03-31/functions/f?Qualifier=1")
    SigV4QueryAuth(CREDENTIALS, "lambda", "us-east-1", expires=60).add_auth(request)
    parts = urlsplit(request.url)
    signed_at = calendar.timegm(time.strptime(parts.query.split("X-Amz-Date=")[1][:16], "%Y%m%dT%H%M%SZ"))
    headers = {b"host": b"h"}
    assert Verifier(KEYS, clock=lambda: signed_at + 59).begin("GET", parts.path, parts.query, headers, "lambda") \
        .finish(hashlib.sha256(b"").hexdigest())
    with pytest.raises(InvalidSignatureException, match="^Signature expired"):
        Verifier(KEYS, clock=lambda: signed_at + 61).begin("GET", parts.path, parts.query, headers, "lambda")
    tampered = parts.query.replace("Qualifier=1", "Qualifier=2")
    with pytest.raises(InvalidSignatureException):
        Verifier(KEYS, clock=lambda: signed_at).begin("GET", parts.path, tampered, headers, "lambda") \
            .finish(hashlib.sha256(b"").hexdigest())


def test_signing_keys_are_derived_once_per_scope():
    verifier = Verifier(KEYS)
    first = verifier.signing_key("s", "20261207", "us-east-1", "lambda")
    assert verifier.signing_key("s", "20261207", "us-east-1", "lambda") is first
    assert verifier.signing_key("s", "20261208", "us-east-1", "lambda") != first


def test_access_keys_and_the_credentials_file(tmp_path):
    assert parse_access_keys(" test:test , AKID:se:cret") == {"test": "test", "AKID": "se:cret"}
    for bad in ("justanid", ":secret", ","):
        with pytest.raises(AccessKeyError):
            parse_access_keys(bad)
    path = tmp_path / "credentials"
    keys, created = load_or_create_credentials(path)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    (key_id, secret), = keys.items()
    assert len(key_id) == 20 and len(secret) == 40
    assert path.read_text() == f"[stratus]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    assert load_or_create_credentials(path) == (keys, False)
    path.write_text("[default]\n")
    with pytest.raises(AccessKeyError, match=r"\[stratus\]"):
        load_or_create_credentials(path)


def test_loopback_hosts():
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"))

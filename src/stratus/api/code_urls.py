"""Presigned code download URLs: GetFunction's Code.Location and GetLayerVersion's Content.Location.

As on AWS (a presigned S3 URL valid for 10 minutes), the URL itself is the permission: it downloads
with no headers (`curl "$LOCATION"`) until it expires, and nothing else. The query string carries the
expiry (Unix seconds) and an HMAC-SHA256 of (method, path, expiry) under a key derived from the data
dir's secret key (or STRATUS_ENCRYPTION_KEY), checked in constant time. A missing, wrong or expired
signature is S3's 403 AccessDenied, in S3's XML error shape (what a downloader of a presigned URL
expects). The links use the configured public name (Settings.public_endpoint), never the request's Host.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from stratus.config import Settings
from stratus.control.secrets import load_key

CODE_PATH = "/_stratus/code/"
EXPIRES = "X-Stratus-Expires"
SIGNATURE = "X-Stratus-Signature"


class CodeUrls:
    """Signs code download URLs and checks the signature of a download request."""

    def __init__(self, settings: Settings, clock=time.time):
        secret = load_key(settings.encryption_key, settings.key_path)
        self._key = hmac.new(secret, b"stratus code location v1", hashlib.sha256).digest()
        self._base = settings.public_endpoint
        self._expiry_s = settings.code_url_expiry_s
        self._clock = clock

    def _signature(self, path: str, expires: str) -> str:
        return hmac.new(self._key, f"GET\n{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, sha256_hex: str) -> str:
        """The presigned URL of the blob with this SHA-256 (hex), valid for `code_url_expiry_s`."""
        path = CODE_PATH + sha256_hex
        expires = str(int(self._clock() + self._expiry_s + 0.999))
        return f"{self._base}{path}?{EXPIRES}={expires}&{SIGNATURE}={self._signature(path, expires)}"

    def refusal(self, request: Request) -> Response | None:
        """None when the request carries a valid, unexpired signature for its path; else S3's 403."""
        expires = request.query_params.get(EXPIRES, "")
        signature = request.query_params.get(SIGNATURE, "")
        if not expires or not signature:
            return _access_denied("Query-string authentication requires the X-Stratus-Expires and "
                                  "X-Stratus-Signature parameters: get a fresh URL from GetFunction.")
        expected = self._signature(request.scope["path"], expires)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return _access_denied("The request signature does not match: get a fresh URL from GetFunction.")
        if not expires.isdigit() or int(expires) < self._clock():
            return _access_denied("Request has expired")
        return None


def _access_denied(message: str) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{uuid.uuid4()}</RequestId></Error>")
    return Response(body.encode(), status_code=403, media_type="application/xml")

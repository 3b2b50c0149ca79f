"""Helpers for front-door tests: raw HTTP to a Function URL or API (by Host or by path), and zips with
Powertools in them."""

from __future__ import annotations

import http.client
import io
import pathlib
import zipfile
from urllib.parse import urlsplit

import aws_lambda_powertools
import jmespath
import typing_extensions


class Reply:
    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = response.getheaders()
        self.body = response.read()

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class Client:
    """One keep-alive connection to the server; requests name their Host (a Function URL's or an API's)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, host: str | None = None, body: bytes | None = None,
                headers: dict[str, str] | list[tuple[str, str]] | None = None) -> Reply:
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        self.conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        self.conn.putheader("Host", host or f"127.0.0.1:{self.port}")
        for name, value in pairs:
            self.conn.putheader(name, value)
        if body is not None:
            self.conn.putheader("Content-Length", str(len(body)))
        self.conn.endheaders(body)
        return Reply(self.conn.getresponse())

    def close(self) -> None:
        self.conn.close()


def url_host(function_url: str) -> str:
    """The Host of a FunctionUrl (http://<id>.lambda-url.<region>.localhost:<port>/)."""
    return urlsplit(function_url).netloc


def url_id(function_url: str) -> str:
    return url_host(function_url).split(".", 1)[0]


def zip_with_powertools(files: dict[str, str]) -> bytes:
    """A function zip holding `files` and Powertools for AWS Lambda with its two dependencies (pure Python)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        for package in (aws_lambda_powertools, jmespath):
            root = pathlib.Path(package.__file__).parent
            for path in root.rglob("*.py"):
                archive.write(path, str(path.relative_to(root.parent)))
        archive.write(typing_extensions.__file__, "typing_extensions.py")
    return buffer.getvalue()

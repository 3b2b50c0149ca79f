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


def api_host(api_id: str, port: int) -> str:
    """The Host of an API Gateway API (HTTP or REST) on the server at `port`."""
    return f"{api_id}.execute-api.localhost:{port}"


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


# The part of the streaming test functions (Node, awslambda.streamifyResponse) that tests/e2e/test_response_streaming.py
# and test_function_url_streaming.py share: `gate(port)` (connect to the test's gate, say "in", wait for its answer),
# `writeAll(stream, data)` (honouring back-pressure) and `commonStep(op, arg, responseStream, context)`, the steps
# ["write", text], ["gate", port], ["time"] (writes end=<epoch seconds, sub-ms>), ["env"] (writes env=<log stream>),
# ["log", text], ["throw", message], ["bytes", n].
NODE_STREAM_STEPS = r"""const net = require('net');
function gate(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('in'));
    socket.setTimeout(60000, () => { socket.destroy(); reject(new Error('the gate never opened')); });
    socket.once('data', () => { socket.destroy(); resolve(); });
    socket.on('error', reject);
  });
}
function writeAll(stream, data) {
  return new Promise((resolve) => { if (stream.write(data)) resolve(); else stream.once('drain', resolve); });
}
async function commonStep(op, arg, responseStream, context) {
  if (op === 'write') await writeAll(responseStream, arg);
  else if (op === 'gate') await gate(arg);
  else if (op === 'time') await writeAll(responseStream, `end=${(performance.timeOrigin+performance.now())/1e3}`);
  else if (op === 'env') await writeAll(responseStream, `env=${context.logStreamName}`);
  else if (op === 'log') console.log(arg);
  else if (op === 'throw') throw new Error(arg);
  else if (op === 'bytes') {
    const block = Buffer.alloc(65536, 120);
    for (let sent = 0; sent < arg; sent += block.length) await writeAll(responseStream, block);
  }
}
"""

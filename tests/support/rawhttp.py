"""A raw-socket HTTP/1.1 client and helpers, for tests that need to misbehave on the wire."""

from __future__ import annotations

import socket
import threading
import time

from tests.support.signing import auth_lines


def host_line(port: int) -> bytes:
    """The server's own Host header line (its name with its port, as the web-origin rules require)."""
    return b"Host: 127.0.0.1:%d\r\n" % port


class Raw:
    """A keep-alive HTTP/1.1 client on one raw socket; its requests carry the server's own Host and are
    SigV4-signed with the test keys."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.host = f"127.0.0.1:{port}"
        self.buffer = b""

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        self.sock.sendall(self.signed_head(method, path, body) + body)
        return self.response()

    def signed_head(self, method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
        """The head of a signed request with `body` (`extra`: more CRLF-terminated header lines, unsigned)."""
        return (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{auth_lines(method, self.host, path, body)}"
                f"Content-Length: {len(body)}\r\n{extra}\r\n").encode()

    def response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; got {self.buffer[:200]!r}")
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.buffer = rest[length:]
        return int(head.split(b" ", 2)[1]), rest[:length]

    def close(self) -> None:
        self.sock.close()


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes (or the timeout)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def send_in_background(sock: socket.socket, chunks, pause_s: float = 0.0) -> threading.Thread:
    def run():
        try:
            for chunk in chunks:
                sock.sendall(chunk)
                if pause_s:
                    time.sleep(pause_s)
        except OSError:
            pass  # the server closed: expected
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def drained_to_close(sock: socket.socket) -> bool:
    """Read what a non-blocking socket has; True once the server has closed it."""
    try:
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True

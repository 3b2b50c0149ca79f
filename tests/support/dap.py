"""A minimal Debug Adapter Protocol client, as VS Code speaks to debugpy (tests of debug mode)."""

from __future__ import annotations

import json
import socket


class Dap:
    """A minimal DAP client (Content-Length framed JSON) over a TCP connection, as VS Code speaks to debugpy."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""
        self.seq = 0

    def request(self, command: str, **arguments) -> dict:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        while True:  # events (output, telemetry) may come first
            message = self._read()
            if message.get("type") == "response" and message.get("request_seq") == self.seq:
                return message

    def wait_event(self, event: str) -> dict:
        while True:
            message = self._read()
            if message.get("type") == "event" and message.get("event") == event:
                return message

    def send(self, command: str, **arguments) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def _read(self) -> dict:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(body)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the debugger's connection closed")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()

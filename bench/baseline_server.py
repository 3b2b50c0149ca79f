"""The floor: a bare asyncio (uvloop when installed) HTTP/1.1 server answering every request with a
fixed `200 {}`. Keep-alive, pipelining-safe, no routing, no parsing beyond Content-Length.

    python bench/baseline_server.py PORT        # prints "READY <port>" once listening
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"x-amzn-requestid: 00000000-0000-0000-0000-000000000000\r\ncontent-length: 2\r\n\r\n{}")


class FixedResponse(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            match = _CONTENT_LENGTH.search(self.buffer, 0, end)
            stop = end + 4 + (int(match.group(1)) if match else 0)
            if len(self.buffer) < stop:
                return
            self.buffer = self.buffer[stop:]
            self.transport.write(RESPONSE)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FixedResponse, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {port} loop={type(loop).__module__}", flush=True)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    try:
        import uvloop
        run = uvloop.run
    except (ImportError, AttributeError):
        run = asyncio.run
    run(main(int(sys.argv[1])))

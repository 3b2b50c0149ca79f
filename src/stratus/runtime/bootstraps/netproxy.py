"""Runtime API bridge for environments in an isolated network namespace (loopback only).

The server's per-environment Runtime API is a Unix socket bind-mounted into the sandbox. This
listens on 127.0.0.1:9001 inside, forks a forwarder, and execs the runtime in its own place, so
the runtime stays the process that gets SIGTERM at SHUTDOWN and the forwarder dies with the
sandbox. Usage: netproxy.py SOCKET_PATH -- RUNTIME_ARGV...
"""

import os
import socket
import sys
import threading

PORT = 9001


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def forward(listener, socket_path):
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(socket_path)
        except OSError:
            client.close()
            continue
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def main():
    socket_path, separator, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    assert separator == "--" and argv, __doc__
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PORT))
    listener.listen(64)
    if os.fork() == 0:
        forward(listener, socket_path)
        os._exit(0)
    listener.close()
    os.environ["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{PORT}"
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()

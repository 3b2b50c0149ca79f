"""Start and stop a real `stratus serve` on a free loopback port, in its own data dir."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

# The python runtime whose exact version the host has for both sandboxes (the server's own version, which
# Debian's /usr/bin build also serves): tests about something else than runtime versions use it, so no
# fallback warning (a legitimate extra log line where e.g. python3.12 is missing) changes what they read.
HOST_PYTHON_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_zip(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    """A zip holding `files` (name → content); `modes` sets Unix permission bits per name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


class StratusServer:
    """A `stratus serve` subprocess. Use as a context manager, or call start()/stop()."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> StratusServer:
        env = dict(os.environ, **self.extra_env)
        env.setdefault("STRATUS_IDLE_TIMEOUT_S", "300")
        env.setdefault("STRATUS_ACCESS_KEYS", "test:test")  # the keys every test client signs with
        # FunctionUrls by host (AWS's form) on every machine; tests reach them with a Host header
        # (test_function_urls.py covers the path form and "auto").
        env.setdefault("STRATUS_FUNCTION_URL_STYLE", "host")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stratus.cli.main", "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stratus serve exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/_stratus/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"stratus serve did not become healthy: {self.log()}")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, wait for a clean exit; returns the exit code (SIGKILL after the timeout)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        self._log.close()
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def client(self, **config):
        return boto3.client(
            "lambda", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 0}, read_timeout=120, **config),
        )

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def invoke_json(client, name: str, payload=None, **kwargs) -> tuple[dict, object]:
    """Invoke and decode the JSON payload; returns (response metadata, decoded payload)."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload if payload is not None else {}), **kwargs)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None

"""A real `moto_server` (SQS, SNS, Kinesis, DynamoDB, DynamoDB Streams...) on a free loopback port.

Tests reach it with boto3 like any AWS endpoint (`MotoServer.client("sqs")`), and point Stratus at
it with `STRATUS_SERVICE_ENDPOINTS="*=<endpoint>"` (see `service_env`).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

from tests.support.server import free_port

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account: the one in the ARNs it makes


class MotoServer:
    """A `moto_server` subprocess; use as a context manager or call start()/stop()."""

    def __init__(self, log_path: Path | None = None):
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = log_path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> MotoServer:
        executable = Path(sys.executable).with_name("moto_server")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen([str(executable), "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=log, stderr=subprocess.STDOUT)
        if self.log_path:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("moto_server did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self, service: str, **config):
        """A boto3 client for `service` pointed at this server."""
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"max_attempts": 2}, **config))

    def service_env(self) -> dict[str, str]:
        """Env vars that point a Stratus server at this endpoint for every AWS service, and let its
        functions reach it too (a namespaced function's outbound network reaches only listed host ports)."""
        return {"STRATUS_SERVICE_ENDPOINTS": f"*={self.endpoint}", "STRATUS_FUNCTION_HOST_PORTS": str(self.port),
                "STRATUS_SERVICE_ACCESS_KEY_ID": "test", "STRATUS_SERVICE_SECRET_ACCESS_KEY": "test"}

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

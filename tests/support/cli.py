"""Run the `stratus` CLI as a user does: a subprocess (`python -m stratus.cli.main ...`), keys in the environment."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path


def cli_env(endpoint: str, home: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment a CLI user has: the test keys, the server's endpoint, no other AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRATUS_"))}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               STRATUS_ENDPOINT_URL=endpoint, COLUMNS="200", NO_COLOR="1")
    if home is not None:
        env.update(HOME=str(home), AWS_CONFIG_FILE=str(home / "no-config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"))
    env.update(extra)
    return env


def stratus(*args: str, env: dict[str, str], cwd: Path | None = None, input: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stratus.cli.main", *args], env=env, cwd=cwd, input=input,
                          capture_output=True, text=True, timeout=timeout)


class Lines:
    """A long-running CLI process (`logs --follow`, `dev`) whose output lines are read as they come, each with
    the monotonic time it arrived."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path | None = None):
        self.process = subprocess.Popen([sys.executable, "-m", "stratus.cli.main", *args], env=env, cwd=cwd,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, text: str, timeout: float) -> float:
        """The arrival time of the first line containing `text` (AssertionError with the output after `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line with {text!r} within {timeout} s; output:\n" + "\n".join(self.seen))
            try:
                arrived, line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    raise AssertionError(f"the process exited ({self.process.returncode}) without {text!r}:\n"
                                         + "\n".join(self.seen)) from None
                continue
            self.seen.append(line)
            if text in line:
                return arrived

    def stop(self, sig: int | None = None) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(sig or signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        while not self.lines.empty():
            self.seen.append(self.lines.get()[1])
        return self.process.returncode

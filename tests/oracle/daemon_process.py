"""The daemon as a real subprocess (`python -m oracle run`), for fault tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from oracle_helpers import to_toml

ROOT = Path(__file__).resolve().parents[2]


class DaemonProcess:
    def __init__(self, settings: dict, directory: Path, name: str = "gateway"):
        self.config = directory / f"{name}.toml"
        self.config.write_text(to_toml(settings))
        self.log_path = directory / f"{name}.log"
        self.stderr_path = directory / f"{name}.stderr"
        self.process: subprocess.Popen | None = None
        self.runs = 0

    def start(self) -> DaemonProcess:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.runs += 1
        self._log_size_at_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oracle", "run", "--config", str(self.config)],
            stdout=open(self.log_path, "ab"), stderr=open(self.stderr_path, "ab"), cwd=ROOT, env=env,
        )
        return self

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        # SIGTERM before the daemon installed its handler would kill it outright (-15):
        # wait for its first log line of this run, which comes after the handler.
        deadline = time.monotonic() + 30
        while (self.process.poll() is None and time.monotonic() < deadline
               and (self.log_path.stat().st_size if self.log_path.exists() else 0) <= self._log_size_at_start):
            time.sleep(0.02)
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def events(self) -> list[dict]:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by kill -9
                continue
        return out

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

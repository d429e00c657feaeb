"""Start and stop a local anvil configured like Qtum regtest (see docs qtum.md)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import JanusRpcError
from ..janus import JsonRpcTransport

REGTEST_CHAIN_ID = 8890
ANVIL_QTUM_FLAGS = [
    "--hardfork",
    "cancun",
    "--chain-id",
    str(REGTEST_CHAIN_ID),
    "--gas-limit",
    "40000000",
    "--code-size-limit",
    "24576",
    "--block-base-fee-per-gas",
    "0",
    "--gas-price",
    "400000000000",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_anvil() -> str:
    """$ENERGO_ANVIL, then the repo's node_modules/.bin/anvil, then anvil on PATH."""
    candidates = [
        os.environ.get("ENERGO_ANVIL"),
        str(Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "anvil"),
        shutil.which("anvil"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("anvil not found: set ENERGO_ANVIL or install Foundry")


class AnvilProcess:
    """An anvil child process on a free port; use as a context manager."""

    def __init__(self, anvil_path: str | None = None, startup_timeout: float = 30.0):
        self.anvil_path = anvil_path or find_anvil()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AnvilProcess:
        # A free port can be taken between probing and binding: try a few.
        for _ in range(3):
            self.port = free_port()
            self._log = tempfile.TemporaryFile()
            self.process = subprocess.Popen(
                [self.anvil_path, *ANVIL_QTUM_FLAGS, "--port", str(self.port)],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError("anvil did not start; see its output above")

    def _wait_ready(self) -> bool:
        transport = JsonRpcTransport(self.url, timeout=2)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                transport.request("eth_chainId")
                return True
            except JanusRpcError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""The local Qtum-like chain: anvil configured like Qtum regtest (../shared/docs/qtum.md).

Used by the tests, the demo and the benchmarks; nobody starts anvil by hand.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from web3 import HTTPProvider, Web3

from energo.constants import LOCAL_CHAIN_ID, QTUM_BLOCK_GAS_LIMIT, QTUM_CODE_SIZE_LIMIT, QTUM_MIN_GAS_PRICE_WEI

ROOT = Path(__file__).resolve().parent.parent

#: anvil's default mnemonic accounts (public test keys, never for real funds).
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_executable() -> str:
    """The native anvil binary from the npm package, else one on PATH."""
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")
    native = ROOT / "node_modules" / "@foundry-rs" / f"anvil-linux-{arch}" / "bin" / "anvil"
    if native.exists():
        return str(native)
    found = shutil.which("anvil")
    if found:
        return found
    raise FileNotFoundError("anvil not found: run `make setup` (npm ci installs @foundry-rs/anvil)")


def qtum_like_args(port: int, accounts: int = 10) -> list[str]:
    return [
        "--hardfork", "cancun",
        "--chain-id", str(LOCAL_CHAIN_ID),
        "--gas-limit", str(QTUM_BLOCK_GAS_LIMIT),
        "--code-size-limit", str(QTUM_CODE_SIZE_LIMIT),
        "--block-base-fee-per-gas", "0",
        "--gas-price", str(QTUM_MIN_GAS_PRICE_WEI),
        "--port", str(port),
        "--host", "127.0.0.1",
        "--accounts", str(accounts),
        "--balance", "1000000",
        "--mnemonic", DEV_MNEMONIC,
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Anvil:
    """An anvil subprocess on a free loopback port; a context manager that always stops it."""

    def __init__(self, port: int | None = None, accounts: int = 10, extra_args: list[str] | None = None,
                 log_path: Path | None = None):
        self.port = port or free_port()
        self.accounts = accounts
        self.extra_args = extra_args or []
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Anvil:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [anvil_executable(), *qtum_like_args(self.port, self.accounts), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        w3 = self.web3()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"anvil exited with {self.process.returncode} on port {self.port}")
            try:
                if w3.eth.chain_id == LOCAL_CHAIN_ID:
                    return self
            except Exception:  # not listening yet
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"anvil did not answer on {self.url} within {timeout}s")

    def web3(self) -> Web3:
        return Web3(HTTPProvider(self.url, request_kwargs={"timeout": 60}))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

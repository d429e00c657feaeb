"""The anvil behind the Janus test double: the project's local Qtum-like chain
(energo.localchain: Qtum regtest's chain id, gas and code-size limits, zero base fee,
minimum gas price), started as the native binary in its own process group so that
stopping it never leaves an orphan."""

from __future__ import annotations

from energo_deploy.localchain import Anvil


class AnvilProcess(Anvil):
    """An anvil child process on a free loopback port; use as a context manager."""

    def __init__(self, startup_timeout: float = 30.0):
        # The double decides the order of a block's transactions (arrival, as its Qtum
        # block lists them); anvil's default orders its pending pool by fee.
        super().__init__(extra_args=["--order", "fifo"])
        self.startup_timeout = startup_timeout

    def start(self, timeout: float | None = None) -> AnvilProcess:
        super().start(timeout=timeout or self.startup_timeout)
        return self

"""What the chain said: every event of the community's contracts, read incrementally.

The demo waits on these (an interval's readings are accepted, a round is cleared) and
the report, chart and checks are computed from them, never from the simulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from energo_community.rpc import Codec, Rpc


class DemoError(RuntimeError):
    """The run cannot go on; the message says what happened and where to look."""


@dataclass(frozen=True)
class Event:
    contract: str  # the contract's role in the community: SharedBattery, MeterLedger, Market, TslToken
    name: str
    args: dict[str, Any]
    block: int
    tx_hash: str
    log_index: int


class ChainLog:
    def __init__(self, rpc: Rpc, contracts: dict[str, Codec], from_block: int = 0):
        self.rpc = rpc
        self.events: list[Event] = []
        self._next_block = from_block
        self._contracts = {codec.address: (name, codec) for name, codec in contracts.items()}
        self._named: dict[tuple[str, str | None], list[Event]] = {}

    def poll(self) -> list[Event]:
        """Fetches the events mined since the last poll; returns the new ones."""
        head = int(self.rpc.request("eth_blockNumber", []), 16)
        if head < self._next_block:
            return []
        logs = self.rpc.request("eth_getLogs", [{"fromBlock": hex(self._next_block), "toBlock": hex(head),
                                                 "address": list(self._contracts)}])
        self._next_block = head + 1
        new = []
        for log in logs:
            name, codec = self._contracts[to_checksum_address(log["address"])]
            topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
            event = codec.events.get(topics[0]) if topics else None
            if event is None:
                continue
            new.append(Event(name, event.name, event.decode(topics, bytes.fromhex(log["data"][2:])),
                             int(log["blockNumber"], 16), log["transactionHash"], int(log["logIndex"], 16)))
        if new:
            self.events.extend(new)
            self._named.clear()
        return new

    def named(self, name: str, contract: str | None = None) -> list[Event]:
        key = (name, contract)
        if key not in self._named:
            self._named[key] = [e for e in self.events
                                if e.name == name and (contract is None or e.contract == contract)]
        return self._named[key]

    def wait(self, done: Callable[[], Any], timeout: float, what: str, alive: Callable[[], None] = lambda: None,
             interval: float = 0.005) -> Any:
        """Polls the chain until `done()` is truthy; `alive()` raises if a helper died."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            result = done()
            if result:
                return result
            alive()
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(interval)  # pacing between polls, not synchronisation

"""What the chain said: every event of the community's contracts, read incrementally.

The demo waits on these (an interval's readings are accepted, a round is cleared) and
the report, chart and checks are computed from them, never from the simulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.codec import ABICodec
from eth_utils import collapse_if_tuple, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractEvent
from web3.types import RPCEndpoint


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


def node_request(w3: Web3, method: str, params: list) -> Any:
    """A node method (eth_getLogs, anvil_*, evm_* ...) through the provider; raises
    DemoError with the node's message if it fails."""
    response = w3.provider.make_request(RPCEndpoint(method), params)
    if "error" in response:
        raise DemoError(f"{method} failed: {response['error']}")
    return response.get("result")


@dataclass(frozen=True)
class EventDecoder:
    """One event of a contract's ABI (from its web3.py contract object), decoded with
    web3's codec (``w3.codec``); addresses checksummed, as web3.py returns them."""

    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, ABI type), in topic order
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]

    @classmethod
    def of(cls, event: ContractEvent) -> EventDecoder:
        inputs = event.abi["inputs"]
        data = [i for i in inputs if not i["indexed"]]
        return cls(event.abi["name"],
                   tuple((i["name"], collapse_if_tuple(i)) for i in inputs if i["indexed"]),
                   tuple(i["name"] for i in data), tuple(collapse_if_tuple(i) for i in data))

    def decode(self, codec: ABICodec, topics: list[str], data: str) -> dict[str, Any]:
        args = {}
        for (name, abi_type), topic in zip(self.indexed, topics[1:], strict=True):
            (args[name],) = codec.decode([abi_type], bytes.fromhex(topic[2:]))
        values = codec.decode(self.data_types, bytes.fromhex(data[2:]))
        args.update(zip(self.data_names, values, strict=True))
        for name, abi_type in (*self.indexed, *zip(self.data_names, self.data_types, strict=True)):
            if abi_type == "address":
                args[name] = to_checksum_address(args[name])
        return args


@cache
def _decoder(contract: Contract, name: str) -> tuple[str, EventDecoder]:
    event = contract.events[name]()
    return event.topic, EventDecoder.of(event)


def receipt_events(w3: Web3, receipt: dict, contract: Contract, name: str) -> list[dict[str, Any]]:
    """The arguments of every ``name`` event that ``contract`` emitted, from a receipt as
    the node sent it (contracts.send)."""
    topic, decoder = _decoder(contract, name)
    address = contract.address.lower()
    return [decoder.decode(w3.codec, log["topics"], log["data"]) for log in receipt["logs"]
            if log["address"].lower() == address and log["topics"] and log["topics"][0] == topic]


class ChainLog:
    """The community contracts' events, decoded from each contract's ABI (web3.py contract
    objects built from the exported artifacts).

    Logs come from the node as they are (``eth_getLogs``) and are decoded here with
    ``w3.codec``: web3.py's formatting of the logs and ``ContractEvent.process_log`` cost
    about 1 ms a log, and a day has some ten thousand of them."""

    def __init__(self, w3: Web3, contracts: dict[str, Contract], from_block: int = 0):
        self.w3 = w3
        self.events: list[Event] = []
        self._next_block = from_block
        self._addresses = [contract.address for contract in contracts.values()]
        #: (lower-case address, topic 0) -> (the contract's role, the event's decoder)
        self._decoders = {(contract.address.lower(), event.topic): (role, EventDecoder.of(event))
                          for role, contract in contracts.items()
                          for event in (contract.events[e["name"]]() for e in contract.abi if e["type"] == "event")}
        self._named: dict[tuple[str, str | None], list[Event]] = {}

    def poll(self) -> list[Event]:
        """Fetches the events mined since the last poll; returns the new ones."""
        head = int(node_request(self.w3, "eth_blockNumber", []), 16)
        if head < self._next_block:
            return []
        logs = node_request(self.w3, "eth_getLogs", [{"fromBlock": hex(self._next_block), "toBlock": hex(head),
                                                      "address": self._addresses}])
        self._next_block = head + 1
        new = []
        for log in logs:
            topics = log["topics"]
            found = self._decoders.get((log["address"].lower(), topics[0])) if topics else None
            if found is None:
                continue
            role, decoder = found
            new.append(Event(role, decoder.name, decoder.decode(self.w3.codec, topics, log["data"]),
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

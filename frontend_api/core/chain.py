"""Chain reads with a short cache.

Every read is made at one pinned block (the head, itself cached for ``cache_ttl_s``), and
cached per block: a screen is consistent within itself, a new block invalidates the
cache, and under load one head request serves every request within the TTL. When the
node is unreachable the last good value is served, marked stale, until it is older
than ``MAX_STALE_S``; then the endpoint answers 503.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
from eth_utils import to_checksum_address
from eth_utils.abi import get_abi_output_types
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from energo import artifacts
from frontend_api.core import market as market_abi
from frontend_api.core.config import ConfigError, ResolvedAddresses, Settings

MAX_STALE_S = 300.0


class ChainUnavailable(RuntimeError):
    """The node cannot be reached and no recent value is cached."""


class TTLCache:
    def __init__(self, max_entries: int = 20_000) -> None:
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: Any) -> tuple[float, Any] | None:
        with self._lock:
            item = self._data.get(key)
            if item is not None:
                self._data.move_to_end(key)
            return item

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class Chain:
    def __init__(self, settings: Settings, addresses: ResolvedAddresses, w3: Web3 | None = None) -> None:
        self.settings = settings
        self.ttl = settings.cache_ttl_s
        timeout = settings.rpc_timeout_s
        # No retries inside web3 (by default it retries a timed-out read five times, which
        # made one request to a hung node take a minute): the indexer retries with its own
        # backoff, and requests answer from what is known.
        self.w3 = w3 or Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": timeout},
                                          exception_retry_configuration=None))
        self.cache = TTLCache()
        self._head_lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._head: tuple[float, int, int] | None = None  # (fetched at, number, timestamp)
        self._head_hash: tuple[int, bytes] | None = None
        #: Monotonic time of the node's last answer to the head follower (None: never).
        self.last_answer_at: float | None = None
        self.last_failure: str | None = None
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
        self._follower: threading.Thread | None = None
        self._stop_follow = threading.Event()
        #: Called as warmer(block, timestamp) by the head follower before a new head is published.
        self.warmers: list[Callable[[int, int], None]] = []
        self.battery = self._contract("SharedBattery", addresses.battery)
        tsl = addresses.tsl or self.battery.functions.tsl().call()
        ledger = addresses.ledger or self.battery.functions.ledger().call()
        self.tsl = self._contract("TslToken", tsl)
        self.ledger = self._contract("MeterLedger", ledger)
        self.market: Contract | None = None
        self.market_name = addresses.market_name
        if addresses.market:
            if not self.market_name:
                raise ConfigError("a market address needs ENERGO_API_MARKET_NAME (its artifact name) for its ABI")
            self.market = self._contract(self.market_name, addresses.market)
        self.chain_id = self.w3.eth.chain_id
        if addresses.chain_id is not None and addresses.chain_id != self.chain_id:
            raise ConfigError(f"the deployments file is for chain {addresses.chain_id}, but {settings.rpc_url} "
                              f"is chain {self.chain_id}: wrong RPC URL or wrong file")
        for name, contract in self.contracts().items():
            if not self.w3.eth.get_code(contract.address):
                raise ConfigError(f"no contract code at {name} {contract.address} on chain {self.chain_id}: "
                                  "wrong deployments file or a restarted local chain")

    def _contract(self, name: str, address: str) -> Contract:
        try:
            abi = artifacts.abi(name)
        except FileNotFoundError as exc:
            raise ConfigError(str(exc)) from exc
        return self.w3.eth.contract(address=to_checksum_address(address), abi=abi)

    def contracts(self) -> dict[str, Contract]:
        out = {"TslToken": self.tsl, "SharedBattery": self.battery, "MeterLedger": self.ledger}
        if self.market is not None:
            out[self.market_name] = self.market
        return out

    # ------------------------------------------------------------ head

    def head_known(self) -> tuple[int, int, bool] | None:
        """The last head seen, marked stale when it is old, without any I/O; None if none yet."""
        cached = self._head
        if cached is None:
            return None
        return cached[1], cached[2], time.monotonic() - cached[0] > self.stale_after_s()

    def head_hash(self) -> str | None:
        """The published head's hash (hex), None before the first head."""
        known = self._head_hash
        return None if known is None else known[1].hex()

    def head_nowait(self) -> tuple[int, int, bool] | None:
        """The published head if the follower keeps it fresh, without ever waiting (for
        the event loop); None when it is older than a few TTLs."""
        cached = self._head
        if cached and time.monotonic() - cached[0] < max(3 * self.ttl, 0.5):
            return cached[1], cached[2], False
        return None

    def following(self) -> bool:
        return self._follower is not None and self._follower.is_alive()

    def stale_after_s(self) -> float:
        """How old the published head may get before the node counts as not answering."""
        return max(3 * self.ttl, 1.0)

    def node_down(self) -> bool:
        """The head follower has had no answer for a while: reads that would go to the node
        fail at once (503 or the last cached values) instead of waiting for it."""
        cached = self._head
        return self.following() and cached is not None and time.monotonic() - cached[0] > self.stale_after_s()

    def _follow_step(self) -> None:
        asked_at = time.monotonic()
        try:
            block = self.w3.eth.get_block("latest")
        except Exception as exc:
            self.last_failure = f"{type(exc).__name__}: {exc}"
            raise
        self.last_answer_at = time.monotonic()
        self.last_failure = None
        cached = self._head
        if cached is not None and block["number"] != cached[1]:
            # Compute what requests will ask at the new block before they can see it, so
            # a new block costs them no cache misses (they answer from the old one meanwhile).
            for warmer in self.warmers:
                try:
                    warmer(block["number"], block["timestamp"])
                except Exception:  # noqa: BLE001 - warming is an optimisation only
                    pass
        self._publish(block, asked_at)

    def head(self, force: bool = False) -> tuple[int, int, bool]:
        """(block number, timestamp, stale) of the chain head, cached for the TTL.

        While the head follower runs, a known head is never waited for: the follower's
        last head is answered, marked stale once it is older than stale_after_s(), and a
        request never calls the node for it (a hung node cannot hold requests)."""
        now = time.monotonic()
        cached = self._head
        if cached and now - cached[0] < self.ttl and not force:
            return cached[1], cached[2], False
        if cached and not force and self.following():
            age = now - cached[0]
            if age > MAX_STALE_S:
                raise ChainUnavailable(f"the chain node at {self.settings.rpc_url} has not answered for "
                                       f"{age:.0f} s: {self.last_failure}")
            return cached[1], cached[2], age > self.stale_after_s()
        with self._head_lock:
            cached = self._head
            if cached and time.monotonic() - cached[0] < self.ttl and not force:
                return cached[1], cached[2], False
            asked_at = time.monotonic()
            try:
                block = self.w3.eth.get_block("latest")
            except Exception as exc:  # noqa: BLE001 - any transport failure
                if cached and now - cached[0] < MAX_STALE_S:
                    return cached[1], cached[2], True
                raise ChainUnavailable(f"the chain node at {self.settings.rpc_url} does not answer: {exc}") from exc
            return self._publish(block, asked_at)

    def _publish(self, block, asked_at: float | None = None) -> tuple[int, int, bool]:
        with self._publish_lock:
            current = self._head
            if (asked_at is not None and current is not None and current[0] > asked_at
                    and block["number"] < current[1]):
                # An answer to an older question (the follower asked before another thread
                # published a newer head): not a reorg, just late. Keep the newer head.
                return current[1], current[2], False
            previous = self._head_hash
            if previous and (block["number"] < previous[0]
                             or (block["number"] == previous[0] and block["hash"] != previous[1])):
                self.cache.clear()  # a reorg: values cached per block number are from the old fork
            self._head_hash = (block["number"], block["hash"])
            self._head = (time.monotonic(), block["number"], block["timestamp"])
            return block["number"], block["timestamp"], False

    def invalidate(self) -> None:
        self._head = None
        self.cache.clear()

    # ------------------------------------------------------------ cached reads

    def cached(self, key: tuple, block: int, compute: Callable[[int], Any]) -> Any:
        """compute(block), cached per (key, block)."""
        full = (key, block)
        hit = self.cache.get(full)
        if hit is not None:
            return hit[1]
        if self.node_down():
            raise ChainUnavailable(f"the chain node at {self.settings.rpc_url} does not answer "
                                   f"({self.last_failure}); this value is not cached")
        try:
            value = compute(block)
        except Exception as exc:
            if _is_transport_error(exc):
                raise ChainUnavailable(f"the chain node does not answer: {exc}") from exc
            raise
        self.cache.put(full, value)
        return value

    def call(self, fn, block: int) -> Any:
        return fn.call(block_identifier=block)

    def batch(self, calls: list, block: int) -> list[Any]:
        """Many view calls at one block in one JSON-RPC batch (one round trip instead of one
        each: a screen's dozen calls cost about what one web3 call costs)."""
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": "eth_call",
             "params": [{"to": fn.address, "data": fn._encode_transaction_data()}, hex(block)]}
            for i, fn in enumerate(calls)
        ]
        if self.node_down():
            raise ChainUnavailable(f"the chain node at {self.settings.rpc_url} does not answer ({self.last_failure})")
        try:
            response = self._http.post(self.settings.rpc_url, json=payload)
            response.raise_for_status()
            answers = response.json()
        except (httpx.HTTPError, ValueError, RuntimeError) as exc:  # RuntimeError: closed at shutdown
            raise ChainUnavailable(f"the chain node at {self.settings.rpc_url} does not answer: {exc}") from exc
        if not isinstance(answers, list):  # a node without batch support: one by one
            return [fn.call(block_identifier=block) for fn in calls]
        by_id = {a.get("id"): a for a in answers}
        out = []
        for i, fn in enumerate(calls):
            answer = by_id.get(i, {})
            if "error" in answer or "result" not in answer:
                raise RuntimeError(f"eth_call {fn.fn_name} failed: {answer.get('error')}")
            types = get_abi_output_types(fn.abi)
            values = self.w3.codec.decode(types, bytes.fromhex(answer["result"][2:]))
            out.append(values[0] if len(values) == 1 else tuple(values))
        return out

    # ------------------------------------------------------------ head follower

    def follow_head(self) -> None:
        """Refreshes the head in a thread, so requests never wait for it."""
        if self._follower is not None or self.ttl <= 0:
            return

        def loop() -> None:
            while not self._stop_follow.wait(self.ttl / 2):
                try:
                    self._follow_step()
                except Exception:  # noqa: BLE001 - requests fall back to fetching it themselves
                    pass

        self._follower = threading.Thread(target=loop, name="energo-head", daemon=True)
        self._follower.start()

    def close(self) -> None:
        self._stop_follow.set()
        if self._follower is not None:
            self._follower.join(5)
        self._http.close()

    # ------------------------------------------------------------ market views

    def market_view(self, key: str, *args: Any, block: int | str = "latest") -> Any:
        """An optional market view by its role (see core.market.VIEWS); None if the ABI lacks it."""
        if self.market is None:
            return None
        name = market_abi.view_name(self.market.abi, key)
        if name is None:
            return None
        fn = self.market.get_function_by_name(name)
        try:
            return fn(*args).call(block_identifier=block)
        except Exception as exc:  # noqa: BLE001 - a wrong guess of arity or a revert: not available
            if _is_transport_error(exc):
                raise ChainUnavailable(str(exc)) from exc
            return None


def _is_transport_error(exc: Exception) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.RequestException | ConnectionError | TimeoutError)

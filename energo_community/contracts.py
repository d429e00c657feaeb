"""Calling the community's contracts: web3.py contract objects built from the exported
artifacts (energo.tx.contract_at), and transactions with the kernel's rules
(energo.tx.Sender: legacy type 0 at Qtum's minimum gas price, estimate x margin +
headroom, custom errors decoded).

A day encodes some ten thousand calls and transactions and reads about as many views;
three measured shortcuts keep it as fast as it was with the demo's former codec:

- ``lean(contract).name`` is ``contract.functions.name`` from a contract object built
  from that function's entries of the same ABI. web3.py 7 checks a contract's whole ABI,
  a keccak per function (the SharedBattery has 64), each time it builds, estimates or
  sends a call; with one entry that check is one keccak.
- ``call_all`` reads many views in one JSON-RPC batch. Each is a bound web3.py contract
  function, which encodes its calldata (once, for a call the demo keeps and reads every
  interval); the answers are decoded by the function's ABI outputs with ``w3.codec``, as
  ``call()`` returns them (as ``frontend_api`` reads its screens). web3.py's own
  ``call()`` or ``w3.batch_requests()`` formats every request and answer through its
  middleware and normalizers: 72 views (an interval's holdings of 24 households) took
  155 ms of CPU that way against 6 ms.
- ``send`` is ``Sender.transact`` for the day's loop (orders, purges, settleRent; about
  1,300 a day): the same transaction from the sender's fields, sent from the unlocked dev
  account through the provider, the receipt polled every 5 ms. Through ``Sender`` an order
  took 45 ms (16 ms of CPU) against 26 ms (8 ms): web3.py formats the estimate, the
  transaction and the receipt, and Sender polls for the receipt every 50 ms, which anvil
  sometimes has not written at the first look. The setup's transactions use Sender.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any, cast
from weakref import WeakKeyDictionary

from eth_utils import get_abi_output_types
from web3 import HTTPProvider, Web3
from web3._utils.abi import map_abi_data
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import RPCEndpoint, RPCResponse

from energo.errors import EnergoError
from energo.tx import Sender, TxFailed, decode_revert

#: Views per batch request.
BATCH_SIZE = 200
RECEIPT_POLL_S = 0.005
RECEIPT_TIMEOUT_S = 60.0

_CALLDATA: WeakKeyDictionary[ContractFunction, dict] = WeakKeyDictionary()


class CallFailed(EnergoError, RuntimeError):
    """A view call failed at the node (the message has the node's error)."""


class LeanFunctions:
    """``contract.functions``, with one contract object per function (built on first use)."""

    def __init__(self, contract: Contract):
        self._contract = contract
        self._functions: dict[str, ContractFunction] = {}

    def __getattr__(self, name: str) -> ContractFunction:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._functions:
            entries = [e for e in self._contract.abi if e["type"] == "function" and e["name"] == name]
            if not entries:
                raise AttributeError(f"{name!r} is not a function of the contract at {self._contract.address}")
            one = self._contract.w3.eth.contract(address=self._contract.address, abi=entries)
            self._functions[name] = one.functions[name]
        return self._functions[name]

    def __getitem__(self, name: str) -> ContractFunction:
        return getattr(self, name)


@cache
def lean(contract: Contract) -> LeanFunctions:
    """The contract's functions, each checked against its own ABI entries only."""
    return LeanFunctions(contract)


def _request(call: ContractFunction) -> dict:
    if call not in _CALLDATA:
        _CALLDATA[call] = {"to": call.address, "data": call._encode_transaction_data()}
    return _CALLDATA[call]


def _result(w3: Web3, call: ContractFunction, raw: str) -> Any:
    types = get_abi_output_types(call.abi)
    values = w3.codec.decode(types, bytes.fromhex(raw[2:]))
    if any("address" in t or "[" in t for t in types):
        # as call() returns them: addresses checksummed, arrays as lists (the demo's hot
        # views are plain numbers and skip this)
        values = map_abi_data(BASE_RETURN_NORMALIZERS, types, values)
    return values[0] if len(values) == 1 else tuple(values)


def batch_request(w3: Web3, requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
    """One JSON-RPC batch through the provider (the local chain's HTTPProvider)."""
    return cast(HTTPProvider, w3.provider).make_batch_request(requests)


def call_all(w3: Web3, calls: list[ContractFunction]) -> list[Any]:
    """Many views (bound contract function calls) at the latest block in batched JSON-RPC
    requests; results in order, as each call's ``call()`` would return them."""
    results: list[Any] = []
    for start in range(0, len(calls), BATCH_SIZE):
        chunk = calls[start:start + BATCH_SIZE]
        responses = batch_request(w3, [(RPCEndpoint("eth_call"), [_request(c), "latest"]) for c in chunk])
        if isinstance(responses, dict):  # the whole batch failed
            raise CallFailed(f"eth_call batch failed: {responses.get('error')}")
        for call, response in zip(chunk, responses, strict=True):
            if "error" in response:
                raise CallFailed(f"{call.fn_name}{tuple(call.args)} failed: {response['error']}")
            results.append(_result(w3, call, response["result"]))
    return results


def call(w3: Web3, view: ContractFunction) -> Any:
    """One view, the way ``call_all`` reads them."""
    return call_all(w3, [view])[0]


def send(w3: Web3, sender: Sender, call: ContractFunction) -> dict:
    """``sender.transact(call)`` for the day's hot path: the same legacy (type-0)
    transaction at the sender's gas price, gas estimated with the sender's margin and
    headroom, custom errors decoded (energo.tx.decode_revert), sent from the unlocked dev
    account through the provider and its receipt polled every 5 ms; returns the receipt
    as the node sent it."""
    if not isinstance(sender.account, str):
        raise TypeError("contracts.send sends from an unlocked node account; a local key goes through Sender")
    tx = {"from": sender.address, "to": call.address, "data": _request(call)["data"],
          "gasPrice": hex(sender.gas_price), "type": "0x0"}
    estimate = w3.provider.make_request(RPCEndpoint("eth_estimateGas"), [tx])
    if "error" in estimate:
        raise decode_revert(estimate["error"].get("data"))
    tx["gas"] = hex(int(int(estimate["result"], 16) * sender.gas_margin) + sender.gas_headroom)
    sent = w3.provider.make_request(RPCEndpoint("eth_sendTransaction"), [tx])
    if "error" in sent:
        raise TxFailed("NotSent", (), f"{call.fn_name}: {sent['error']}")
    tx_hash = sent["result"]
    deadline = time.monotonic() + RECEIPT_TIMEOUT_S
    while (receipt := w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash]).get("result")) is None:
        if time.monotonic() > deadline:
            raise TxFailed("NotMined", (), f"tx {tx_hash} not mined within {RECEIPT_TIMEOUT_S:g} s")
        time.sleep(RECEIPT_POLL_S)
    if int(receipt["status"], 16) != 1:
        raise TxFailed("Reverted", (), f"tx {tx_hash} (gas {int(receipt['gasUsed'], 16)})")
    return receipt

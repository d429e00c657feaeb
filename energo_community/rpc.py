"""Lean JSON-RPC and ABI coding for the demo's hot paths (orders, views, event logs).

web3.py's contract objects re-validate the whole ABI and ask for the chain id on every
call; over a day of a few thousand orders and reads that is most of the demo's time on
a small machine. Here each contract's ABI is compiled once into selectors and types
(artifacts from energo.artifacts, the one source of truth), and requests go straight to
the node. Transactions stay legacy (type 0) at Qtum's minimum gas price, with the same
estimate-plus-margin rule and custom-error decoding as energo.tx.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from web3 import Web3

from energo import artifacts
from energo.constants import QTUM_MIN_GAS_PRICE_WEI
from energo.tx import TxFailed, decode_revert

GAS_MARGIN = 1.2
GAS_EXTRA = 10_000


class RpcError(RuntimeError):
    def __init__(self, method: str, error: dict):
        super().__init__(f"{method}: {error.get('message')} ({error.get('code')})")
        self.error = error


def _type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return f"({','.join(_type(c) for c in param['components'])}){param['type'][5:]}"
    return param["type"]


def _normalise(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.endswith("[]"):
        return [_normalise(abi_type[:-2], v) for v in value]
    if abi_type.startswith("("):
        inner = _split(abi_type[1:-1])
        return tuple(_normalise(t, v) for t, v in zip(inner, value, strict=True))
    return value


def _split(types: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in types:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    return parts + [current] if current else parts


@dataclass(frozen=True)
class Function:
    selector: bytes
    inputs: list[str]
    outputs: list[str]

    def data(self, *args: Any) -> str:
        return "0x" + (self.selector + encode(self.inputs, list(args))).hex()

    def result(self, raw: str) -> Any:
        values = tuple(_normalise(t, v) for t, v in zip(self.outputs, decode(self.outputs, bytes.fromhex(raw[2:])),
                                                         strict=True))
        return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class EventCodec:
    name: str
    topic: bytes
    indexed: list[tuple[str, str]]
    data: list[tuple[str, str]]

    def decode(self, topics: list[bytes], data: bytes) -> dict[str, Any]:
        args = {}
        for (name, abi_type), topic in zip(self.indexed, topics[1:], strict=True):
            args[name] = _normalise(abi_type, decode([abi_type], topic)[0])
        values = decode([t for _, t in self.data], data)
        for (name, abi_type), value in zip(self.data, values, strict=True):
            args[name] = _normalise(abi_type, value)
        return args


class Codec:
    """One contract's functions (by name) and events (by topic), from its artifact."""

    def __init__(self, artifact: str, address: str):
        self.address = to_checksum_address(address)
        self.functions: dict[str, Function] = {}
        self.events: dict[bytes, EventCodec] = {}
        for item in artifacts.abi(artifact):
            inputs = [_type(i) for i in item.get("inputs", [])]
            if item["type"] == "function":
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(inputs)})")
                self.functions[item["name"]] = Function(selector, inputs, [_type(o) for o in item["outputs"]])
            elif item["type"] == "event" and not item.get("anonymous"):
                topic = keccak(text=f"{item['name']}({','.join(inputs)})")
                indexed = [(i["name"], _type(i)) for i in item["inputs"] if i["indexed"]]
                data = [(i["name"], _type(i)) for i in item["inputs"] if not i["indexed"]]
                self.events[topic] = EventCodec(item["name"], topic, indexed, data)


class Rpc:
    """JSON-RPC straight to the node (anvil's dev accounts sign with eth_sendTransaction)."""

    def __init__(self, w3: Web3, gas_price: int = QTUM_MIN_GAS_PRICE_WEI):
        self.provider = w3.provider
        self.gas_price = gas_price
        self._ids = itertools.count(1)

    def request(self, method: str, params: list) -> Any:
        response = self.provider.make_request(method, params)
        if "error" in response:
            raise RpcError(method, response["error"])
        return response["result"]

    def batch(self, requests: list[tuple[str, list]]) -> list[Any]:
        results = []
        for start in range(0, len(requests), 200):
            responses = self.provider.make_batch_request(requests[start:start + 200])
            if isinstance(responses, dict):
                raise RpcError("batch", responses.get("error", {}))
            for (method, _params), response in zip(requests[start:start + 200], responses, strict=True):
                if "error" in response:
                    raise RpcError(method, response["error"])
                results.append(response["result"])
        return results

    # ------------------------------------------------------------ contracts

    @staticmethod
    def _call_request(contract: Codec, fn: str, args: tuple) -> tuple[str, list]:
        return ("eth_call", [{"to": contract.address, "data": contract.functions[fn].data(*args)}, "latest"])

    def call(self, contract: Codec, fn: str, *args: Any) -> Any:
        return contract.functions[fn].result(self.request(*self._call_request(contract, fn, args)))

    def calls(self, calls: list[tuple[Codec, str, tuple]]) -> list[Any]:
        """Many views in batched requests, results in order."""
        raws = self.batch([self._call_request(c, fn, args) for c, fn, args in calls])
        return [c.functions[fn].result(raw) for (c, fn, _args), raw in zip(calls, raws, strict=True)]

    def transact(self, sender: str, contract: Codec, fn: str, *args: Any) -> dict:
        """Sends a legacy transaction from an unlocked account; returns the receipt.
        Raises TxFailed with the decoded custom error if it would revert."""
        tx = {"from": sender, "to": contract.address, "data": contract.functions[fn].data(*args),
              "gasPrice": hex(self.gas_price), "type": "0x0"}
        try:
            estimate = int(self.request("eth_estimateGas", [tx]), 16)
        except RpcError as exc:
            raise decode_revert(exc.error.get("data")) from None
        tx["gas"] = hex(int(estimate * GAS_MARGIN) + GAS_EXTRA)
        tx_hash = self.request("eth_sendTransaction", [tx])
        deadline = time.monotonic() + 60
        while (receipt := self.request("eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise TxFailed("NotMined", (), f"tx {tx_hash} not mined within 60 s")
            time.sleep(0.005)
        if int(receipt["status"], 16) != 1:
            raise TxFailed("Reverted", (), f"tx {tx_hash} (gas {int(receipt['gasUsed'], 16)})")
        return receipt

    def events(self, receipt: dict, contract: Codec, name: str) -> list[dict]:
        found = []
        for log in receipt["logs"]:
            if to_checksum_address(log["address"]) != contract.address or not log["topics"]:
                continue
            codec = contract.events.get(bytes.fromhex(log["topics"][0][2:]))
            if codec is not None and codec.name == name:
                found.append(codec.decode([bytes.fromhex(t[2:]) for t in log["topics"]],
                                          bytes.fromhex(log["data"][2:])))
        return found

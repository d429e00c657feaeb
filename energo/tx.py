"""Sending legacy (type 0) transactions, as Qtum needs, and decoding custom errors.

``Sender`` works with an unlocked node account (the local chain's dev accounts) or a
local eth-account key (signed here, sent raw).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxParams, TxReceipt, Wei

from energo import artifacts
from energo.constants import QTUM_MIN_GAS_PRICE_WEI
from energo.errors import EnergoError


class TxFailed(EnergoError, RuntimeError):
    """A transaction reverted; ``error`` is the custom error's name and ``args`` its values."""

    def __init__(self, error: str, args: tuple = (), detail: str = ""):
        self.error = error
        self.args_ = args
        super().__init__(f"{error}{args if args else ''} {detail}".strip())


@cache
def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    """Selector -> (name, input types) for every custom error in every artifact."""
    table = {}
    for path in artifacts.ARTIFACTS.glob("*.json"):
        for item in artifacts.load(path.stem)["abi"]:
            if item["type"] == "error":
                types = [_abi_type(i) for i in item["inputs"]]
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                table[selector] = (item["name"], types)
    return table


def _abi_type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


def decode_revert(data: str | bytes | None) -> TxFailed:
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x")) if data.startswith("0x") else data.encode()
    if not data or len(data) < 4:
        return TxFailed("Reverted", (), "without data")
    known = _error_table().get(bytes(data[:4]))
    if known is None:
        if data[:4] == bytes.fromhex("08c379a0"):
            (message,) = abi_decode(["string"], data[4:])
            return TxFailed("Error", (message,))
        return TxFailed("UnknownError", (), "0x" + bytes(data).hex())
    name, types = known
    values = abi_decode(types, data[4:])
    return TxFailed(name, tuple(Web3.to_checksum_address(v) if t == "address" else v
                                for v, t in zip(values, types, strict=True)))


def revert_in_output(data: bytes) -> TxFailed | None:
    """The revert hidden in a call's successful output, or None.

    Janus returns the bytes of a revert as the result of eth_call (only an empty output
    is an error: pkg/transformer/eth_call.go L85-98, v0.4.3). An ABI-encoded return value
    is a whole number of 32-byte words; revert data is a 4-byte selector and then words,
    and it names one of our custom errors, Error(string) or Panic(uint256)."""
    if len(data) < 4 or len(data) % 32 != 4:
        return None
    selector = bytes(data[:4])
    if selector not in _error_table() and selector not in (_ERROR_STRING, _PANIC):
        return None
    if selector == _PANIC:
        (code,) = abi_decode(["uint256"], data[4:])
        return TxFailed("Panic", (code,))
    try:
        return decode_revert(bytes(data))
    except Exception:  # noqa: BLE001 (bytes that only look like an error: not a revert)
        return None


_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


@dataclass
class Sender:
    """Sends legacy transactions from one account."""

    w3: Web3
    account: str | LocalAccount
    gas_price: int = QTUM_MIN_GAS_PRICE_WEI
    gas_margin: float = 1.2
    #: Added to every estimate: between estimation and inclusion the chain's clock moves,
    #: and an account whose prepaid TSL runs out then pays rent in kind, a longer path
    #: (another account's slot written, an event) than the one estimated.
    gas_headroom: int = 40_000

    @property
    def address(self) -> str:
        return self.account if isinstance(self.account, str) else self.account.address

    def _params(self, extra: dict | None = None) -> dict:
        params = {"from": self.address, "gasPrice": self.gas_price, "type": 0}
        params.update(extra or {})
        return params

    def transact(self, call: Any, gas: int | None = None) -> TxReceipt:
        """Sends a contract function call; raises TxFailed with the decoded custom error."""
        try:
            params = self._params({"gas": gas} if gas else None)
            if gas is None:
                params["gas"] = int(call.estimate_gas(self._params()) * self.gas_margin) + self.gas_headroom
            tx = call.build_transaction(params)
        except ContractCustomError as exc:
            # web3 raises this one with the hex revert data only; .data's type is its base class'.
            raise decode_revert(exc.data) from None  # type: ignore[arg-type]
        except ContractLogicError as exc:
            # Hex data or None from anvil and Janus. web3 also allows a dict, from nodes that wrap
            # the data in an object; decode_revert does not read one (as before).
            raise decode_revert(exc.data) from None  # type: ignore[arg-type]
        return self._send(tx)

    def deploy(self, name: str, *args: Any) -> Contract:
        art = artifacts.load(name)
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = self.transact(factory.constructor(*args))
        address = receipt["contractAddress"]
        assert address is not None  # a mined create names its contract
        return self.w3.eth.contract(address=address, abi=art["abi"])

    def _send(self, tx: TxParams) -> TxReceipt:
        tx.pop("maxFeePerGas", None)
        tx.pop("maxPriorityFeePerGas", None)
        tx["gasPrice"] = Wei(self.gas_price)
        tx["type"] = 0
        if isinstance(self.account, str):
            tx_hash = self.w3.eth.send_transaction(tx)
        else:
            tx.setdefault("nonce", self.w3.eth.get_transaction_count(self.account.address, "pending"))
            tx.setdefault("chainId", self.w3.eth.chain_id)
            tx.pop("from", None)
            # eth-account infers a legacy transaction from gasPrice and rejects an explicit
            # type 0; what it signs is still a type-0 (pre-EIP-2718) transaction.
            tx.pop("type", None)
            # eth-account types the dict it signs as dict[str, ...], web3 as its TxParams TypedDict.
            signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.05)
        if receipt["status"] != 1:
            raise TxFailed("Reverted", (), f"tx {tx_hash.hex()} (gas {receipt['gasUsed']})")
        return receipt


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifacts.abi(name))

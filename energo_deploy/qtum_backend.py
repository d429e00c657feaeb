"""The deployment engine's backend for Qtum with a local key: contracts are created
with OP_CREATE and called with OP_CALL in Qtum (UTXO) transactions that energo_qtum
builds and signs, sent through Janus. No qtumd wallet is needed.

On Qtum, msg.sender is the hash160 of the sender's public key (the hex inside its base58
address), not the keccak address of the same key; ``sender`` is that hash160, so roles
are granted to the address the contracts will actually see.
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from web3 import Web3

from energo import artifacts
from energo.tx import _abi_type
from energo_deploy import DeploymentError
from energo_qtum import JanusClient, QtumError, QtumSigner, QtumWallet


def _normalize(value: Any, param: dict) -> Any:
    """Addresses checksummed, as web3.py returns them, inside structs and arrays too."""
    kind = param["type"]
    if kind.endswith("]"):
        inner = dict(param, type=kind[: kind.rindex("[")])
        return [_normalize(v, inner) for v in value]
    if kind == "tuple":
        return tuple(_normalize(v, c) for v, c in zip(value, param["components"], strict=True))
    if kind == "address":
        return Web3.to_checksum_address(value)
    return value


class QtumBackend:
    def __init__(self, janus: JanusClient, signer: QtumSigner, confirmations: int = 1,
                 receipt_timeout: float = 600.0, wallet: QtumWallet | None = None):
        self.janus = janus
        self.wallet = wallet or QtumWallet(janus, signer)
        self.chain_id = janus.chain_id()
        self.sender = Web3.to_checksum_address("0x" + signer.hex_address)
        self.confirmations = confirmations
        self.receipt_timeout = receipt_timeout
        self._offline = Web3()

    def _contract(self, name: str, address: str | None = None):
        kwargs = {"abi": artifacts.abi(name)}
        if address:
            kwargs["address"] = Web3.to_checksum_address(address)
        return self._offline.eth.contract(**kwargs)

    def _wait(self, txid: str, what: str) -> dict:
        try:
            receipt = self.wallet.wait_receipt(txid, confirmations=self.confirmations, timeout=self.receipt_timeout)
        except QtumError as exc:
            raise DeploymentError(f"{what}: {exc.user_message}") from exc
        status = receipt.get("status")
        if status not in (1, "0x1"):
            raise DeploymentError(f"{what} failed on chain (tx {txid}, receipt status {status})")
        return receipt

    def deploy(self, name: str, args: list) -> str:
        art = artifacts.load(name)
        constructor = self._offline.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args)
        init_code = bytes.fromhex(constructor.data_in_transaction.removeprefix("0x"))
        try:
            txid, contract_hex = self.wallet.send_create(init_code)
        except QtumError as exc:
            raise DeploymentError(f"creating {name}: {exc.user_message}") from exc
        self._wait(txid, f"creating {name}")
        return Web3.to_checksum_address("0x" + contract_hex.removeprefix("0x"))

    def transact(self, name: str, address: str, fn: str, args: list) -> None:
        data = self._contract(name, address).encode_abi(fn, args=args)
        try:
            txid = self.wallet.send_call(address.removeprefix("0x").lower(), bytes.fromhex(data[2:]))
        except QtumError as exc:
            raise DeploymentError(f"{name}.{fn}: {exc.user_message}") from exc
        self._wait(txid, f"{name}.{fn}")

    def call(self, name: str, address: str, fn: str, args: list) -> Any:
        contract = self._contract(name, address)
        data = contract.encode_abi(fn, args=args)
        raw = self.janus.call({"to": Web3.to_checksum_address(address), "data": data, "from": self.sender})
        outputs = contract.get_function_by_name(fn).abi["outputs"]
        values = abi_decode([_abi_type(o) for o in outputs], bytes.fromhex(raw.removeprefix("0x")))
        values = tuple(_normalize(v, o) for v, o in zip(values, outputs, strict=True))
        return values[0] if len(values) == 1 else values

    def code_at(self, address: str) -> bytes:
        return bytes.fromhex(self.janus.get_code(Web3.to_checksum_address(address)).removeprefix("0x"))

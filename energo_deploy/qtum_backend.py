"""The deployment engine's backend for Qtum with a local key: contracts are created
with OP_CREATE and called with OP_CALL in Qtum (UTXO) transactions that energo_qtum
builds and signs, sent through Janus. No qtumd wallet is needed.

On Qtum, msg.sender is the hash160 of the sender's public key (the hex inside its base58
address), not the keccak address of the same key; ``sender`` is that hash160, so roles
are granted to the address the contracts will actually see.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from energo import artifacts
from energo.deployments import DeploymentError
from energo_qtum import JanusClient, QtumError, QtumSigner, QtumWallet


class QtumBackend:
    def __init__(self, janus: JanusClient, signer: QtumSigner, confirmations: int = 1,
                 receipt_timeout: float = 600.0, wallet: QtumWallet | None = None):
        self.janus = janus
        self.wallet = wallet or QtumWallet(janus, signer)
        self.chain_id = janus.chain_id()
        self.sender = Web3.to_checksum_address("0x" + signer.hex_address)
        self.confirmations = confirmations
        self.receipt_timeout = receipt_timeout

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
        constructor = Web3().eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args)
        init_code = bytes.fromhex(constructor.data_in_transaction.removeprefix("0x"))
        try:
            txid, contract_hex = self.wallet.send_create(init_code)
        except QtumError as exc:
            raise DeploymentError(f"creating {name}: {exc.user_message}") from exc
        self._wait(txid, f"creating {name}")
        return Web3.to_checksum_address("0x" + contract_hex.removeprefix("0x"))

    def transact(self, name: str, address: str, fn: str, args: list) -> None:
        data = artifacts.calldata(name, fn, *args)
        try:
            txid = self.wallet.send_call(address.removeprefix("0x").lower(), data)
        except QtumError as exc:
            raise DeploymentError(f"{name}.{fn}: {exc.user_message}") from exc
        self._wait(txid, f"{name}.{fn}")

    def call(self, name: str, address: str, fn: str, args: list) -> Any:
        data = "0x" + artifacts.calldata(name, fn, *args).hex()
        raw = self.janus.call({"to": Web3.to_checksum_address(address), "data": data, "from": self.sender})
        return artifacts.decode_result(name, fn, bytes.fromhex(raw.removeprefix("0x")))

    def code_at(self, address: str) -> bytes:
        return bytes.fromhex(self.janus.get_code(Web3.to_checksum_address(address)).removeprefix("0x"))

"""EVM JSON-RPC transport: legacy (type 0) transactions signed here, sent raw.

Qtum has no EIP-1559, so every transaction carries a gasPrice. Nonces: the next nonce is
the larger of the node's pending count and our own counter, so transactions we signed
but the node has not seen yet (after a restart, ``restore``) keep their nonces.
web3.py's own retries are off: the daemon's backoff decides when to try again.
"""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address
from web3 import HTTPProvider

from oracle.transport.base import (
    Broadcast,
    CallReverted,
    GasCapExceeded,
    Log,
    PreparedTx,
    Transport,
    TransportUnavailable,
    TxOutcome,
)

_KNOWN = ("already known", "already imported", "known transaction", "already exists", "already in mempool")
_NONCE_TOO_LOW = ("nonce too low", "nonce is too low", "oldnonce", "invalid nonce")
_NONCE_TAKEN = ("replacement transaction underpriced", "replacement underpriced", "could not replace")
# The smallest gas limit a batch is given, whatever the estimate says (Qtum's mempool
# needs 22,000; a batch of one reading costs well above that anyway).
MIN_GAS = 60_000
MAX_GAS = 30_000_000


class _RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.data = code, message, data


def _hex_bytes(value: Any) -> bytes:
    if not value:
        return b""
    if isinstance(value, str):
        text = value.removeprefix("0x")
        try:
            return bytes.fromhex(text)
        except ValueError:
            return b""
    return bytes(value)


def parse_receipt(tx_id: str, receipt: dict | None) -> TxOutcome | None:
    """A JSON-RPC receipt (geth, anvil, Janus) as a TxOutcome; None while not in a block."""
    if not receipt or receipt.get("blockNumber") is None or receipt.get("blockHash") is None:
        return None
    try:
        logs = [
            Log(to_checksum_address(log["address"]), [_hex_bytes(t) for t in log["topics"]], _hex_bytes(log["data"]))
            for log in receipt.get("logs", [])
        ]
        return TxOutcome(
            tx_id=tx_id,
            block_number=int(receipt["blockNumber"], 16),
            block_hash=receipt["blockHash"],
            succeeded=int(receipt.get("status", "0x1"), 16) == 1,
            gas_used=int(receipt.get("gasUsed", "0x0"), 16),
            logs=logs,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TransportUnavailable(f"malformed receipt for {tx_id}: {exc}") from None


class EvmTransport(Transport):
    max_tx_gas = MAX_GAS
    def __init__(
        self,
        rpc_url: str,
        sender_key: bytes,
        *,
        chain_id: int,
        gas_price_wei: int,
        gas_margin: float = 1.25,
        timeout_s: float = 10.0,
    ):
        self._provider = HTTPProvider(
            rpc_url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
        )
        self._account = Account.from_key(sender_key)
        self.sender = self._account.address
        self.rpc_url = rpc_url
        self._chain_id = chain_id  # the configured one; signed into every transaction
        self.gas_price_wei = gas_price_wei
        self.gas_margin = gas_margin
        self._next_nonce: int | None = None
        self._request_id = 0

    # ---------------------------------------------------------------- JSON-RPC

    def _rpc(self, method: str, params: list) -> Any:
        try:
            response = self._provider.make_request(method, params)
        except Exception as exc:  # connection refused, timeout, garbage body: all transient
            raise TransportUnavailable(f"{method} to {self.rpc_url} failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(response, dict):
            raise TransportUnavailable(f"{method}: malformed response {str(response)[:120]!r}")
        error = response.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise TransportUnavailable(f"{method}: malformed error {str(error)[:120]!r}")
            raise _RpcError(int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
        if "result" not in response:
            raise TransportUnavailable(f"{method}: response without result")
        return response["result"]

    def _query(self, method: str, params: list) -> Any:
        try:
            return self._rpc(method, params)
        except _RpcError as exc:
            raise TransportUnavailable(f"{method} failed: {exc.message} (code {exc.code})") from None

    def _quantity(self, method: str, params: list) -> int:
        result = self._query(method, params)
        try:
            return int(result, 16)
        except (TypeError, ValueError):
            raise TransportUnavailable(f"{method}: not a quantity: {str(result)[:80]!r}") from None

    # ---------------------------------------------------------------- reads

    def chain_id(self) -> int:
        return self._quantity("eth_chainId", [])

    def head(self) -> int:
        return self._quantity("eth_blockNumber", [])

    def balance(self) -> int:
        """The sender's balance in wei (the gateway's balance metric and its "fund me" message)."""
        return self._quantity("eth_getBalance", [self.sender, "latest"])

    def head_timestamp(self) -> int:
        """The newest block's timestamp (the gateway checks its clock against it)."""
        return self.head_block()[1]

    def head_block(self) -> tuple[int, int]:
        """The newest block's number and timestamp, from one block."""
        block = self._query("eth_getBlockByNumber", ["latest", False])
        try:
            return int(block["number"], 16), int(block["timestamp"], 16)
        except (TypeError, KeyError, ValueError):
            raise TransportUnavailable(f"eth_getBlockByNumber: malformed block {str(block)[:80]!r}") from None

    def logs(self, address: str, topics: list, from_block: int, to_block: int) -> list[dict]:
        """eth_getLogs of one contract over a block range (each with transactionHash, blockNumber)."""
        result = self._query("eth_getLogs", [{"address": to_checksum_address(address), "topics": topics,
                                              "fromBlock": hex(from_block), "toBlock": hex(to_block)}])
        if not isinstance(result, list):
            raise TransportUnavailable(f"eth_getLogs: not a list: {str(result)[:80]!r}")
        return result

    def transaction_from(self, tx_hash: str) -> str | None:
        """Who sent a transaction (None if the node does not know it)."""
        tx = self._query("eth_getTransactionByHash", [tx_hash])
        return to_checksum_address(tx["from"]) if isinstance(tx, dict) and tx.get("from") else None

    def code(self, address: str) -> bytes:
        return _hex_bytes(self._query("eth_getCode", [to_checksum_address(address), "latest"]))

    def _reverted(self, exc: _RpcError) -> bool:
        message = exc.message.lower()
        return exc.code == 3 or "revert" in message or "out of gas" in message or "exceeds allowance" in message

    def call(self, to: str, data: bytes) -> bytes:
        try:
            result = self._rpc("eth_call", [{"to": to_checksum_address(to), "data": "0x" + data.hex()}, "latest"])
        except _RpcError as exc:
            if self._reverted(exc):
                raise CallReverted(f"call to {to} reverted: {exc.message}", _hex_bytes(exc.data)) from None
            raise TransportUnavailable(f"eth_call failed: {exc.message} (code {exc.code})") from None
        return _hex_bytes(result)

    # ---------------------------------------------------------------- sending

    def prepare(self, to: str, data: bytes) -> PreparedTx:
        to = to_checksum_address(to)
        request = {"from": self.sender, "to": to, "data": "0x" + data.hex(), "gasPrice": hex(self.gas_price_wei)}
        try:
            estimate = int(self._rpc("eth_estimateGas", [request]), 16)
        except _RpcError as exc:
            if self._reverted(exc):
                raise CallReverted(f"transaction to {to} would revert: {exc.message}", _hex_bytes(exc.data)) from None
            raise TransportUnavailable(f"eth_estimateGas failed: {exc.message} (code {exc.code})") from None
        except (TypeError, ValueError):
            raise TransportUnavailable("eth_estimateGas returned a malformed quantity") from None
        # The limit asked for, margin included, must fit the cap (as the Qtum transport checks):
        # a transaction whose limit is over it would be refused or could not be mined.
        gas = max(MIN_GAS, int(estimate * self.gas_margin))
        if gas > self.max_tx_gas:
            raise GasCapExceeded(f"the transaction needs {gas} gas (estimate {estimate} with the margin), over the "
                                 f"cap of {self.max_tx_gas}", gas, self.max_tx_gas)
        pending = self._quantity("eth_getTransactionCount", [self.sender, "pending"])
        nonce = max(pending, self._next_nonce or 0)
        signed = self._account.sign_transaction({
            "to": to,
            "data": data,
            "value": 0,
            "gas": gas,
            "gasPrice": self.gas_price_wei,
            "nonce": nonce,
            "chainId": self._chain_id,
        })
        self._next_nonce = nonce + 1
        tx_id = "0x" + bytes(signed.hash).hex()
        envelope = {"raw": "0x" + bytes(signed.raw_transaction).hex(), "nonce": nonce, "gas": gas,
                    "gasPrice": self.gas_price_wei, "txHash": tx_id}
        return PreparedTx(tx_id, json.dumps(envelope).encode(), {"nonce": nonce, "gas": gas, "gas_estimate": estimate})

    def broadcast(self, envelope: bytes) -> Broadcast:
        fields = json.loads(envelope)
        try:
            self._rpc("eth_sendRawTransaction", [fields["raw"]])
            return Broadcast.ACCEPTED
        except _RpcError as exc:
            message = exc.message.lower()
            if any(marker in message for marker in _KNOWN):
                return Broadcast.KNOWN
            if any(marker in message for marker in _NONCE_TOO_LOW):
                # Either this very transaction was mined, or another took its nonce.
                return Broadcast.KNOWN if self.outcome(fields["txHash"]) else Broadcast.STALE
            if any(marker in message for marker in _NONCE_TAKEN):
                return Broadcast.STALE
            raise TransportUnavailable(f"node refused transaction {fields['txHash']}: {exc.message}") from None

    # ---------------------------------------------------------------- nonces (oracle.nonces)

    def confirmed_nonce(self) -> int:
        """The sender's next nonce as mined: every lower one is in a block."""
        return self._quantity("eth_getTransactionCount", [self.sender, "latest"])

    def pending_nonce(self) -> int:
        """The sender's next nonce counting the node's executable pending transactions."""
        return self._quantity("eth_getTransactionCount", [self.sender, "pending"])

    def transaction_known(self, tx_id: str) -> bool:
        """Whether the node has this transaction (in its mempool or in a block)."""
        return self._query("eth_getTransactionByHash", [tx_id]) is not None

    @staticmethod
    def envelope_nonce(envelope: bytes) -> int:
        return int(json.loads(envelope)["nonce"])

    def fill_nonce(self, nonce: int) -> str:
        """Fills a nonce gap that no recorded transaction can fill: a zero-value transfer
        to the sender itself at `nonce`, so the transactions behind it can be mined."""
        signed = self._account.sign_transaction({
            "to": self.sender, "value": 0, "data": b"", "gas": 21_000, "gasPrice": self.gas_price_wei,
            "nonce": nonce, "chainId": self._chain_id,
        })
        tx_id = "0x" + bytes(signed.hash).hex()
        try:
            self._rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
        except _RpcError as exc:
            message = exc.message.lower()
            if not any(marker in message for marker in _KNOWN + _NONCE_TOO_LOW):
                raise TransportUnavailable(f"node refused the filler at nonce {nonce}: {exc.message}") from None
        return tx_id

    def outcome(self, tx_id: str) -> TxOutcome | None:
        return parse_receipt(tx_id, self._query("eth_getTransactionReceipt", [tx_id]))

    def restore(self, envelopes: list[bytes]) -> None:
        nonces = [json.loads(envelope)["nonce"] for envelope in envelopes]
        if nonces:
            self._next_nonce = max(self._next_nonce or 0, max(nonces) + 1)

    def release(self, envelope: bytes) -> None:
        nonce = json.loads(envelope)["nonce"]
        # Giving back the newest nonce leaves no gap; anything else: ask the node again.
        self._next_nonce = nonce if self._next_nonce == nonce + 1 else None

    def close(self) -> None:
        # HTTPProvider pools its sessions internally; nothing of ours to release.
        return None

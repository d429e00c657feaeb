"""Qtum transport: batches as Qtum (UTXO) transactions whose output runs OP_CALL on the ledger.

Janus relays only Qtum-format raw transactions, so they are built and signed here with
energo_qtum. What a nonce is to the EVM transport, the coins a transaction spends are
here: ``prepare`` reserves them (so the next transaction never double-spends them),
``restore`` reserves again those of transactions recorded before a restart, and
``release`` frees those of a transaction that will never be mined. The envelope holds
the raw transaction and its inputs. A broadcast refused because the inputs are gone,
with no receipt for our txid, means another transaction spent them: STALE. Janus
passes that refusal on as the bare "verify error" (qtumd's code -25), so it is
confirmed against ``qtum_getUTXOs`` before the batch is given up.

Reads (chain id, head, code, eth_call, receipts) go through Janus' Ethereum JSON-RPC.
Janus returns the bytes of a reverted call as a successful result (only an empty
output is an error), so ``call`` recognises revert data in a result and raises
CallReverted with it. One transaction may carry at most 20,000,000 gas: qtumd's
mempool refuses more (src/script/solver.cpp), so ``max_tx_gas`` is that.
"""

from __future__ import annotations

import json

from energo.tx import revert_in_output
from energo_qtum import JanusClient, QtumSigner, QtumWallet
from energo_qtum.builder import SignedTransaction, Utxo
from energo_qtum.checks import MAX_GAS_LIMIT
from energo_qtum.errors import JanusRpcError, QtumError
from energo_qtum.janus import inputs_gone
from energo_qtum.tx import parse_transaction
from oracle.transport.base import (
    Broadcast,
    CallReverted,
    GasCapExceeded,
    PreparedTx,
    Transport,
    TransportUnavailable,
    TxOutcome,
)
from oracle.transport.evm import parse_receipt

_KNOWN = ("already in", "txn-already-known", "already known", "txn-already-in-mempool")


def _unavailable(exc: QtumError) -> TransportUnavailable:
    return TransportUnavailable(f"Janus: {exc.user_message}")


class QtumTransport(Transport):
    #: qtumd's mempool refuses a contract output above half the block gas limit.
    max_tx_gas = MAX_GAS_LIMIT

    def __init__(self, janus_url: str, sender_key: bytes, *, network: str = "regtest", gas_price_sat: int = 40,
                 gas_margin: float = 0.10, timeout_s: float = 10.0):
        self.janus = JanusClient(janus_url, timeout=timeout_s)
        self.signer = QtumSigner(sender_key.hex(), network)
        self.wallet = QtumWallet(self.janus, self.signer, gas_price=gas_price_sat, gas_margin=gas_margin)
        # msg.sender of our calls: the hash160 of the sender's public key.
        self.sender = "0x" + self.signer.hex_address

    # ---------------------------------------------------------------- reads

    def chain_id(self) -> int:
        try:
            return self.janus.chain_id()
        except QtumError as exc:
            raise _unavailable(exc) from None

    def head(self) -> int:
        try:
            return self.janus.block_number()
        except QtumError as exc:
            raise _unavailable(exc) from None

    def code(self, address: str) -> bytes:
        try:
            return bytes.fromhex((self.janus.get_code(address.removeprefix("0x")) or "0x").removeprefix("0x"))
        except QtumError as exc:
            raise _unavailable(exc) from None

    def call(self, to: str, data: bytes) -> bytes:
        try:
            result = self.janus.call({"from": self.sender, "to": to, "data": "0x" + data.hex()})
        except JanusRpcError as exc:
            if "revert" in exc.user_message.lower():
                raise CallReverted(f"call to {to} reverted: {exc.user_message}") from None
            raise _unavailable(exc) from None
        output = bytes.fromhex((result or "0x").removeprefix("0x"))
        revert = revert_in_output(output)
        if revert is not None:  # Janus answers a revert with its bytes as the result
            raise CallReverted(f"call to {to} reverted: {revert}", output)
        return output

    def outcome(self, tx_id: str) -> TxOutcome | None:
        try:
            receipt = self.janus.get_transaction_receipt(tx_id)
        except QtumError as exc:
            raise _unavailable(exc) from None
        return parse_receipt(tx_id, receipt)

    # ---------------------------------------------------------------- sending

    def prepare(self, to: str, data: bytes) -> PreparedTx:
        contract = to.removeprefix("0x").lower()
        try:
            # the wallet estimates again for a few seconds if it reverts: the tip's time
            # may be ahead of qtumd's clock (QtumWallet.estimate_gas)
            gas = self.wallet.estimate_gas(data, contract)
        except JanusRpcError as exc:
            if "revert" in exc.user_message.lower():
                raise CallReverted(f"transaction to {to} would revert: {exc.user_message}") from None
            raise _unavailable(exc) from None
        if gas > self.max_tx_gas:
            raise GasCapExceeded(f"the transaction needs {gas} gas (with margins), over Qtum's cap of "
                                 f"{self.max_tx_gas} per transaction", gas, self.max_tx_gas)
        try:
            signed = self.wallet.sign_call(contract, data, gas)  # reserves its coins before anyone else picks them
        except QtumError as exc:  # no coins, Janus away: both fixable by waiting or funding
            raise _unavailable(exc) from None
        envelope = {
            "raw": signed.raw_hex,
            "txid": signed.txid,
            "spent": [[u.txid, u.vout, u.script_pubkey.hex(), u.value_sat] for u in signed.spent],
        }
        return PreparedTx("0x" + signed.txid, json.dumps(envelope).encode(),
                          {"gas": gas, "inputs": len(signed.spent), "fee_sat": signed.fee_sat})

    def broadcast(self, envelope: bytes) -> Broadcast:
        fields = json.loads(envelope)
        try:
            self.janus.send_raw_transaction(fields["raw"])
            return Broadcast.ACCEPTED
        except JanusRpcError as exc:
            message = exc.user_message.lower()
            if any(marker in message for marker in _KNOWN):
                return Broadcast.KNOWN
            if inputs_gone(exc):
                if self.outcome("0x" + fields["txid"]):
                    return Broadcast.KNOWN  # mined already, its outputs spent since
                try:
                    gone = self.wallet.confirm_inputs_gone(self._signed(envelope))
                except QtumError as check:
                    raise _unavailable(check) from None
                if gone:
                    return Broadcast.STALE
            raise _unavailable(exc) from None

    @staticmethod
    def _signed(envelope: bytes) -> SignedTransaction:
        fields = json.loads(envelope)
        spent = [Utxo(txid, vout, bytes.fromhex(script), value) for txid, vout, script, value in fields["spent"]]
        return SignedTransaction(parse_transaction(bytes.fromhex(fields["raw"])), spent)

    def restore(self, envelopes: list[bytes]) -> None:
        for envelope in envelopes:
            self.wallet.reserve(self._signed(envelope))

    def release(self, envelope: bytes) -> None:
        self.wallet.release(self._signed(envelope))

    def close(self) -> None:
        return None

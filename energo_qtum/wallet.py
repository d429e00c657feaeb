"""QtumWallet: fund, sign and broadcast contract calls and creates through Janus.

It remembers which outputs its own unconfirmed transactions spent, and the change
they pay back, so two sends in quick succession never pick the same coin: Janus
lists confirmed outputs only, so without that memory the second send would try to
double-spend the first one's inputs.

On regtest it does not trust Janus' ``safe`` flag: Janus v0.4.3 decides maturity from
``isStake`` only (pkg/transformer/qtum_getUTXOs.go L96-111), so every PoW coinbase
output and gas refund is listed as safe, and qtumd refuses to spend it for 2,000
blocks (src/consensus/tx_verify.cpp, bad-txns-premature-spend-of-coinbase). A young
coin is checked against the coinbase (first transaction) of its block and skipped.
Gas refunds pile up as small coins that largest-first selection never spends, so once
there are more than ``consolidate_above`` coins, each transaction also sweeps in the
smallest ``consolidate_inputs`` of them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from .builder import (
    DEFAULT_CALL_GAS_LIMIT,
    DEFAULT_CREATE_GAS_LIMIT,
    SignedTransaction,
    Utxo,
    build_call_tx,
    build_create_tx,
)
from .checks import MIN_GAS_LIMIT, MIN_GAS_PRICE
from .encoding import strip_0x
from .errors import JanusRpcError, ReceiptTimeoutError
from .fees import P2PKH_INPUT_SIZE, FeePolicy, size_fee
from .janus import JanusClient, inputs_gone
from .keys import QtumSigner
from .script import p2pk_script, p2pkh_script
from .tx import OutPoint

# Janus already adds its own buffer to eth_estimateGas; this margin covers state that
# changes between the estimate and the block (another trade landing first).
DEFAULT_GAS_MARGIN = 0.10
# qtumd v27.1 src/kernel/chainparams.cpp L652-654: regtest coinbase maturity 4 * 500.
REGTEST_COINBASE_MATURITY = 2000
DEFAULT_CONSOLIDATE_ABOVE = 8
# qtumd estimates at its wall time (src/validation.cpp, CallContract) while the tip's
# block.timestamp, a multiple of 4 s, may be a few seconds ahead of it: meanwhile
# ``block.timestamp - <a time stored by that block>`` underflows and the estimate
# reverts. A reverting estimate is tried again for this long before it counts.
DEFAULT_ESTIMATE_RETRY_S = 5.0
DEFAULT_CONSOLIDATE_INPUTS = 5


class QtumWallet:
    def __init__(
        self,
        janus: JanusClient,
        signer: QtumSigner,
        *,
        gas_price: int = MIN_GAS_PRICE,
        gas_margin: float = DEFAULT_GAS_MARGIN,
        fee_policy: FeePolicy | None = None,
        vm_version_encoding: str = "push",
        coinbase_maturity: int | None = None,
        consolidate_above: int = DEFAULT_CONSOLIDATE_ABOVE,
        consolidate_inputs: int = DEFAULT_CONSOLIDATE_INPUTS,
        estimate_retry_s: float = DEFAULT_ESTIMATE_RETRY_S,
    ):
        """``coinbase_maturity``: check young coins against their block's coinbase (the
        default on regtest, where Janus lists immature coinbase outputs as safe)."""
        self.janus = janus
        self.signer = signer
        self.gas_price = gas_price
        self.gas_margin = gas_margin
        self.fee_policy = fee_policy or FeePolicy()
        self.vm_version_encoding = vm_version_encoding
        self._lock = threading.Lock()
        self._pending_spent: dict[OutPoint, str] = {}  # outpoint -> txid that spent it
        self._pending_change: dict[OutPoint, Utxo] = {}  # our unconfirmed outputs
        self._own_scripts = {p2pkh_script(signer.hash160), p2pk_script(signer.public_key)}
        if coinbase_maturity is None and signer.network.name == "regtest":
            coinbase_maturity = REGTEST_COINBASE_MATURITY
        self.coinbase_maturity = coinbase_maturity
        self.consolidate_above = consolidate_above
        self.consolidate_inputs = consolidate_inputs
        self.estimate_retry_s = estimate_retry_s
        self._coinbase_at: dict[int, str | None] = {}  # block height -> its coinbase txid

    @property
    def sender_hex(self) -> str:
        """msg.sender of this wallet's contract calls."""
        return self.signer.hex_address

    # ---- coins -------------------------------------------------------------

    def spendable_utxos(self) -> list[Utxo]:
        """Janus' mature coins, plus our unconfirmed change, minus what we already spent."""
        confirmed = self.janus.get_utxos(self.signer.hex_address)
        listed = {utxo.outpoint for utxo in confirmed}
        # A pending spend whose coin Janus no longer lists is confirmed: forget it.
        # Pending change that Janus now lists is confirmed too.
        for outpoint in [op for op in self._pending_spent if op not in listed and op not in self._pending_change]:
            del self._pending_spent[outpoint]
        for outpoint in [op for op in self._pending_change if op in listed]:
            del self._pending_change[outpoint]
        candidates = [u for u in confirmed if not self._immature_coinbase(u)] + list(self._pending_change.values())
        return [utxo for utxo in candidates if utxo.outpoint not in self._pending_spent]

    def _immature_coinbase(self, utxo: Utxo) -> bool:
        """A coinbase output (a block reward or a gas refund) qtumd would not spend yet:
        nSpendHeight - height < maturity, nSpendHeight being the next block's height."""
        if self.coinbase_maturity is None or utxo.height is None or utxo.confirmations is None:
            return False
        tip = utxo.height + utxo.confirmations  # Janus: confirmations = block count - height
        if tip + 1 - utxo.height >= self.coinbase_maturity:
            return False
        if utxo.height not in self._coinbase_at:
            self._coinbase_at[utxo.height] = self.janus.coinbase_txid(utxo.height)
        return self._coinbase_at[utxo.height] == utxo.txid.lower()

    def _sweep(self, coins: list[Utxo]) -> list[Utxo]:
        """The small coins to consolidate into the next transaction (none while there are
        few coins, or when a coin would not pay for its own input)."""
        if len(coins) <= self.consolidate_above:
            return []
        input_fee = size_fee(P2PKH_INPUT_SIZE, self.fee_policy.rate_sat_per_kb)
        worth = [u for u in coins if u.value_sat and u.value_sat > 2 * input_fee]
        worth.sort(key=lambda u: (u.value_sat or 0, u.txid, u.vout))
        return worth[: min(self.consolidate_inputs, len(worth) - 1)] if len(worth) > 1 else []

    def confirm_inputs_gone(self, signed: SignedTransaction) -> bool:
        """After a refusal such as Janus' "verify error": True if some coin ``signed``
        spends is no longer in Janus' list (mature or not) and is not our own unconfirmed
        change, i.e. another transaction spent it."""
        listed = {u.outpoint for u in self.janus.get_utxos(self.signer.hex_address, mature_only=False)}
        return any(u.outpoint not in listed and u.outpoint not in self._pending_change for u in signed.spent)

    def forget_pending(self) -> None:
        """Drop the memory of unconfirmed spends (e.g. after they left the mempool)."""
        with self._lock:
            self._pending_spent.clear()
            self._pending_change.clear()

    def reserve(self, signed: SignedTransaction) -> None:
        """Remember ``signed`` as ours and unconfirmed, without broadcasting it.

        Its inputs are no longer offered by ``spendable_utxos`` and the change it pays
        back to us is, so the next transaction spends neither twice. For transactions
        broadcast by someone else, e.g. ones recorded before a restart.
        """
        with self._lock:
            self._reserve_locked(signed)

    def release(self, signed: SignedTransaction) -> None:
        """Forget ``signed``, a transaction of ours that will never be mined.

        Its inputs become spendable again (those still reserved by it, not by a later
        transaction) and the change it would have paid back is no longer offered.
        """
        with self._lock:
            for utxo in signed.spent:
                if self._pending_spent.get(utxo.outpoint) == signed.txid:
                    del self._pending_spent[utxo.outpoint]
            for vout in range(len(signed.tx.outputs)):
                self._pending_change.pop(OutPoint(signed.txid, vout), None)

    def _reserve_locked(self, signed: SignedTransaction) -> None:
        """``reserve`` for callers that already hold ``self._lock``."""
        for utxo in signed.spent:
            self._pending_spent[utxo.outpoint] = signed.txid
        for vout, txout in enumerate(signed.tx.outputs):
            if txout.script_pubkey in self._own_scripts:
                self._pending_change[OutPoint(signed.txid, vout)] = Utxo(
                    signed.txid, vout, txout.script_pubkey, txout.value, confirmations=0
                )

    # ---- gas ---------------------------------------------------------------

    def estimate_gas(self, data: bytes | str, contract_hex: str | None = None, value_sat: int = 0) -> int:
        data_hex = data.hex() if isinstance(data, (bytes, bytearray)) else strip_0x(data)
        request: dict[str, Any] = {"from": "0x" + self.sender_hex, "data": "0x" + data_hex}
        if contract_hex is not None:
            request["to"] = "0x" + strip_0x(contract_hex)
        if value_sat:
            request["value"] = hex(value_sat * 10**10)
        deadline = time.monotonic() + self.estimate_retry_s
        while True:
            try:
                estimate = self.janus.estimate_gas(request)
                break
            except JanusRpcError as error:
                if "revert" not in error.user_message.lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)  # the node's clock catching up with the tip's time
        return max(MIN_GAS_LIMIT, math.ceil(estimate * (1 + self.gas_margin)))

    # ---- sending -----------------------------------------------------------

    def _broadcast_rebuilding(self, build: Callable[[], SignedTransaction]) -> SignedTransaction:
        """Broadcast; if refused because its coins were spent elsewhere (confirmed with
        qtum_getUTXOs), forget them and build once more from fresh coins."""
        signed = build()
        try:
            self._broadcast(signed)
        except JanusRpcError as error:
            if not (inputs_gone(error) and self.confirm_inputs_gone(signed)):
                raise
            for utxo in signed.spent:
                self._pending_spent.pop(utxo.outpoint, None)
                self._pending_change.pop(utxo.outpoint, None)
            signed = build()
            self._broadcast(signed)
        return signed

    def _broadcast(self, signed: SignedTransaction) -> str:
        txid = self.janus.send_raw_transaction(signed.raw_hex)
        if txid.lower() != signed.txid:
            raise JanusRpcError(f"Janus returned txid {txid}, expected {signed.txid}")
        self._reserve_locked(signed)
        return signed.txid

    def sign_call(self, contract_hex: str, data: bytes | str, gas_limit: int) -> SignedTransaction:
        """Fund and sign a call without broadcasting it; returns the signed transaction.

        Its coins are reserved (as by ``reserve``) in the same step as they are chosen,
        so no other send picks them. The caller broadcasts ``raw_hex`` itself, and calls
        ``release`` if the transaction will never be mined.
        """
        with self._lock:
            coins = self.spendable_utxos()
            signed = build_call_tx(
                self.signer,
                coins,
                contract_hex,
                data,
                gas_limit=gas_limit,
                gas_price=self.gas_price,
                fee_policy=self.fee_policy,
                vm_version_encoding=self.vm_version_encoding,
                sweep=self._sweep(coins),
            )
            self._reserve_locked(signed)
            return signed

    def send_call(
        self,
        contract_hex: str,
        data: bytes | str,
        gas_limit: int | None = None,
        value_sat: int = 0,
    ) -> str:
        """Call a contract; returns the txid. Without gas_limit, estimate it."""
        if gas_limit is None:
            gas_limit = self.estimate_gas(data, contract_hex, value_sat)
        limit = gas_limit

        def build() -> SignedTransaction:
            coins = self.spendable_utxos()
            return build_call_tx(
                self.signer,
                coins,
                contract_hex,
                data,
                gas_limit=limit,
                gas_price=self.gas_price,
                value_sat=value_sat,
                fee_policy=self.fee_policy,
                vm_version_encoding=self.vm_version_encoding,
                sweep=self._sweep(coins),
            )

        with self._lock:
            return self._broadcast_rebuilding(build).txid

    def send_create(self, bytecode: bytes | str, gas_limit: int | None = None) -> tuple[str, str]:
        """Deploy a contract; returns (txid, contract address hex)."""
        if gas_limit is None:
            gas_limit = self.estimate_gas(bytecode)
        limit = gas_limit

        def build() -> SignedTransaction:
            coins = self.spendable_utxos()
            return build_create_tx(
                self.signer,
                coins,
                bytecode,
                gas_limit=limit,
                gas_price=self.gas_price,
                fee_policy=self.fee_policy,
                vm_version_encoding=self.vm_version_encoding,
                sweep=self._sweep(coins),
            )

        with self._lock:
            signed = self._broadcast_rebuilding(build)
            address = signed.contract_address
            assert address is not None  # build_create_tx always writes an OP_CREATE output
            return signed.txid, address

    def wait_receipt(
        self,
        txid: str,
        confirmations: int = 1,
        timeout: float = 120.0,
        poll_interval: float = 1.0,
    ) -> dict[str, Any]:
        """Poll until the transaction has ``confirmations`` blocks (its own included)."""
        deadline = time.monotonic() + timeout
        txid = strip_0x(txid).lower()
        while True:
            receipt = self.janus.get_transaction_receipt(txid)
            if receipt and receipt.get("blockNumber"):
                depth = self.janus.block_number() - int(receipt["blockNumber"], 16) + 1
                if depth >= confirmations:
                    return receipt
            if time.monotonic() >= deadline:
                state = "not mined" if not receipt else "not deep enough"
                raise ReceiptTimeoutError(
                    f"transaction {txid} {state} after {timeout:g}s (wanted {confirmations} confirmations)"
                )
            time.sleep(poll_interval)


__all__ = ["QtumWallet", "DEFAULT_CALL_GAS_LIMIT", "DEFAULT_CREATE_GAS_LIMIT", "DEFAULT_GAS_MARGIN"]

"""The acceptance rules of the Janus test double: what qtumd checks before it takes a
raw transaction into its mempool, for the transaction forms this project sends.

Reject reasons and RPC codes are qtumd's (validation.cpp in Qtum Core v27.1), so a
test that expects a refusal reads like the real node's answer. One rule is stricter
than qtumd on purpose: the fee must cover the gas stipend AND the size fee together
(qtumd checks each against the whole fee), which is what a correct wallet pays.
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve

from energo_qtum.encoding import hash160
from energo_qtum.errors import TransactionFormatError
from energo_qtum.fees import size_fee
from energo_qtum.script import (
    EVM_VM_VERSION,
    ContractOutput,
    ScriptType,
    classify_script,
    iter_script_ops,
    parse_contract_script,
)
from energo_qtum.tx import SIGHASH_ALL, OutPoint, Transaction, legacy_sighash

RPC_VERIFY_ERROR = -25  # inputs missing or already spent
RPC_VERIFY_REJECTED = -26  # policy or consensus rejection
RPC_DESERIALIZATION_ERROR = -22

QTUM_MIN_GAS_PRICE = 40
QTUM_MEMPOOL_MIN_GAS_LIMIT = 22_000
QTUM_BLOCK_GAS_LIMIT = 40_000_000
# Qtum Core v27.1 src/script/solver.cpp L268-276: outside consensus (the mempool's
# IsStandard), a gas limit above DEFAULT_BLOCK_GAS_LIMIT_DGP / 2 makes the output
# non-standard, and src/validation.cpp L758-762 refuses it with the reason
# "scriptpubkey" (src/policy/policy.cpp L135). Regtest requires standard transactions
# too (src/node/mempool_args.cpp L89, DEFAULT_ACCEPT_NON_STD_TXN false).
QTUM_MEMPOOL_MAX_GAS_LIMIT = QTUM_BLOCK_GAS_LIMIT // 2
# Qtum Core v27.1 src/kernel/chainparams.cpp L652-654 (regtest: nReduceBlocktimeHeight 0,
# so CoinbaseMaturity = nRBTCoinbaseMaturity = 4 * 500); Janus v0.4.3
# pkg/qtum/qtum.go L154-161 (GetMatureBlockHeight) uses the same 2000.
QTUM_COINBASE_MATURITY = 2000


def is_mature(coin_height: int, coinbase: bool, tip_height: int) -> bool:
    """qtumd's rule (src/consensus/tx_verify.cpp L183-187): a coinbase or coinstake
    output is spendable once nSpendHeight - nHeight >= maturity, nSpendHeight being the
    height of the next block."""
    return not coinbase or (tip_height + 1) - coin_height >= QTUM_COINBASE_MATURITY


@dataclass(frozen=True)
class Coin:
    """An unspent output in the double's UTXO set."""

    value: int
    script_pubkey: bytes
    height: int  # -1 while the transaction that made it waits in the mempool
    coinbase: bool = False  # coinbase/coinstake outputs (gas refunds) must mature first
    stake: bool = False  # a coinstake output: the only kind Janus reports as immature


class RejectedTransaction(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class AcceptedTransaction:
    tx: Transaction
    spent: dict[OutPoint, Coin]
    contract: ContractOutput | None
    contract_vout: int | None
    sender_hash160: bytes
    fee: int


def _reject(reason: str, code: int = RPC_VERIFY_REJECTED) -> RejectedTransaction:
    return RejectedTransaction(code, reason)


def _sender_hash160(script_pubkey: bytes) -> bytes:
    if classify_script(script_pubkey) is ScriptType.P2PKH:
        return script_pubkey[3:23]
    return hash160(script_pubkey[1:-1])  # P2PK: the pushed public key


def _check_contract_output(output: ContractOutput) -> None:
    if output.vm_version != EVM_VM_VERSION:
        raise _reject("bad-tx-version-rootvm, AcceptToMempool(): Contract execution uses unknown root VM")
    if output.gas_limit < QTUM_MEMPOOL_MIN_GAS_LIMIT:
        raise _reject(
            "bad-tx-too-little-mempool-gas, AcceptToMempool(): Contract execution has lower gas "
            "limit than allowed to accept into mempool"
        )
    if output.gas_limit > QTUM_MEMPOOL_MAX_GAS_LIMIT:
        raise _reject("scriptpubkey")  # non-standard output, see QTUM_MEMPOOL_MAX_GAS_LIMIT
    if output.gas_limit > QTUM_BLOCK_GAS_LIMIT:
        raise _reject("bad-txns-gas-exceeds-blockgaslimit")
    if output.gas_price < QTUM_MIN_GAS_PRICE:
        raise _reject("bad-tx-low-gas-price, AcceptToMempool(): Contract execution has lower gas price than allowed")


def _verify_input_script(tx: Transaction, index: int, coin: Coin) -> None:
    """P2PKH and P2PK spends with a SIGHASH_ALL signature, as Script would evaluate them."""
    kind = classify_script(coin.script_pubkey)
    if kind not in (ScriptType.P2PKH, ScriptType.P2PK):
        raise _reject(f"janus test double: spending a {kind.value} output is not emulated")
    try:
        pushes = iter_script_ops(tx.inputs[index].script_sig)
    except TransactionFormatError:
        raise _reject("mandatory-script-verify-flag-failed (Opcode missing or not understood)") from None
    if any(op.data is None for op in pushes):
        raise _reject("mandatory-script-verify-flag-failed (Only push operators allowed in signatures)")
    items = [op.data for op in pushes]
    if kind is ScriptType.P2PKH:
        if len(items) != 2:
            raise _reject("mandatory-script-verify-flag-failed (Operation not valid with the current stack size)")
        signature, public_key = items
        if hash160(public_key) != coin.script_pubkey[3:23]:
            raise _reject("mandatory-script-verify-flag-failed (Script failed an OP_EQUALVERIFY operation)")
    else:
        if len(items) != 1:
            raise _reject("mandatory-script-verify-flag-failed (Stack size must be exactly one after execution)")
        signature, public_key = items[0], coin.script_pubkey[1:-1]
    if not signature or signature[-1] != SIGHASH_ALL:
        raise _reject("janus test double: only SIGHASH_ALL signatures are emulated")
    digest = legacy_sighash(tx, index, coin.script_pubkey)
    try:
        # libsecp256k1 also refuses high-S signatures, which Qtum's policy refuses too.
        valid = coincurve.PublicKey(public_key).verify(signature[:-1], digest, hasher=None)
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise _reject(
            "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)"
        )


def validate_transaction(
    tx: Transaction,
    utxos: dict[OutPoint, Coin],
    tip_height: int,
    fee_rate_sat_per_kb: int,
) -> AcceptedTransaction:
    """Check a parsed transaction against the UTXO set; raise RejectedTransaction."""
    if tx.has_witness:
        raise _reject("janus test double: segwit transactions are not emulated")
    if not tx.outputs:
        raise _reject("bad-txns-vout-empty")
    if any(not 0 <= out.value <= 21_000_000 * 10**8 * 5 for out in tx.outputs):
        raise _reject("bad-txns-vout-toolarge")
    outpoints = [txin.outpoint for txin in tx.inputs]
    if len(set(outpoints)) != len(outpoints):
        raise _reject("bad-txns-inputs-duplicate")
    spent: dict[OutPoint, Coin] = {}
    for outpoint in outpoints:
        coin = utxos.get(outpoint)
        if coin is None:
            raise _reject("bad-txns-inputs-missingorspent", RPC_VERIFY_ERROR)
        if not is_mature(coin.height, coin.coinbase, tip_height):
            depth = tip_height + 1 - coin.height
            raise _reject(f"bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth {depth}")
        spent[outpoint] = coin

    contract_vouts = [
        index
        for index, out in enumerate(tx.outputs)
        if classify_script(out.script_pubkey) in (ScriptType.CALL, ScriptType.CREATE)
    ]
    first_script = spent[outpoints[0]].script_pubkey
    contract = None
    if contract_vouts:
        if classify_script(first_script) not in (ScriptType.P2PKH, ScriptType.P2PK):
            raise _reject("bad-txns-invalid-sender-script")
        if len(contract_vouts) > 1:
            raise _reject("janus test double: more than one contract output per transaction is not emulated")
        try:
            contract = parse_contract_script(tx.outputs[contract_vouts[0]].script_pubkey)
        except TransactionFormatError:
            raise _reject(
                "bad-tx-bad-contract-format, AcceptToMempool(): Contract transaction of the wrong format"
            ) from None

    value_in = sum(coin.value for coin in spent.values())
    value_out = sum(out.value for out in tx.outputs)
    if value_in < value_out:
        raise _reject(f"bad-txns-in-belowout, value in ({value_in}) < value out ({value_out})")
    fee = value_in - value_out
    if contract is not None:
        stipend = contract.gas_limit * contract.gas_price
        if stipend > fee:
            raise _reject("bad-txns-fee-notenough, AcceptToMempool(): Transaction fee does not cover the gas stipend")
        _check_contract_output(contract)
    else:
        stipend = 0
    required = stipend + size_fee(tx.size, fee_rate_sat_per_kb)
    if fee < required:
        raise _reject(f"min relay fee not met, {fee} < {required} (gas stipend {stipend} + size fee)")

    for index, outpoint in enumerate(outpoints):
        _verify_input_script(tx, index, spent[outpoint])

    return AcceptedTransaction(
        tx=tx,
        spent=spent,
        contract=contract,
        contract_vout=contract_vouts[0] if contract_vouts else None,
        sender_hash160=_sender_hash160(first_script)
        if classify_script(first_script) in (ScriptType.P2PKH, ScriptType.P2PK)
        else b"",
        fee=fee,
    )

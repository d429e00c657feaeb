"""Build and sign Qtum transactions: outputs, coin selection, change and signatures.

``sign_transaction`` signs given inputs and outputs as they are (it is what the test
vectors exercise). ``build_call_tx`` and ``build_create_tx`` also choose coins, pay
the fee and return change to the sender.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .checks import MIN_GAS_PRICE, check_funds, check_gas_limit, check_gas_price, check_sender_input
from .encoding import parse_hex
from .errors import InsufficientFundsError, InvalidSpecError
from .fees import FeePolicy, p2pkh_dust_limit
from .keys import QtumSigner
from .script import (
    ScriptType,
    call_script,
    classify_script,
    create_script,
    p2pk_script,
    p2pkh_script,
    push_data,
)
from .tx import SEQUENCE_FINAL, SIGHASH_ALL, OutPoint, Transaction, TxIn, TxOut, contract_address, legacy_sighash

DEFAULT_TX_VERSION = 2  # what qtumd writes
DEFAULT_CALL_GAS_LIMIT = 250_000  # qtumd's sendtocontract default
DEFAULT_CREATE_GAS_LIMIT = 2_500_000  # qtumd's createcontract default


@dataclass(frozen=True)
class Utxo:
    """A spendable output. ``value_sat`` may be None only where the amount is unknown
    (signing a given spec); coin selection needs it."""

    txid: str
    vout: int
    script_pubkey: bytes
    value_sat: int | None = None
    confirmations: int | None = None
    mature: bool = True
    height: int | None = None  # the block it was mined in, when Janus says

    @property
    def outpoint(self) -> OutPoint:
        return OutPoint(self.txid.lower(), self.vout)


@dataclass(frozen=True)
class CallOutput:
    contract: bytes  # the contract's 20-byte hash160
    data: bytes
    gas_limit: int
    gas_price: int = MIN_GAS_PRICE
    value_sat: int = 0
    vm_version_encoding: str = "push"

    @property
    def gas_stipend(self) -> int:
        return self.gas_limit * self.gas_price

    def to_txout(self) -> TxOut:
        script = call_script(self.contract, self.data, self.gas_limit, self.gas_price, self.vm_version_encoding)
        return TxOut(self.value_sat, script)


@dataclass(frozen=True)
class CreateOutput:
    bytecode: bytes
    gas_limit: int
    gas_price: int = MIN_GAS_PRICE
    value_sat: int = 0  # Qtum loses coins sent with a create; kept for completeness
    vm_version_encoding: str = "push"

    @property
    def gas_stipend(self) -> int:
        return self.gas_limit * self.gas_price

    def to_txout(self) -> TxOut:
        script = create_script(self.bytecode, self.gas_limit, self.gas_price, self.vm_version_encoding)
        return TxOut(self.value_sat, script)


@dataclass(frozen=True)
class PayOutput:
    pubkey_hash: bytes  # 20-byte hash160 of the recipient
    value_sat: int

    gas_stipend = 0

    def to_txout(self) -> TxOut:
        return TxOut(self.value_sat, p2pkh_script(self.pubkey_hash))


OutputSpec = CallOutput | CreateOutput | PayOutput


@dataclass
class SignedTransaction:
    tx: Transaction
    spent: list[Utxo] = field(default_factory=list)
    fee_sat: int | None = None  # None when input values were not known

    @property
    def raw_hex(self) -> str:
        return self.tx.hex()

    @property
    def txid(self) -> str:
        return self.tx.txid

    @property
    def create_vout(self) -> int | None:
        for index, txout in enumerate(self.tx.outputs):
            if classify_script(txout.script_pubkey) is ScriptType.CREATE:
                return index
        return None

    @property
    def contract_address(self) -> str | None:
        """Hex address the OP_CREATE output will deploy to, if there is one."""
        vout = self.create_vout
        return None if vout is None else contract_address(self.txid, vout)


def _check_outputs(outputs: Sequence[OutputSpec]) -> None:
    if not outputs:
        raise InvalidSpecError("a transaction needs at least one output")
    for output in outputs:
        if output.value_sat < 0:
            raise InvalidSpecError("output values cannot be negative")
        if isinstance(output, (CallOutput, CreateOutput)):
            check_gas_price(output.gas_price)
            check_gas_limit(output.gas_limit)


def _script_sig(signer: QtumSigner, script_pubkey: bytes, signature: bytes) -> bytes:
    kind = classify_script(script_pubkey)
    if kind is ScriptType.P2PKH:
        if script_pubkey[3:23] != signer.hash160:
            raise InvalidSpecError(f"an input pays to {script_pubkey[3:23].hex()}, not to this key")
        return push_data(signature) + push_data(signer.public_key)
    if kind is ScriptType.P2PK:
        if script_pubkey[1:-1] != signer.public_key:
            raise InvalidSpecError("a P2PK input pays to another public key")
        return push_data(signature)
    raise InvalidSpecError(f"cannot sign an input that spends a {kind.value} output")


def sign_transaction(
    signer: QtumSigner,
    inputs: Sequence[Utxo],
    outputs: Sequence[OutputSpec | TxOut],
    *,
    version: int = DEFAULT_TX_VERSION,
    locktime: int = 0,
    sequences: Sequence[int] | None = None,
    fee_policy: FeePolicy | None = None,
) -> SignedTransaction:
    """Check, then sign every input with legacy SIGHASH_ALL. Inputs and outputs are
    used in the order given. When every input's value is known, the fee must cover
    the gas stipend and the size fee of ``fee_policy`` (the relay minimum by default)."""
    if not inputs:
        raise InvalidSpecError("a transaction needs at least one input")
    specs = [output for output in outputs if not isinstance(output, TxOut)]
    if specs:
        _check_outputs(specs)
    check_sender_input(inputs[0].script_pubkey)
    sequences = list(sequences) if sequences is not None else [SEQUENCE_FINAL] * len(inputs)
    if len(sequences) != len(inputs):
        raise InvalidSpecError("give one sequence number per input")
    txouts = [output if isinstance(output, TxOut) else output.to_txout() for output in outputs]
    tx = Transaction(
        version=version,
        inputs=[TxIn(utxo.txid, utxo.vout, b"", seq) for utxo, seq in zip(inputs, sequences, strict=True)],
        outputs=txouts,
        locktime=locktime,
    )
    for index, utxo in enumerate(inputs):
        digest = legacy_sighash(tx, index, utxo.script_pubkey, SIGHASH_ALL)
        signature = signer.sign_digest(digest) + bytes([SIGHASH_ALL])
        tx.inputs[index].script_sig = _script_sig(signer, utxo.script_pubkey, signature)

    fee = None
    values = [utxo.value_sat for utxo in inputs if utxo.value_sat is not None]
    if len(values) == len(inputs):  # every input's value is known
        stipend = sum(output.gas_stipend for output in specs)
        needed = sum(txout.value for txout in txouts) + (fee_policy or FeePolicy()).required_fee(tx.size, stipend)
        check_funds(sum(values), needed)
        fee = sum(values) - sum(txout.value for txout in txouts)
    return SignedTransaction(tx, list(inputs), fee)


# An upper bound for a signature push: 72-byte DER + hash type, with its length byte.
_MAX_SIGNATURE_PUSH = 1 + 73


def _estimated_size(signer: QtumSigner, inputs: Sequence[Utxo], txouts: Sequence[TxOut], version: int) -> int:
    """Size of the signed transaction, never less than the real one."""
    placeholder_inputs = []
    for utxo in inputs:
        script_sig_size = _MAX_SIGNATURE_PUSH
        if classify_script(utxo.script_pubkey) is ScriptType.P2PKH:
            script_sig_size += 1 + len(signer.public_key)
        placeholder_inputs.append(TxIn(utxo.txid, utxo.vout, b"\0" * script_sig_size))
    return Transaction(version, placeholder_inputs, list(txouts), 0).size


def _amount(utxo: Utxo) -> int:
    """The value of a coin that coin selection picked: ``spendable_by`` keeps only those with one."""
    assert utxo.value_sat is not None
    return utxo.value_sat


def spendable_by(signer: QtumSigner, utxos: Iterable[Utxo]) -> list[Utxo]:
    """Mature P2PKH and P2PK coins of this key, largest first (fewest inputs, and the
    first input, which Qtum reads msg.sender from, is always the signer's)."""
    own_scripts = {p2pkh_script(signer.hash160), p2pk_script(signer.public_key)}
    own = [u for u in utxos if u.mature and u.value_sat and u.script_pubkey in own_scripts]
    return sorted(own, key=lambda u: (-_amount(u), u.txid, u.vout))


def build_funded_tx(
    signer: QtumSigner,
    utxos: Iterable[Utxo],
    outputs: Sequence[OutputSpec],
    *,
    fee_policy: FeePolicy | None = None,
    change_pubkey_hash: bytes | None = None,
    version: int = DEFAULT_TX_VERSION,
    sweep: Sequence[Utxo] = (),
) -> SignedTransaction:
    """Choose coins, add change back to the sender (unless it would be dust) and sign.

    ``sweep`` coins are spent too, after the first input (which stays the largest coin,
    the sender's), whether or not they are needed: consolidating small coins."""
    fee_policy = fee_policy or FeePolicy()
    _check_outputs(outputs)
    swept = {u.outpoint for u in sweep}
    candidates = [u for u in spendable_by(signer, utxos) if u.outpoint not in swept]
    extra = spendable_by(signer, sweep) if candidates else []
    txouts = [output.to_txout() for output in outputs]
    stipend = sum(output.gas_stipend for output in outputs)
    paid_out = sum(txout.value for txout in txouts)
    change_script = p2pkh_script(change_pubkey_hash or signer.hash160)
    dust_limit = p2pkh_dust_limit()

    picked: list[Utxo] = []
    for utxo in candidates:
        picked.append(utxo)
        chosen = [picked[0], *extra, *picked[1:]]
        total_in = sum(_amount(u) for u in chosen)
        with_change = txouts + [TxOut(0, change_script)]
        fee = fee_policy.required_fee(_estimated_size(signer, chosen, with_change, version), stipend)
        change = total_in - paid_out - fee
        if change >= dust_limit:
            return sign_transaction(
                signer, chosen, [*outputs, TxOut(change, change_script)], version=version, fee_policy=fee_policy
            )
        fee_without_change = fee_policy.required_fee(_estimated_size(signer, chosen, txouts, version), stipend)
        if total_in >= paid_out + fee_without_change:
            # Change below the dust limit would not relay: it goes to the fee instead.
            return sign_transaction(signer, chosen, list(outputs), version=version, fee_policy=fee_policy)
    available = sum(_amount(u) for u in candidates + extra)
    needed = paid_out + fee_policy.required_fee(
        _estimated_size(signer, (candidates + extra) or [], txouts, version), stipend)
    check_funds(available, needed)
    raise InsufficientFundsError("not enough funds")  # unreachable: check_funds raised


def build_call_tx(
    signer: QtumSigner,
    utxos: Iterable[Utxo],
    contract_hex: str,
    data: bytes | str,
    *,
    gas_limit: int = DEFAULT_CALL_GAS_LIMIT,
    gas_price: int = MIN_GAS_PRICE,
    value_sat: int = 0,
    fee_policy: FeePolicy | None = None,
    vm_version_encoding: str = "push",
    sweep: Sequence[Utxo] = (),
) -> SignedTransaction:
    call = CallOutput(
        contract=parse_hex(contract_hex, "contract address", 20),
        data=parse_hex(data, "call data") if isinstance(data, str) else bytes(data),
        gas_limit=gas_limit,
        gas_price=gas_price,
        value_sat=value_sat,
        vm_version_encoding=vm_version_encoding,
    )
    return build_funded_tx(signer, utxos, [call], fee_policy=fee_policy, sweep=sweep)


def build_create_tx(
    signer: QtumSigner,
    utxos: Iterable[Utxo],
    bytecode: bytes | str,
    *,
    gas_limit: int = DEFAULT_CREATE_GAS_LIMIT,
    gas_price: int = MIN_GAS_PRICE,
    fee_policy: FeePolicy | None = None,
    vm_version_encoding: str = "push",
    sweep: Sequence[Utxo] = (),
) -> SignedTransaction:
    create = CreateOutput(
        bytecode=parse_hex(bytecode, "bytecode") if isinstance(bytecode, str) else bytes(bytecode),
        gas_limit=gas_limit,
        gas_price=gas_price,
        vm_version_encoding=vm_version_encoding,
    )
    return build_funded_tx(signer, utxos, [create], fee_policy=fee_policy, sweep=sweep)

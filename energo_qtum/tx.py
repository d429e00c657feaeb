"""Legacy (pre-segwit) Qtum transactions: serialization, parsing, txid, the legacy
SIGHASH_ALL digest, and the address of a contract a transaction creates."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .encoding import ByteReader, encode_varint, hash160, sha256d, strip_0x
from .errors import InvalidSpecError, TransactionFormatError

SIGHASH_ALL = 0x01
SEQUENCE_FINAL = 0xFFFFFFFF


def txid_to_internal(txid: str) -> bytes:
    """Displayed txids are the hash bytes reversed; transactions store them in hash order."""
    try:
        raw = bytes.fromhex(strip_0x(txid))
    except ValueError:
        raise InvalidSpecError(f"txid {txid!r} is not hex") from None
    if len(raw) != 32:
        raise InvalidSpecError(f"txid must be 32 bytes, got {len(raw)}")
    return raw[::-1]


@dataclass(frozen=True)
class OutPoint:
    txid: str  # as displayed, lowercase hex, no 0x
    vout: int


@dataclass
class TxIn:
    prev_txid: str  # as displayed
    vout: int
    script_sig: bytes = b""
    sequence: int = SEQUENCE_FINAL

    @property
    def outpoint(self) -> OutPoint:
        return OutPoint(self.prev_txid.lower(), self.vout)

    def serialize(self) -> bytes:
        return (
            txid_to_internal(self.prev_txid)
            + self.vout.to_bytes(4, "little")
            + encode_varint(len(self.script_sig))
            + self.script_sig
            + self.sequence.to_bytes(4, "little")
        )


@dataclass
class TxOut:
    value: int  # satoshi
    script_pubkey: bytes

    def serialize(self) -> bytes:
        return self.value.to_bytes(8, "little") + encode_varint(len(self.script_pubkey)) + self.script_pubkey


@dataclass
class Transaction:
    version: int = 2
    inputs: list[TxIn] = field(default_factory=list)
    outputs: list[TxOut] = field(default_factory=list)
    locktime: int = 0
    has_witness: bool = False  # set only by parsing; this library never writes segwit

    def serialize(self) -> bytes:
        if self.has_witness:
            raise TransactionFormatError("serializing segwit transactions is not supported")
        return (
            self.version.to_bytes(4, "little")
            + encode_varint(len(self.inputs))
            + b"".join(txin.serialize() for txin in self.inputs)
            + encode_varint(len(self.outputs))
            + b"".join(txout.serialize() for txout in self.outputs)
            + self.locktime.to_bytes(4, "little")
        )

    def hex(self) -> str:
        return self.serialize().hex()

    @property
    def txid(self) -> str:
        return sha256d(self.serialize())[::-1].hex()

    @property
    def size(self) -> int:
        return len(self.serialize())


def parse_transaction(raw: bytes) -> Transaction:
    """Parse a serialized transaction; segwit ones parse but are flagged ``has_witness``."""
    reader = ByteReader(raw)
    version = reader.read_uint(4, "version")
    has_witness = False
    count = reader.read_varint("input count")
    if count == 0:  # BIP144 marker; then the flag byte must be 1
        if reader.read(1, "segwit flag") != b"\x01":
            raise TransactionFormatError("transaction has no inputs")
        has_witness = True
        count = reader.read_varint("input count")
    inputs = []
    for index in range(count):
        prev_hash = reader.read(32, f"input {index} txid")
        vout = reader.read_uint(4, f"input {index} vout")
        script_sig = reader.read(reader.read_varint("scriptSig length"), f"input {index} scriptSig")
        sequence = reader.read_uint(4, f"input {index} sequence")
        inputs.append(TxIn(prev_hash[::-1].hex(), vout, script_sig, sequence))
    outputs = []
    for index in range(reader.read_varint("output count")):
        value = reader.read_uint(8, f"output {index} value")
        script = reader.read(reader.read_varint("scriptPubKey length"), f"output {index} script")
        outputs.append(TxOut(value, script))
    if has_witness:
        for index in range(len(inputs)):
            for _ in range(reader.read_varint("witness item count")):
                reader.read(reader.read_varint("witness item length"), f"input {index} witness")
    locktime = reader.read_uint(4, "locktime")
    if not reader.at_end():
        raise TransactionFormatError("trailing bytes after the transaction")
    if not inputs:
        raise TransactionFormatError("transaction has no inputs")
    return Transaction(version, inputs, outputs, locktime, has_witness)


def legacy_sighash(tx: Transaction, input_index: int, script_code: bytes, hash_type: int = SIGHASH_ALL) -> bytes:
    """The pre-segwit signature digest: every scriptSig emptied except the signed
    input's, which holds the spent output's script, then the hash type appended."""
    if hash_type != SIGHASH_ALL:
        raise InvalidSpecError("only SIGHASH_ALL is supported")
    if not 0 <= input_index < len(tx.inputs):
        raise InvalidSpecError(f"input {input_index} does not exist")
    stripped = replace(
        tx,
        has_witness=False,
        inputs=[
            replace(txin, script_sig=script_code if index == input_index else b"")
            for index, txin in enumerate(tx.inputs)
        ],
    )
    return sha256d(stripped.serialize() + hash_type.to_bytes(4, "little"))


def contract_address(txid: str, vout: int) -> str:
    """Address of a contract created by output ``vout`` of ``txid``:
    RIPEMD160(SHA256(txid in internal byte order || vout as uint32 LE))."""
    if not isinstance(vout, int) or not 0 <= vout <= 0xFFFFFFFF:
        raise InvalidSpecError(f"vout must be an integer from 0 to 2^32-1, got {vout!r}")
    return hash160(txid_to_internal(txid) + vout.to_bytes(4, "little")).hex()

"""Signed meter readings: the one Python source of truth for the on-chain format.

The MeterLedger contract (interfaces/IMeterLedger.sol) verifies EIP-712 typed data

    domain  EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
            name "Energo Meter Readings", version "1", verifyingContract = the MeterLedger
    struct  MeterReading(uint32 meterId,uint32 seq,uint64 timestamp,uint64 importWh,
                         uint64 exportWh,uint64 stateOfChargeWh)

and takes batches as `submitReadings(bytes batch)`: 105-byte big-endian records

    meterId(4) seq(4) timestamp(8) importWh(8) exportWh(8) stateOfChargeWh(8) r(32) s(32) v(1)

A gateway may instead sign a whole batch once, `submitBatch(bytes readings, v, r, s)`:

    struct  ReadingBatch(bytes readings)

where `readings` is the concatenation of 40-byte unsigned records (the same fields without
r, s, v). Every meter of such a batch is registered with the gateway's key as its signer.

Hashing is done here directly with keccak instead of through eth-account's generic
typed-data encoder: the domain separator is computed once per (chain, contract) and each
reading costs two keccak calls and one secp256k1 signature, which is what lets a small
gateway sign thousands of readings per second. tests/oracle/test_readings.py proves the
result equal to eth_account.messages.encode_typed_data.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import coincurve
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from energo.errors import EnergoError
from energo.facts import RejectReason

DOMAIN_NAME = "Energo Meter Readings"
DOMAIN_VERSION = "1"

DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
READING_TYPE = (
    "MeterReading(uint32 meterId,uint32 seq,uint64 timestamp,uint64 importWh,"
    "uint64 exportWh,uint64 stateOfChargeWh)"
)
BATCH_TYPE = "ReadingBatch(bytes readings)"
DOMAIN_TYPE_HASH = keccak(DOMAIN_TYPE.encode())
READING_TYPE_HASH = keccak(READING_TYPE.encode())
BATCH_TYPE_HASH = keccak(BATCH_TYPE.encode())

#: EIP-712 `types` for eth-account / wallets (the same struct as READING_TYPE).
EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "MeterReading": [
        {"name": "meterId", "type": "uint32"},
        {"name": "seq", "type": "uint32"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "importWh", "type": "uint64"},
        {"name": "exportWh", "type": "uint64"},
        {"name": "stateOfChargeWh", "type": "uint64"},
    ],
}

#: EIP-712 `types` of a gateway-signed batch.
BATCH_EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": EIP712_TYPES["EIP712Domain"],
    "ReadingBatch": [{"name": "readings", "type": "bytes"}],
}

RECORD_SIZE = 105
_RECORD = struct.Struct(">IIQQQQ32s32sB")
assert _RECORD.size == RECORD_SIZE
#: An unsigned record of a gateway-signed batch: the first 40 bytes of a signed one.
UNSIGNED_RECORD_SIZE = 40
_UNSIGNED = struct.Struct(">IIQQQQ")
assert _UNSIGNED.size == UNSIGNED_RECORD_SIZE

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
# secp256k1 group order; signatures with s above half of it are malleable and
# OpenZeppelin's ECDSA (used by the ledger) refuses them.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

READING_ACCEPTED_SIGNATURE = "ReadingAccepted(uint32,uint32,uint64,uint64,uint64)"
READING_REJECTED_SIGNATURE = "ReadingRejected(uint32,uint32,uint8)"
READING_ACCEPTED_TOPIC = keccak(READING_ACCEPTED_SIGNATURE.encode())
READING_REJECTED_TOPIC = keccak(READING_REJECTED_SIGNATURE.encode())


class ReadingFormatError(EnergoError, ValueError):
    """A reading or record that does not fit the on-chain format."""


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One reading of a meter's cumulative registers, in whole watt-hours."""

    meter_id: int
    seq: int
    timestamp: int
    import_wh: int
    export_wh: int
    state_of_charge_wh: int = 0

    def __post_init__(self) -> None:
        for name, limit in (("meter_id", UINT32_MAX), ("seq", UINT32_MAX)):
            _check_range(name, getattr(self, name), limit)
        for name in ("timestamp", "import_wh", "export_wh", "state_of_charge_wh"):
            _check_range(name, getattr(self, name), UINT64_MAX)

    def struct_hash(self) -> bytes:
        """hashStruct(MeterReading): keccak of the type hash and six 32-byte words."""
        return keccak(
            READING_TYPE_HASH
            + self.meter_id.to_bytes(32, "big")
            + self.seq.to_bytes(32, "big")
            + self.timestamp.to_bytes(32, "big")
            + self.import_wh.to_bytes(32, "big")
            + self.export_wh.to_bytes(32, "big")
            + self.state_of_charge_wh.to_bytes(32, "big")
        )

    def as_message(self) -> dict[str, int]:
        """The EIP-712 `message` with the Solidity field names."""
        return {
            "meterId": self.meter_id,
            "seq": self.seq,
            "timestamp": self.timestamp,
            "importWh": self.import_wh,
            "exportWh": self.export_wh,
            "stateOfChargeWh": self.state_of_charge_wh,
        }

    def unsigned_record(self) -> bytes:
        """The 40-byte record of `submitBatch`."""
        return _UNSIGNED.pack(self.meter_id, self.seq, self.timestamp, self.import_wh, self.export_wh,
                              self.state_of_charge_wh)

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The ABI tuple of IMeterLedger.MeterReading (for `readingDigest`)."""
        return (
            self.meter_id,
            self.seq,
            self.timestamp,
            self.import_wh,
            self.export_wh,
            self.state_of_charge_wh,
        )


def _check_range(name: str, value: int, limit: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReadingFormatError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= limit:
        raise ReadingFormatError(f"{name}={value} is outside 0..{limit}")


@dataclass(frozen=True)
class ReadingDomain:
    """The EIP-712 domain of one MeterLedger deployment."""

    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifying_contract", to_checksum_address(self.verifying_contract))
        if self.chain_id <= 0:
            raise ReadingFormatError(f"chain_id must be positive, got {self.chain_id}")

    @cached_property  # computed once: per reading only the struct hash is new work
    def separator(self) -> bytes:
        return keccak(
            DOMAIN_TYPE_HASH
            + keccak(DOMAIN_NAME.encode())
            + keccak(DOMAIN_VERSION.encode())
            + self.chain_id.to_bytes(32, "big")
            + bytes.fromhex(self.verifying_contract[2:]).rjust(32, b"\0")
        )

    def digest(self, reading: MeterReading) -> bytes:
        """The 32-byte EIP-712 digest the meter signs."""
        return keccak(b"\x19\x01" + self.separator + reading.struct_hash())

    def batch_digest(self, readings: bytes) -> bytes:
        """The 32-byte EIP-712 digest a gateway signs for a batch of unsigned records."""
        return keccak(b"\x19\x01" + self.separator + keccak(BATCH_TYPE_HASH + keccak(readings)))

    def batch_typed_data(self, readings: bytes) -> dict[str, Any]:
        """Full EIP-712 typed data of a gateway-signed batch."""
        return {
            "types": BATCH_EIP712_TYPES,
            "primaryType": "ReadingBatch",
            "domain": self.as_eip712(),
            "message": {"readings": readings},
        }

    def as_eip712(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    def typed_data(self, reading: MeterReading) -> dict[str, Any]:
        """Full EIP-712 typed data, as wallets and eth-account take it."""
        return {
            "types": EIP712_TYPES,
            "primaryType": "MeterReading",
            "domain": self.as_eip712(),
            "message": reading.as_message(),
        }


@dataclass(frozen=True, slots=True)
class SignedReading:
    reading: MeterReading
    r: int
    s: int
    v: int

    def __post_init__(self) -> None:
        if self.v not in (27, 28):
            raise ReadingFormatError(f"v must be 27 or 28, got {self.v}")
        if not 0 < self.r < SECP256K1_N or not 0 < self.s <= SECP256K1_N // 2:
            raise ReadingFormatError("signature r/s out of range or s not in the lower half")

    @property
    def signature(self) -> bytes:
        """65 bytes r || s || v, as eth-account and ecrecover-style tools print it."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.v])

    def record(self) -> bytes:
        """The 105-byte record of `submitReadings`."""
        reading = self.reading
        return _RECORD.pack(
            reading.meter_id,
            reading.seq,
            reading.timestamp,
            reading.import_wh,
            reading.export_wh,
            reading.state_of_charge_wh,
            self.r.to_bytes(32, "big"),
            self.s.to_bytes(32, "big"),
            self.v,
        )

    def recover_signer(self, domain: ReadingDomain) -> str:
        return recover_signer(domain, self.reading, self.signature)

    @classmethod
    def from_record(cls, record: bytes) -> SignedReading:
        if len(record) != RECORD_SIZE:
            raise ReadingFormatError(f"a record is {RECORD_SIZE} bytes, got {len(record)}")
        meter_id, seq, timestamp, import_wh, export_wh, soc_wh, r, s, v = _RECORD.unpack(record)
        reading = MeterReading(meter_id, seq, timestamp, import_wh, export_wh, soc_wh)
        return cls(reading, int.from_bytes(r, "big"), int.from_bytes(s, "big"), v)


@dataclass(frozen=True, slots=True)
class SignedBatch:
    """Unsigned records and the one gateway signature over them: `submitBatch`'s arguments."""

    readings: bytes
    r: int
    s: int
    v: int

    def __post_init__(self) -> None:
        if not self.readings or len(self.readings) % UNSIGNED_RECORD_SIZE:
            raise ReadingFormatError(
                f"a batch is a non-empty multiple of {UNSIGNED_RECORD_SIZE} bytes, got {len(self.readings)}")
        if self.v not in (27, 28):
            raise ReadingFormatError(f"v must be 27 or 28, got {self.v}")

    def args(self) -> tuple[bytes, int, bytes, bytes]:
        """(readings, v, r, s) as `submitBatch` takes them."""
        return self.readings, self.v, self.r.to_bytes(32, "big"), self.s.to_bytes(32, "big")

    def recover_signer(self, domain: ReadingDomain) -> str:
        recoverable = self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.v - 27])
        public_key = coincurve.PublicKey.from_signature_and_message(
            recoverable, domain.batch_digest(self.readings), hasher=None)
        return public_key_to_address(public_key.format(compressed=False))


def pack_unsigned(readings: Iterable[MeterReading]) -> bytes:
    """Concatenated 40-byte records: the `readings` argument of `submitBatch`."""
    return b"".join(reading.unsigned_record() for reading in readings)


class ReadingSigner:
    """Signs readings with one meter's or gateway's key (deterministic RFC 6979, low-S)."""

    def __init__(self, private_key: bytes, domain: ReadingDomain) -> None:
        if len(private_key) != 32:
            raise ReadingFormatError("a secp256k1 private key is 32 bytes")
        self._key = coincurve.PrivateKey(private_key)
        self.domain = domain
        self.address = public_key_to_address(self._key.public_key.format(compressed=False))

    def sign(self, reading: MeterReading) -> SignedReading:
        # libsecp256k1 produces normalised (low-S) signatures with RFC 6979 nonces.
        r, s, v = self._sign_digest(self.domain.digest(reading))
        return SignedReading(reading, r, s, v)

    def sign_batch(self, readings: bytes | Iterable[MeterReading]) -> SignedBatch:
        """One signature over a whole batch (unsigned records, or the readings to pack)."""
        records = readings if isinstance(readings, bytes) else pack_unsigned(readings)
        r, s, v = self._sign_digest(self.domain.batch_digest(records))
        return SignedBatch(records, r, s, v)

    def _sign_digest(self, digest: bytes) -> tuple[int, int, int]:
        raw = self._key.sign_recoverable(digest, hasher=None)
        return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64] + 27


def public_key_to_address(uncompressed_public_key: bytes) -> str:
    return to_checksum_address(keccak(uncompressed_public_key[1:])[-20:])


def recover_signer(domain: ReadingDomain, reading: MeterReading, signature: bytes) -> str:
    """The address whose key produced `signature` over `reading` (as ecrecover does)."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        raise ReadingFormatError("signature must be 65 bytes r || s || v with v 27 or 28")
    recoverable = signature[:64] + bytes([signature[64] - 27])
    public_key = coincurve.PublicKey.from_signature_and_message(
        recoverable, domain.digest(reading), hasher=None
    )
    return public_key_to_address(public_key.format(compressed=False))


def pack_batch(signed: Iterable[SignedReading]) -> bytes:
    """Concatenated records: the `batch` argument of `submitReadings`."""
    return b"".join(item.record() for item in signed)


def unpack_batch(batch: bytes) -> list[SignedReading]:
    if len(batch) == 0 or len(batch) % RECORD_SIZE:
        raise ReadingFormatError(
            f"a batch is a non-empty multiple of {RECORD_SIZE} bytes, got {len(batch)}"
        )
    return [
        SignedReading.from_record(batch[offset : offset + RECORD_SIZE])
        for offset in range(0, len(batch), RECORD_SIZE)
    ]


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ReadingOutcome:
    """What the ledger said about one reading of a batch."""

    meter_id: int
    seq: int
    reason: RejectReason  # RejectReason.NONE when accepted
    timestamp: int | None = None
    import_wh: int | None = None
    export_wh: int | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is RejectReason.NONE

    @property
    def on_chain(self) -> bool:
        """True if the reading is applied on-chain, now or by an earlier submission."""
        return self.reason in (RejectReason.NONE, RejectReason.ALREADY_APPLIED)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    raise TypeError(f"cannot read {type(value).__name__} as bytes")


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


class LogEntry(Protocol):
    """A receipt log read by key ("address", "topics", "data"): a web3 log, a JSON-RPC dict or
    any object with ``__getitem__``."""

    def __getitem__(self, key: str, /) -> Any: ...


def decode_reading_events(
    logs: Iterable[LogEntry], ledger_address: str | None = None
) -> Iterator[ReadingOutcome]:
    """ReadingAccepted / ReadingRejected outcomes from receipt logs, in log order.

    Logs of other contracts (or other events) are skipped. `ledger_address`, when given,
    keeps only the ledger's own logs: a contract called during the batch could emit an
    event with the same signature.
    """
    wanted = to_checksum_address(ledger_address) if ledger_address else None
    for log in logs:
        if wanted and to_checksum_address(log["address"]) != wanted:
            continue
        topics = [_as_bytes(topic) for topic in log["topics"]]
        if not topics:
            continue
        data = _as_bytes(log["data"])
        if topics[0] == READING_ACCEPTED_TOPIC and len(topics) == 2 and len(data) == 128:
            seq, timestamp, import_wh, export_wh = _words(data)
            yield ReadingOutcome(
                int.from_bytes(topics[1], "big"), seq, RejectReason.NONE, timestamp, import_wh, export_wh
            )
        elif topics[0] == READING_REJECTED_TOPIC and len(topics) == 2 and len(data) == 64:
            seq, reason = _words(data)
            yield ReadingOutcome(int.from_bytes(topics[1], "big"), seq, RejectReason(reason))

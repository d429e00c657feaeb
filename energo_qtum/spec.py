"""Signing from a JSON transaction spec, the format of the shared test vectors and of
``energo-qtum sign`` (see /work/shared/qtum-vectors/README.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .builder import CallOutput, CreateOutput, OutputSpec, PayOutput, SignedTransaction, Utxo, sign_transaction
from .encoding import parse_hex
from .errors import InvalidSpecError
from .keys import QtumSigner, base58_to_hex


def _field(obj: Mapping[str, Any], name: str, where: str, kind: type | tuple = object) -> Any:
    if not isinstance(obj, Mapping):
        raise InvalidSpecError(f"{where} must be a JSON object")
    if name not in obj:
        raise InvalidSpecError(f"{where} is missing '{name}'")
    value = obj[name]
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidSpecError(f"{where}.{name} must be an integer")
    if kind is not int and not isinstance(value, kind):
        raise InvalidSpecError(f"{where}.{name} has the wrong type")
    return value


def _uint(obj: Mapping[str, Any], name: str, where: str, default: int | None = None, bits: int = 32) -> int:
    """An optional-or-required unsigned integer field, range-checked so serialization cannot overflow."""
    if name not in obj and default is not None:
        return default
    value = _field(obj, name, where, int)
    if not 0 <= value < 2**bits:
        raise InvalidSpecError(f"{where}.{name} must be between 0 and 2^{bits}-1, got {value}")
    return value


def _parse_input(raw: Mapping[str, Any], where: str) -> tuple[Utxo, int]:
    utxo = Utxo(
        txid=parse_hex(_field(raw, "txid", where, str), f"{where}.txid", 32).hex(),
        vout=_uint(raw, "vout", where),
        script_pubkey=parse_hex(_field(raw, "script_pubkey", where, str), f"{where}.script_pubkey"),
        value_sat=_uint(raw, "value_sat", where, bits=63) if "value_sat" in raw else None,
    )
    return utxo, _uint(raw, "sequence", where, default=0xFFFFFFFF)


def _parse_output(raw: Mapping[str, Any], where: str, network: str) -> OutputSpec:
    kind = _field(raw, "type", where, str)
    value_sat = _uint(raw, "value_sat", where, default=0, bits=63)
    encoding = raw.get("vm_version_encoding", "push")
    if kind == "call":
        return CallOutput(
            contract=parse_hex(_field(raw, "contract", where, str), f"{where}.contract", 20),
            data=parse_hex(_field(raw, "data", where, str), f"{where}.data"),
            gas_limit=_uint(raw, "gas_limit", where, bits=63),
            gas_price=_uint(raw, "gas_price", where, bits=63),
            value_sat=value_sat,
            vm_version_encoding=encoding,
        )
    if kind == "create":
        return CreateOutput(
            bytecode=parse_hex(_field(raw, "bytecode", where, str), f"{where}.bytecode"),
            gas_limit=_uint(raw, "gas_limit", where, bits=63),
            gas_price=_uint(raw, "gas_price", where, bits=63),
            value_sat=value_sat,
            vm_version_encoding=encoding,
        )
    if kind == "p2pkh":
        if "hash160" in raw:
            pubkey_hash = parse_hex(raw["hash160"], f"{where}.hash160", 20)
        else:
            pubkey_hash = bytes.fromhex(base58_to_hex(_field(raw, "address", where, str), network))
        return PayOutput(pubkey_hash, _uint(raw, "value_sat", where, bits=63))
    raise InvalidSpecError(f"{where}.type must be call, create or p2pkh, got {kind!r}")


def sign_spec(spec: Mapping[str, Any]) -> SignedTransaction:
    if not isinstance(spec, Mapping):
        raise InvalidSpecError("the spec must be a JSON object")
    network = _field(spec, "network", "spec", str)
    signer = QtumSigner(_field(spec, "privkey", "spec", str), network)
    raw_inputs = _field(spec, "inputs", "spec", list)
    raw_outputs = _field(spec, "outputs", "spec", list)
    parsed_inputs = [_parse_input(raw, f"inputs[{i}]") for i, raw in enumerate(raw_inputs)]
    outputs = [_parse_output(raw, f"outputs[{i}]", network) for i, raw in enumerate(raw_outputs)]
    return sign_transaction(
        signer,
        [utxo for utxo, _ in parsed_inputs],
        outputs,
        version=_uint(spec, "version", "spec", default=2),
        locktime=_uint(spec, "locktime", "spec", default=0),
        sequences=[sequence for _, sequence in parsed_inputs],
    )

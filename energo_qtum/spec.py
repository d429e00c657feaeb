"""Signing from a JSON transaction spec, the format of the shared test vectors and of
``energo-qtum sign`` (see /work/shared/qtum-vectors/README.md)."""

from __future__ import annotations

from typing import Any, Mapping

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


def _parse_input(raw: Mapping[str, Any], where: str) -> tuple[Utxo, int]:
    utxo = Utxo(
        txid=parse_hex(_field(raw, "txid", where, str), f"{where}.txid", 32).hex(),
        vout=_field(raw, "vout", where, int),
        script_pubkey=parse_hex(_field(raw, "script_pubkey", where, str), f"{where}.script_pubkey"),
        value_sat=raw.get("value_sat"),
    )
    return utxo, raw.get("sequence", 0xFFFFFFFF)


def _parse_output(raw: Mapping[str, Any], where: str, network: str) -> OutputSpec:
    kind = _field(raw, "type", where, str)
    value_sat = raw.get("value_sat", 0)
    encoding = raw.get("vm_version_encoding", "push")
    if kind == "call":
        return CallOutput(
            contract=parse_hex(_field(raw, "contract", where, str), f"{where}.contract", 20),
            data=parse_hex(_field(raw, "data", where, str), f"{where}.data"),
            gas_limit=_field(raw, "gas_limit", where, int),
            gas_price=_field(raw, "gas_price", where, int),
            value_sat=value_sat,
            vm_version_encoding=encoding,
        )
    if kind == "create":
        return CreateOutput(
            bytecode=parse_hex(_field(raw, "bytecode", where, str), f"{where}.bytecode"),
            gas_limit=_field(raw, "gas_limit", where, int),
            gas_price=_field(raw, "gas_price", where, int),
            value_sat=value_sat,
            vm_version_encoding=encoding,
        )
    if kind == "p2pkh":
        if "hash160" in raw:
            pubkey_hash = parse_hex(raw["hash160"], f"{where}.hash160", 20)
        else:
            pubkey_hash = bytes.fromhex(base58_to_hex(_field(raw, "address", where, str), network))
        return PayOutput(pubkey_hash, _field(raw, "value_sat", where, int))
    raise InvalidSpecError(f"{where}.type must be call, create or p2pkh, got {kind!r}")


def sign_spec(spec: Mapping[str, Any]) -> SignedTransaction:
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
        version=spec.get("version", 2),
        locktime=spec.get("locktime", 0),
        sequences=[sequence for _, sequence in parsed_inputs],
    )

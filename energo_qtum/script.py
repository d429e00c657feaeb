"""Qtum output scripts: P2PKH, P2PK, and the contract outputs OP_CALL and OP_CREATE.

Contract outputs are
``<vm version> <gas limit> <gas price> <data> <contract> OP_CALL`` and
``<vm version> <gas limit> <gas price> <bytecode> OP_CREATE``.
Numbers are CScriptNum pushes (little-endian, sign bit in the top byte, minimal),
which is what qtumd writes with ``CScript() << CScriptNum(n)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import InvalidSpecError, TransactionFormatError

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1NEGATE = 0x4F
OP_1 = 0x51
OP_4 = 0x54
OP_16 = 0x60
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_HASH160 = 0xA9
OP_CHECKSIG = 0xAC
OP_CREATE = 0xC1
OP_CALL = 0xC2
OP_SPEND = 0xC3
OP_SENDER = 0xC4

EVM_VM_VERSION = 4  # VersionVM{format 0, rootVM 1 (EVM), vmVersion 0, flags 0}.toRaw()
VM_VERSION_ENCODINGS = ("op4", "push")  # the single opcode 0x54, or the bytes 01 04


def encode_script_num(value: int) -> bytes:
    """Minimal CScriptNum: 0 is empty, magnitude little-endian, sign in the top bit."""
    if value == 0:
        return b""
    magnitude = abs(value)
    result = bytearray()
    while magnitude:
        result.append(magnitude & 0xFF)
        magnitude >>= 8
    # A set top bit would read as a sign, so a positive number needs a padding byte.
    if result[-1] & 0x80:
        result.append(0x80 if value < 0 else 0x00)
    elif value < 0:
        result[-1] |= 0x80
    return bytes(result)


def decode_script_num(data: bytes, require_minimal: bool = True) -> int:
    if not data:
        return 0
    if require_minimal and data[-1] & 0x7F == 0:
        # Only allowed when the byte is needed to keep the sign bit of the one before free.
        if len(data) == 1 or not data[-2] & 0x80:
            raise TransactionFormatError(f"script number {data.hex()} is not minimally encoded")
    magnitude = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(magnitude & ~(0x80 << (8 * (len(data) - 1))))
    return magnitude


def push_data(data: bytes) -> bytes:
    """The shortest push of ``data`` (a direct length byte below 76 bytes)."""
    length = len(data)
    if length < OP_PUSHDATA1:
        return bytes([length]) + data
    if length <= 0xFF:
        return bytes([OP_PUSHDATA1, length]) + data
    if length <= 0xFFFF:
        return bytes([OP_PUSHDATA2]) + length.to_bytes(2, "little") + data
    return bytes([OP_PUSHDATA4]) + length.to_bytes(4, "little") + data


def push_number(value: int) -> bytes:
    return push_data(encode_script_num(value))


def vm_version_push(encoding: str) -> bytes:
    if encoding == "op4":
        return bytes([OP_4])
    if encoding == "push":
        return push_number(EVM_VM_VERSION)
    raise InvalidSpecError(f"vm_version_encoding must be one of {', '.join(VM_VERSION_ENCODINGS)}, got {encoding!r}")


def p2pkh_script(pubkey_hash: bytes) -> bytes:
    if len(pubkey_hash) != 20:
        raise InvalidSpecError("a P2PKH output needs a 20-byte hash160")
    return bytes([OP_DUP, OP_HASH160]) + push_data(pubkey_hash) + bytes([OP_EQUALVERIFY, OP_CHECKSIG])


def p2pk_script(public_key: bytes) -> bytes:
    return push_data(public_key) + bytes([OP_CHECKSIG])


def _check_uint64(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise InvalidSpecError(f"{what} must be a non-negative integer, got {value!r}")


def call_script(
    contract: bytes,
    data: bytes,
    gas_limit: int,
    gas_price: int,
    vm_version_encoding: str = "push",
) -> bytes:
    if len(contract) != 20:
        raise InvalidSpecError("an OP_CALL contract address is a 20-byte hash160")
    _check_uint64(gas_limit, "gas_limit")
    _check_uint64(gas_price, "gas_price")
    return (
        vm_version_push(vm_version_encoding)
        + push_number(gas_limit)
        + push_number(gas_price)
        + push_data(data)
        + push_data(contract)
        + bytes([OP_CALL])
    )


def create_script(
    bytecode: bytes,
    gas_limit: int,
    gas_price: int,
    vm_version_encoding: str = "push",
) -> bytes:
    _check_uint64(gas_limit, "gas_limit")
    _check_uint64(gas_price, "gas_price")
    return (
        vm_version_push(vm_version_encoding)
        + push_number(gas_limit)
        + push_number(gas_price)
        + push_data(bytecode)
        + bytes([OP_CREATE])
    )


@dataclass(frozen=True)
class ScriptOp:
    opcode: int
    data: bytes | None  # the pushed bytes, None for a non-push opcode


def iter_script_ops(script: bytes) -> list[ScriptOp]:
    ops: list[ScriptOp] = []
    position = 0
    while position < len(script):
        opcode = script[position]
        position += 1
        if opcode <= OP_PUSHDATA4:
            if opcode < OP_PUSHDATA1:
                size_bytes, length = 0, opcode
            else:
                size_bytes = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[opcode]
                if position + size_bytes > len(script):
                    raise TransactionFormatError("script ends inside a push length")
                length = int.from_bytes(script[position : position + size_bytes], "little")
            position += size_bytes
            if position + length > len(script):
                raise TransactionFormatError("script ends inside pushed data")
            ops.append(ScriptOp(opcode, script[position : position + length]))
            position += length
        else:
            ops.append(ScriptOp(opcode, None))
    return ops


class ScriptType(enum.Enum):
    P2PKH = "P2PKH"
    P2PK = "P2PK"
    P2SH = "P2SH"
    P2WPKH = "P2WPKH"
    P2WSH = "P2WSH"
    CALL = "call"
    CREATE = "create"
    UNKNOWN = "unknown"


def classify_script(script: bytes) -> ScriptType:
    """The output forms Janus' qtum_getUTXOs distinguishes, plus Qtum's contract outputs."""
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return ScriptType.P2PKH
    if (len(script) == 35 and script[0] == 33 or len(script) == 67 and script[0] == 65) and script[-1] == OP_CHECKSIG:
        return ScriptType.P2PK
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == OP_EQUAL:
        return ScriptType.P2SH
    if len(script) == 22 and script[:2] == b"\x00\x14":
        return ScriptType.P2WPKH
    if len(script) == 34 and script[:2] == b"\x00\x20":
        return ScriptType.P2WSH
    if script and script[-1] == OP_CALL:
        return ScriptType.CALL
    if script and script[-1] == OP_CREATE:
        return ScriptType.CREATE
    return ScriptType.UNKNOWN


def p2pkh_hash(script: bytes) -> bytes | None:
    return script[3:23] if classify_script(script) is ScriptType.P2PKH else None


@dataclass(frozen=True)
class ContractOutput:
    """A decoded OP_CALL or OP_CREATE output script."""

    kind: ScriptType  # CALL or CREATE
    vm_version: int
    gas_limit: int
    gas_price: int
    data: bytes  # call data, or the creation bytecode
    contract: bytes | None  # the called contract's hash160; None for a create


def _op_number(op: ScriptOp) -> int:
    if op.data is not None:
        return decode_script_num(op.data, require_minimal=False)
    if OP_1 <= op.opcode <= OP_16:
        return op.opcode - OP_1 + 1
    if op.opcode == OP_1NEGATE:
        return -1
    raise TransactionFormatError(f"opcode 0x{op.opcode:02x} is not a number")


def parse_contract_script(script: bytes) -> ContractOutput:
    ops = iter_script_ops(script)
    kind = classify_script(script)
    expected_ops = {ScriptType.CALL: 6, ScriptType.CREATE: 5}.get(kind)
    if expected_ops is None or len(ops) != expected_ops:
        raise TransactionFormatError("not an OP_CALL or OP_CREATE output of the standard form")
    if any(op.data is None for op in ops[3:-1]):
        raise TransactionFormatError("contract data and address must be pushes")
    contract = ops[4].data if kind is ScriptType.CALL else None
    if contract is not None and len(contract) != 20:
        raise TransactionFormatError("OP_CALL contract address is not 20 bytes")
    return ContractOutput(
        kind=kind,
        vm_version=_op_number(ops[0]),
        gas_limit=_op_number(ops[1]),
        gas_price=_op_number(ops[2]),
        data=ops[3].data or b"",
        contract=contract,
    )

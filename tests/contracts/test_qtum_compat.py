"""Every exported contract runs on Qtum's EVM: cancun, optimized, within the code-size
limit, and free of opcodes whose values differ on Qtum or that it should never run."""

from __future__ import annotations

import json

import pytest

from energo.artifacts import ARTIFACTS
from energo.constants import EVM_VERSION, QTUM_CODE_SIZE_LIMIT

FORBIDDEN = {0x48: "BASEFEE", 0x44: "PREVRANDAO", 0x49: "BLOBHASH", 0x4A: "BLOBBASEFEE", 0xFF: "SELFDESTRUCT"}
PUSH1, PUSH32 = 0x60, 0x7F

ARTIFACT_FILES = sorted(ARTIFACTS.glob("*.json"))


def strip_metadata(code: bytes) -> bytes:
    """Drops the CBOR metadata tail: its length is the last two bytes, big-endian."""
    if len(code) < 2:
        return code
    cbor_length = int.from_bytes(code[-2:], "big")
    if cbor_length + 2 <= len(code) and code[-cbor_length - 2] in (0xA1, 0xA2, 0xA3):
        return code[: -cbor_length - 2]
    return code


JUMPDEST = 0x5B
#: After these, the next byte runs only if it is a JUMPDEST (STOP, JUMP, RETURN, REVERT, INVALID, SELFDESTRUCT).
TERMINATORS = {0x00, 0x56, 0xF3, 0xFD, 0xFE, 0xFF}


def opcodes(code: bytes) -> list[tuple[int, int]]:
    """(offset, opcode) of every reachable instruction, stepping over PUSH data.

    Bytes after a terminating instruction and before the next JUMPDEST cannot execute:
    solc puts data there (long constants it copies with CODECOPY), which a plain linear
    sweep would misread as opcodes.
    """
    out, pc, live = [], 0, True
    while pc < len(code):
        op = code[pc]
        if op == JUMPDEST:
            live = True
        if live:
            out.append((pc, op))
            if op in TERMINATORS:
                live = False
        pc += 1 + (op - PUSH1 + 1 if PUSH1 <= op <= PUSH32 else 0)
    return out


def test_there_are_artifacts():
    names = {p.stem for p in ARTIFACT_FILES}
    assert {"SharedBattery", "MeterLedger", "TslToken"} <= names


def test_disassembler_skips_push_data_and_metadata():
    # PUSH2 0x48ff (data, not opcodes), then a real BASEFEE, then a fake CBOR tail
    code = bytes([0x61, 0x48, 0xFF, 0x48]) + bytes([0xA1, 0x00, 0xFF]) + (3).to_bytes(2, "big")
    assert [op for _, op in opcodes(strip_metadata(code))] == [0x61, 0x48]


def test_disassembler_skips_data_after_a_terminator():
    # INVALID, then data bytes (a BASEFEE among them), then a JUMPDEST and a real SELFDESTRUCT
    code = bytes([0xFE, 0x84, 0x48, 0xD7, JUMPDEST, 0xFF])
    assert opcodes(code) == [(0, 0xFE), (4, JUMPDEST), (5, 0xFF)]


@pytest.mark.parametrize("path", ARTIFACT_FILES, ids=lambda p: p.stem)
def test_artifact_is_qtum_compatible(path):
    artifact = json.loads(path.read_text())
    assert artifact["compiler"]["evmVersion"] == EVM_VERSION == "cancun"
    assert artifact["compiler"]["optimizer"]["enabled"] is True
    runtime = bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x"))
    assert len(runtime) <= QTUM_CODE_SIZE_LIMIT
    found = [(pc, FORBIDDEN[op]) for pc, op in opcodes(strip_metadata(runtime)) if op in FORBIDDEN]
    assert found == [], f"{path.stem} uses {found}"

"""CScriptNum, pushes and the two contract output forms."""

from __future__ import annotations

import pytest

from energo_qtum.errors import InvalidSpecError, TransactionFormatError
from energo_qtum.script import (
    ScriptType,
    call_script,
    classify_script,
    create_script,
    decode_script_num,
    encode_script_num,
    p2pk_script,
    p2pkh_script,
    parse_contract_script,
    push_data,
)

CONTRACT = bytes.fromhex("d362e096e873eb7907e205fadc6175c6fec7bc44")


@pytest.mark.parametrize(
    "value, encoded",
    [
        (0, ""),
        (1, "01"),
        (16, "10"),
        (127, "7f"),
        (128, "8000"),
        (255, "ff00"),
        (256, "0001"),
        (32767, "ff7f"),
        (32768, "008000"),
        (-1, "81"),
        (-127, "ff"),
        (-128, "8080"),
        (-255, "ff80"),
        (-256, "0081"),
        (40, "28"),
        (100_000, "a08601"),
        (2**31 - 1, "ffffff7f"),
        (2**31, "00000080" + "00"),
    ],
)
def test_script_num_encoding(value, encoded):
    assert encode_script_num(value).hex() == encoded
    assert decode_script_num(bytes.fromhex(encoded)) == value


@pytest.mark.parametrize("padded", ["00", "80", "0100", "7f00", "ff0080"])
def test_non_minimal_script_numbers_are_refused(padded):
    with pytest.raises(TransactionFormatError):
        decode_script_num(bytes.fromhex(padded))


@pytest.mark.parametrize(
    "length, prefix",
    [
        (0, "00"),
        (1, "01"),
        (75, "4b"),
        (76, "4c4c"),
        (255, "4cff"),
        (256, "4d0001"),
        (65535, "4dffff"),
        (65536, "4e00000100"),
    ],
)
def test_push_data_uses_the_shortest_opcode(length, prefix):
    pushed = push_data(b"\xaa" * length)
    assert pushed.hex().startswith(prefix)
    assert len(pushed) == len(prefix) // 2 + length


def test_call_script_in_both_vm_version_encodings():
    data = bytes.fromhex("a55526db")
    op4 = call_script(CONTRACT, data, 100_000, 40, "op4")
    push = call_script(CONTRACT, data, 100_000, 40, "push")
    tail = "03a08601" + "0128" + "04a55526db" + "14" + CONTRACT.hex() + "c2"
    assert op4.hex() == "54" + tail
    assert push.hex() == "0104" + tail
    for script in (op4, push):
        parsed = parse_contract_script(script)
        assert (parsed.kind, parsed.vm_version, parsed.gas_limit, parsed.gas_price) == (ScriptType.CALL, 4, 100_000, 40)
        assert (parsed.data, parsed.contract) == (data, CONTRACT)


def test_create_script_ends_with_op_create_and_has_no_address():
    script = create_script(b"\x60\x00", 2_500_000, 40, "push")
    assert script.hex() == "0104" + "03a02526" + "0128" + "026000" + "c1"
    parsed = parse_contract_script(script)
    assert parsed.kind is ScriptType.CREATE and parsed.contract is None and parsed.data == b"\x60\x00"


def test_unknown_vm_version_encoding_is_refused():
    with pytest.raises(InvalidSpecError, match="vm_version_encoding"):
        call_script(CONTRACT, b"", 100_000, 40, "op5")


def test_script_classification_matches_janus_forms():
    assert classify_script(p2pkh_script(CONTRACT)) is ScriptType.P2PKH
    assert classify_script(p2pk_script(b"\x02" + b"\x11" * 32)) is ScriptType.P2PK
    assert classify_script(bytes.fromhex("0014") + CONTRACT) is ScriptType.P2WPKH
    assert classify_script(bytes.fromhex("0020") + b"\x00" * 32) is ScriptType.P2WSH
    assert classify_script(bytes.fromhex("a914") + CONTRACT + b"\x87") is ScriptType.P2SH
    assert classify_script(b"\x6a") is ScriptType.UNKNOWN


def test_truncated_contract_script_is_a_format_error():
    script = call_script(CONTRACT, b"\x01\x02", 100_000, 40)
    with pytest.raises(TransactionFormatError):
        parse_contract_script(script[:-8] + b"\xc2")

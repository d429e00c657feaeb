"""Round trips under hypothesis: base58, CScriptNum, pushes and transactions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from energo_qtum.encoding import b58check_decode, b58check_encode, b58decode, b58encode
from energo_qtum.script import decode_script_num, encode_script_num, iter_script_ops, push_data
from energo_qtum.tx import Transaction, TxIn, TxOut, parse_transaction

uint32 = st.integers(0, 2**32 - 1)
txids = st.binary(min_size=32, max_size=32).map(bytes.hex)
scripts = st.binary(max_size=300)


@given(st.binary(max_size=80))
def test_base58_round_trip(data):
    assert b58decode(b58encode(data)) == data


@given(st.binary(min_size=1, max_size=40))
def test_base58check_round_trip(payload):
    assert b58check_decode(b58check_encode(payload)) == payload


@given(st.integers(-(2**63) + 1, 2**63 - 1))
def test_script_num_round_trip_is_minimal(value):
    encoded = encode_script_num(value)
    assert decode_script_num(encoded, require_minimal=True) == value


@given(st.binary(max_size=70_000))
def test_push_data_parses_back_to_the_same_bytes(data):
    ops = iter_script_ops(push_data(data))
    assert len(ops) == 1 and ops[0].data == data


transactions = st.builds(
    Transaction,
    version=uint32,
    inputs=st.lists(
        st.builds(TxIn, prev_txid=txids, vout=uint32, script_sig=scripts, sequence=uint32), min_size=1, max_size=4
    ),
    outputs=st.lists(st.builds(TxOut, value=st.integers(0, 2**63 - 1), script_pubkey=scripts), max_size=4),
    locktime=uint32,
)


@given(transactions)
def test_transaction_serialize_parse_round_trip(tx):
    raw = tx.serialize()
    parsed = parse_transaction(raw)
    assert parsed.serialize() == raw
    assert parsed.txid == tx.txid
    assert [i.outpoint for i in parsed.inputs] == [i.outpoint for i in tx.inputs]

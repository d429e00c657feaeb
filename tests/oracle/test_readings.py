"""The reading format: hashing equals eth-account's EIP-712, records round-trip."""


import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from energo.readings import (
    READING_ACCEPTED_TOPIC,
    READING_REJECTED_TOPIC,
    RECORD_SIZE,
    SECP256K1_N,
    MeterReading,
    ReadingDomain,
    ReadingFormatError,
    ReadingSigner,
    RejectReason,
    SignedReading,
    decode_reading_events,
    pack_batch,
    recover_signer,
    unpack_batch,
)

METER_KEY = bytes.fromhex("4c0883a69102937d6231471b5decb208bf4bcc1fe5d9a0c6a2c17d3f0b5a5d13")
LEDGER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = ReadingDomain(8890, LEDGER)

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
readings = st.builds(MeterReading, u32, u32, u64, u64, u64, u64)


@settings(max_examples=60, deadline=None)
@given(reading=readings, chain_id=st.integers(1, 2**64), contract=st.binary(min_size=20, max_size=20))
def test_digest_equals_eth_account_typed_data(reading, chain_id, contract):
    domain = ReadingDomain(chain_id, "0x" + contract.hex())
    expected = encode_typed_data(full_message=domain.typed_data(reading))
    # EIP-191 version 0x01: digest = keccak(0x19 0x01 || domainSeparator || structHash)
    assert expected.header == domain.separator
    assert expected.body == reading.struct_hash()
    signed_by_eth_account = Account.sign_message(expected, METER_KEY)
    assert domain.digest(reading) == bytes(signed_by_eth_account.message_hash)


@settings(max_examples=40, deadline=None)
@given(reading=readings)
def test_signature_is_eth_accounts_and_recovers_to_the_meter(reading):
    signer = ReadingSigner(METER_KEY, DOMAIN)
    signed = signer.sign(reading)
    reference = Account.sign_typed_data(METER_KEY, full_message=DOMAIN.typed_data(reading))
    assert (signed.r, signed.s, signed.v) == (reference.r, reference.s, reference.v)
    assert signed.s <= SECP256K1_N // 2
    assert signed.recover_signer(DOMAIN) == Account.from_key(METER_KEY).address == signer.address


def test_signature_is_bound_to_chain_and_contract():
    reading = MeterReading(7, 1, 1_700_000_000, 1000, 20, 0)
    signed = ReadingSigner(METER_KEY, DOMAIN).sign(reading)
    other_chain = ReadingDomain(81, LEDGER)
    other_contract = ReadingDomain(8890, "0x" + "11" * 20)
    assert recover_signer(other_chain, reading, signed.signature) != signed.recover_signer(DOMAIN)
    assert recover_signer(other_contract, reading, signed.signature) != signed.recover_signer(DOMAIN)


@settings(max_examples=40, deadline=None)
@given(batch=st.lists(readings, min_size=1, max_size=5))
def test_records_round_trip(batch):
    signer = ReadingSigner(METER_KEY, DOMAIN)
    signed = [signer.sign(reading) for reading in batch]
    packed = pack_batch(signed)
    assert len(packed) == RECORD_SIZE * len(batch)
    assert unpack_batch(packed) == signed


def test_record_layout_is_big_endian_in_field_order():
    reading = MeterReading(0x01020304, 0x0A0B0C0D, 0x1122334455667788, 5, 6, 7)
    record = ReadingSigner(METER_KEY, DOMAIN).sign(reading).record()
    assert record[:4] == bytes.fromhex("01020304")
    assert record[4:8] == bytes.fromhex("0a0b0c0d")
    assert record[8:16] == bytes.fromhex("1122334455667788")
    assert record[16:24] == (5).to_bytes(8, "big")
    assert record[24:32] == (6).to_bytes(8, "big")
    assert record[32:40] == (7).to_bytes(8, "big")
    assert record[104] in (27, 28)


@pytest.mark.parametrize(
    "fields",
    [(2**32, 1, 1, 0, 0, 0), (1, -1, 1, 0, 0, 0), (1, 1, 2**64, 0, 0, 0), (1, 1, 1, 0, 0, True)],
)
def test_out_of_range_fields_are_refused(fields):
    with pytest.raises(ReadingFormatError):
        MeterReading(*fields)


@pytest.mark.parametrize("length", [0, 104, 106, 209])
def test_malformed_batches_are_refused(length):
    with pytest.raises(ReadingFormatError, match="multiple of 105"):
        unpack_batch(b"\x01" * length)


def test_high_s_and_bad_v_are_refused():
    reading = MeterReading(1, 1, 1, 0, 0, 0)
    with pytest.raises(ReadingFormatError):
        SignedReading(reading, 1, SECP256K1_N - 1, 27)
    with pytest.raises(ReadingFormatError):
        SignedReading(reading, 1, 1, 1)


def test_events_are_decoded_from_receipt_logs():
    def word(n):
        return n.to_bytes(32, "big")

    logs = [
        {
            "address": LEDGER.lower(),
            "topics": [READING_ACCEPTED_TOPIC, word(7)],
            "data": word(3) + word(1_700_000_000) + word(1200) + word(40),
        },
        {
            "address": LEDGER,
            "topics": ["0x" + READING_REJECTED_TOPIC.hex(), "0x" + word(9).hex()],
            "data": "0x" + (word(4) + word(RejectReason.ALREADY_APPLIED)).hex(),
        },
        {  # same event from another contract: not ours
            "address": "0x" + "22" * 20,
            "topics": [READING_REJECTED_TOPIC, word(9)],
            "data": word(5) + word(RejectReason.BAD_SIGNATURE),
        },
        {"address": LEDGER, "topics": [b"\x01" * 32], "data": b""},
    ]
    outcomes = list(decode_reading_events(logs, LEDGER))
    assert [(o.meter_id, o.seq, o.reason) for o in outcomes] == [
        (7, 3, RejectReason.NONE),
        (9, 4, RejectReason.ALREADY_APPLIED),
    ]
    assert outcomes[0].accepted and outcomes[0].import_wh == 1200 and outcomes[0].export_wh == 40
    assert outcomes[1].on_chain and not outcomes[1].accepted
    assert RejectReason.TIMESTAMP_IN_FUTURE.solidity_name == "TimestampInFuture"


def test_worked_example_of_docs_readings_md():
    """The numbers printed in docs/readings.md."""
    from oracle.ledger import submit_readings_calldata

    key = bytes.fromhex("4c0883a69102937d6231471b5decb208bf4bcc1fe5d9a0c6a2c17d3f0b5a5d13")
    domain = ReadingDomain(8890, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    reading = MeterReading(1001, 42, 1767268800, 1581123, 2045, 0)
    signer = ReadingSigner(key, domain)
    signed = signer.sign(reading)
    assert signer.address == "0x8b0c281207042Ee29a75411c9384f9bE1e1Ab2Ab"
    assert domain.separator.hex() == "732ce9e73b6a4c09aa9bbbc4918624a5572c7e2246f67ef0b2eea8422d78e3fb"
    assert reading.struct_hash().hex() == "4df5e1d5f7d527c8b2615c2bb04c26422a0349302fce34e62a7298be7cb6538d"
    assert domain.digest(reading).hex() == "1bdcd05fa97365435cd30878bbf80d13b65179242899249c87f57c8bf7450e28"
    assert (hex(signed.r), hex(signed.s), signed.v) == (
        "0xec33de621fa0712bbb28dd9fe8ffa11bdfb84638e43bd8f63101d477dc3a315c",
        "0x37850df0f00469550e44b468c167891d17f0cb1936ead0bb6fbf83c7d132c15", 28)
    record = (
        "000003e90000002a00000000695661c0000000000018204300000000000007fd0000000000000000"
        "ec33de621fa0712bbb28dd9fe8ffa11bdfb84638e43bd8f63101d477dc3a315c"
        "037850df0f00469550e44b468c167891d17f0cb1936ead0bb6fbf83c7d132c151c")
    assert signed.record().hex() == record
    calldata = submit_readings_calldata(signed.record()).hex()
    assert calldata == "0f0a4fe1" + "20".rjust(64, "0") + "69".rjust(64, "0") + record + "00" * 23
    assert READING_ACCEPTED_TOPIC.hex() == "6a88a5ac8f13440e64d56655156c275531c3dcc9d24c6c923dac672aaca0d496"
    assert READING_REJECTED_TOPIC.hex() == "52947be2618f09cd892d5807fdf821513026761b3234aa436cfea91628ba7abe"


def test_the_ledger_computes_the_same_digest(system):
    """The contract's readingDigest view equals ours (the daemon checks this at start-up)."""
    domain = ReadingDomain(8890, system.ledger.address)
    reading = MeterReading(1001, 42, 1767268800, 1581123, 2045, 77)
    assert system.ledger.functions.readingDigest(reading.as_tuple()).call() == domain.digest(reading)

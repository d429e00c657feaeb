"""Gateway-signed batches (`submitBatch`): one signature for every reading of a batch, each
reading still judged on its own; and exactly one battery meter (finding M-1)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from energo.readings import BATCH_EIP712_TYPES, MeterReading, ReadingDomain, ReadingSigner
from energo.tx import TxFailed

HOUSEHOLD, BATTERY_METER = 0, 1
GATEWAY = Account.from_key(Web3.keccak(text="gateway-a"))
OTHER_GATEWAY = Account.from_key(Web3.keccak(text="gateway-b"))


@dataclass
class Meter:
    meter_id: int
    account: str
    timestamp: int
    seq: int = 0
    import_wh: int = 0
    export_wh: int = 0


def _register(kit, account: str, signer, kind: int = HOUSEHOLD, rated_power_w: int = 10_000) -> Meter:
    meter_id = kit._next_id
    kit._next_id += 1
    receipt = kit.registrar.transact(kit.ledger.functions.registerMeter(
        meter_id, signer.address, account, kind, rated_power_w, 0, 0))
    ts = kit.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    return Meter(meter_id, account, ts)


def _unsigned(kit, meter: Meter, import_delta: int = 0, export_delta: int = 0, soc: int = 0) -> bytes:
    meter.seq += 1
    meter.timestamp = max(kit.now(), meter.timestamp + 1)
    meter.import_wh += import_delta
    meter.export_wh += export_delta
    return struct.pack(">IIQQQQ", meter.meter_id, meter.seq, meter.timestamp, meter.import_wh, meter.export_wh, soc)


def _sign(kit, readings: bytes, key=GATEWAY) -> tuple[int, bytes, bytes]:
    """Signed through eth-account's generic EIP-712 encoder: an independent reference."""
    message = encode_typed_data(full_message={
        "types": BATCH_EIP712_TYPES, "primaryType": "ReadingBatch",
        "domain": {"name": "Energo Meter Readings", "version": "1", "chainId": kit.chain_id,
                   "verifyingContract": kit.ledger.address},
        "message": {"readings": readings}})
    signed = Account.sign_message(message, private_key=key.key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def _signed(kit, records: list[bytes], key=GATEWAY) -> tuple[bytes, int, bytes, bytes]:
    readings = b"".join(records)
    return (readings, *_sign(kit, readings, key))


def _submit(kit, readings: bytes, key=GATEWAY) -> dict:
    return kit.relayer.transact(kit.ledger.functions.submitBatch(readings, *_sign(kit, readings, key)))


@pytest.fixture
def meters(kit, households):
    kit.advance(3600)
    return [_register(kit, household.address, GATEWAY) for household in households[:3]]


def test_one_signature_applies_every_reading_and_mints(kit, meters):
    kit.advance(3600)
    batch = b"".join(_unsigned(kit, meter, export_delta=1_000 * (i + 1)) for i, meter in enumerate(meters))
    receipt = _submit(kit, batch)
    assert kit.outcomes(receipt) == [(m.meter_id, 1, "Accepted") for m in meters]
    for i, meter in enumerate(meters):
        assert kit.counters(meter.account)["generated"] == 1_000 * (i + 1)
        assert tuple(kit.ledger.functions.meter(meter.meter_id).call())[5:] == (1, meter.timestamp, 0, 1_000 * (i + 1))


def test_a_meter_of_another_gateway_is_rejected_alone(kit, meters, households):
    foreign = _register(kit, households[3].address, OTHER_GATEWAY)
    kit.advance(3600)
    batch = _unsigned(kit, meters[0], export_delta=500) + _unsigned(kit, foreign, export_delta=500) \
        + _unsigned(kit, meters[1], export_delta=500)
    receipt = _submit(kit, batch)
    assert kit.outcomes(receipt) == [(meters[0].meter_id, 1, "Accepted"), (foreign.meter_id, 1, "BadSignature"),
                                     (meters[1].meter_id, 1, "Accepted")]
    assert kit.ledger.functions.meter(foreign.meter_id).call()[5] == 0, "the foreign meter did not move"


def test_each_reading_keeps_its_own_rules(kit, meters):
    kit.advance(3600)
    first = _unsigned(kit, meters[0], export_delta=100)
    receipt = _submit(kit, first)
    assert kit.outcomes(receipt) == [(meters[0].meter_id, 1, "Accepted")]
    # The same batch again: harmless; a reading beyond the rated power: rejected alone.
    too_much = _unsigned(kit, meters[1], export_delta=10_000 * 3600)
    good = _unsigned(kit, meters[2], export_delta=10)
    receipt = _submit(kit, first + too_much + good)
    assert [reason for _, _, reason in kit.outcomes(receipt)] == ["AlreadyApplied", "ExceedsRatedPower", "Accepted"]


def test_a_batch_signed_for_another_ledger_or_altered_authenticates_nothing(kit, meters):
    kit.advance(3600)
    batch = _unsigned(kit, meters[0], export_delta=100)
    v, r, s = _sign(kit, batch)
    altered = batch[:-1] + bytes([batch[-1] ^ 1])
    receipt = kit.relayer.transact(kit.ledger.functions.submitBatch(altered, v, r, s))
    assert [reason for _, _, reason in kit.outcomes(receipt)] == ["BadSignature"]
    other_domain = ReadingDomain(kit.chain_id + 1, kit.ledger.address)
    signed = ReadingSigner(bytes(GATEWAY.key), other_domain).sign_batch(batch)
    receipt = kit.relayer.transact(kit.ledger.functions.submitBatch(*signed.args()))
    assert [reason for _, _, reason in kit.outcomes(receipt)] == ["BadSignature"]


def test_malformed_batches_and_signatures_revert_with_the_values(kit, meters):
    batch = _unsigned(kit, meters[0], export_delta=1)
    v, r, s = _sign(kit, batch)
    submit = kit.ledger.functions.submitBatch
    with pytest.raises(TxFailed) as err:
        kit.relayer.transact(submit(batch + b"\x00", v, r, s))
    assert err.value.error == "LedgerMalformedBatch" and err.value.args_ == (41, 40)
    with pytest.raises(TxFailed) as err:
        kit.relayer.transact(submit(b"", v, r, s))
    assert err.value.error == "LedgerEmptyBatch"
    with pytest.raises(TxFailed) as err:
        kit.relayer.transact(submit(batch, 29, r, s))
    assert err.value.error == "LedgerBadBatchSignature"


def test_the_python_signer_and_the_contract_agree_on_the_digest(kit):
    domain = ReadingDomain(kit.chain_id, kit.ledger.address)
    records = MeterReading(7, 1, 1_700_000_000, 5, 6, 0).unsigned_record() * 3
    assert kit.ledger.functions.batchDigest(records).call() == domain.batch_digest(records)


def test_exactly_one_battery_meter(kit, households):
    """M-1: a second battery meter could clear a real deficit, or halt minting for everyone."""
    first = _register(kit, households[0].address, GATEWAY, kind=BATTERY_METER)
    assert kit.ledger.functions.batteryMeterId().call() == first.meter_id
    with pytest.raises(TxFailed) as err:
        kit.registrar.transact(kit.ledger.functions.registerMeter(
            99, OTHER_GATEWAY.address, households[1].address, BATTERY_METER, 10_000, 0, 0))
    assert err.value.error == "LedgerBatteryMeterExists" and err.value.args_ == (first.meter_id,)
    # A revoked battery meter can be replaced; the new one is then the one.
    kit.registrar.transact(kit.ledger.functions.revokeMeter(first.meter_id))
    second = _register(kit, households[1].address, GATEWAY, kind=BATTERY_METER)
    assert kit.ledger.functions.batteryMeterId().call() == second.meter_id


def test_a_battery_that_refuses_rejects_only_the_readings_it_concerns(kit, meters, admin, operator):
    """A revert in the battery (a pause, say) used to revert the whole batch."""
    battery_meter = _register(kit, operator.address, GATEWAY, kind=BATTERY_METER, rated_power_w=1_000_000)
    kit.advance(3600)
    kit.relayer.transact(kit.ledger.functions.submitBatch(*_signed(kit, [
        _unsigned(kit, meters[0], export_delta=1_000), _unsigned(kit, battery_meter, soc=900)])))
    first_reading_at = meters[0].timestamp
    admin.transact(kit.battery.functions.pause())
    kit.advance(3600)
    flows = _unsigned(kit, meters[0], export_delta=2_000)
    idle = _unsigned(kit, meters[1])  # no energy moved: the battery is not asked
    charge = _unsigned(kit, battery_meter, soc=2_700)
    receipt = kit.relayer.transact(kit.ledger.functions.submitBatch(*_signed(kit, [flows, idle, charge])))
    assert [reason for _, _, reason in kit.outcomes(receipt)] == ["BatteryRefused", "Accepted", "BatteryRefused"]
    assert tuple(kit.ledger.functions.meter(meters[0].meter_id).call())[5:] == (1, first_reading_at, 0, 1_000), \
        "the meter kept its last state"
    admin.transact(kit.battery.functions.unpause())
    kit.advance(3600)
    # The next reading carries the refused one's energy: nothing was lost.
    later = _unsigned(kit, meters[0], export_delta=500)
    later = later[:4] + (2).to_bytes(4, "big") + later[8:]  # the refused seq 2 was never applied
    receipt = kit.relayer.transact(kit.ledger.functions.submitBatch(*_signed(kit, [later])))
    assert [reason for _, _, reason in kit.outcomes(receipt)] == ["Accepted"]
    assert kit.counters(meters[0].account)["generated"] == 3_500


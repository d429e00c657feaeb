"""MeterLedger: every acceptance rule and every rejection reason, batches, the registry."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

from energo.constants import WATT_PER_WH as WH
from energo.facts import REGISTRAR_ROLE
from energo.tx import TxFailed

MAX_40 = 2**40 - 1
BATTERY_METER = 1
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def only(kit, receipt):
    (outcome,) = kit.outcomes(receipt)
    return outcome[2]


def test_good_reading_is_accepted_and_applied(kit, households):
    meter = kit.register(households[0].address, import_wh=1_000, export_wh=500)
    kit.advance(900)
    receipt = kit.submit(kit.next_record(meter, import_delta=0, export_delta=2_000))
    assert kit.outcomes(receipt) == [(meter.meter_id, 1, "Accepted")]
    (event,) = kit.events(kit.ledger, "ReadingAccepted", receipt)
    assert event == {"meterId": meter.meter_id, "seq": 1, "timestamp": meter.timestamp, "importWh": 1_000,
                     "exportWh": 2_500}
    stored = list(kit.ledger.functions.meter(meter.meter_id).call())
    assert stored[4:] == [10_000, 1, meter.timestamp, 1_000, 2_500]
    assert kit.battery.functions.balanceOf(households[0].address).call() == 1_900 * WH  # 95 %


def test_registers_at_installation_never_mint(kit, households):
    meter = kit.register(households[0].address, export_wh=7_000_000)
    kit.advance(900)
    kit.submit(kit.next_record(meter, export_delta=100))
    assert kit.counters(households[0].address)["generated"] == 100


def test_forged_signature_is_rejected(kit, households, attacker):
    meter = kit.register(households[0].address)
    kit.advance(900)
    forged = kit.record(meter, 1, kit.now(), 0, 1_000, key=Account.from_key(b"\x01" * 32))
    assert only(kit, kit.submit(forged, sender=attacker)) == "BadSignature"
    assert kit.battery.functions.balanceOf(households[0].address).call() == 0


@pytest.mark.parametrize("tamper", ["high_s", "bad_v", "zero_r"])
def test_malformed_and_malleable_signatures_are_rejections_not_reverts(kit, households, tamper):
    meter = kit.register(households[0].address)
    kit.advance(900)
    good = bytearray(kit.record(meter, 1, kit.now(), 0, 1_000))
    s = int.from_bytes(good[72:104], "big")
    if tamper == "high_s":  # the same signature, other half of the curve: ecrecover accepts it
        good[72:104] = (SECP256K1_N - s).to_bytes(32, "big")
        good[104] = 55 - good[104]
    elif tamper == "bad_v":
        good[104] = 29
    else:
        good[40:72] = bytes(32)
    assert only(kit, kit.submit(bytes(good))) == "BadSignature"


def test_signature_for_another_chain_is_rejected(kit, households):
    meter = kit.register(households[0].address)
    kit.advance(900)
    other_chain = kit.record(meter, 1, kit.now(), 0, 1_000, chain_id=81)  # Qtum mainnet
    assert only(kit, kit.submit(other_chain)) == "BadSignature"


def test_signature_for_another_contract_is_rejected(kit, households):
    meter = kit.register(households[0].address)
    kit.advance(900)
    other = kit.record(meter, 1, kit.now(), 0, 1_000, contract=kit.battery.address)
    assert only(kit, kit.submit(other)) == "BadSignature"


def test_replayed_reading_is_harmless(kit, households):
    meter = kit.register(households[0].address)
    kit.advance(900)
    record = kit.next_record(meter, export_delta=1_000)
    assert only(kit, kit.submit(record)) == "Accepted"
    balance = kit.battery.functions.balanceOf(households[0].address).call()
    kit.advance(60)
    assert only(kit, kit.submit(record)) == "AlreadyApplied"
    assert kit.battery.functions.balanceOf(households[0].address).call() <= balance
    assert kit.counters(households[0].address)["generated"] == 1_000


def test_lower_sequence_number_is_already_applied(kit, households):
    meter = kit.register(households[0].address)
    kit.advance(900)
    kit.submit(kit.next_record(meter, export_delta=10))
    kit.advance(900)
    stale = kit.record(meter, 1, kit.now(), 0, 20)
    assert only(kit, kit.submit(stale)) == "AlreadyApplied"


def test_unregistered_meter_is_rejected(kit, households):
    meter = kit.register(households[0].address)
    meter.meter_id = 999
    kit.advance(900)
    assert kit.outcomes(kit.submit(kit.next_record(meter, export_delta=1))) == [(999, 1, "UnknownMeter")]


def test_revoked_meter_is_rejected(kit, households, registrar):
    meter = kit.register(households[0].address)
    receipt = registrar.transact(kit.ledger.functions.revokeMeter(meter.meter_id))
    assert kit.events(kit.ledger, "MeterRevoked", receipt) == [{"meterId": meter.meter_id}]
    kit.advance(900)
    assert only(kit, kit.submit(kit.next_record(meter, export_delta=1))) == "MeterRevoked"
    assert kit.ledger.functions.meter(meter.meter_id).call()[3] is False


def test_registers_going_down_are_rejected(kit, households):
    meter = kit.register(households[0].address, import_wh=5_000, export_wh=5_000)
    kit.advance(900)
    assert only(kit, kit.submit(kit.record(meter, 1, kit.now(), 4_999, 5_000))) == "RegisterDecreased"
    assert only(kit, kit.submit(kit.record(meter, 1, kit.now(), 5_000, 4_999))) == "RegisterDecreased"


def test_more_energy_than_rated_power_allows_is_rejected(kit, households):
    meter = kit.register(households[0].address, rated_power_w=3_600)  # 1 Wh per second
    start = meter.timestamp
    kit.advance(100)
    ts = start + 100
    assert only(kit, kit.submit(kit.record(meter, 1, ts, 40, 61))) == "ExceedsRatedPower"
    assert only(kit, kit.submit(kit.record(meter, 1, ts, 40, 60))) == "Accepted"  # exactly at the limit


def test_timestamp_in_the_future_is_rejected(kit, households):
    meter = kit.register(households[0].address)
    skew = kit.ledger.functions.maxClockSkew().call()
    far = kit.now() + skew + 60
    assert only(kit, kit.submit(kit.record(meter, 1, far, 0, 1))) == "TimestampInFuture"


def test_timestamp_not_after_last_is_rejected(kit, households):
    meter = kit.register(households[0].address)
    kit.advance(900)
    kit.submit(kit.next_record(meter, export_delta=1))
    same = kit.record(meter, 2, meter.timestamp, 0, 2)
    assert only(kit, kit.submit(same)) == "TimestampNotAfterLast"
    before_registration = kit.record(meter, 2, meter.timestamp - 10_000, 0, 2)
    assert only(kit, kit.submit(before_registration)) == "TimestampNotAfterLast"


def test_zero_deltas_are_accepted_and_change_nothing(kit, households):
    meter = kit.register(households[0].address, import_wh=10, export_wh=10)
    kit.advance(900)
    assert only(kit, kit.submit(kit.next_record(meter))) == "Accepted"
    assert kit.ledger.functions.meter(meter.meter_id).call()[5] == 1
    assert kit.counters(households[0].address) == dict.fromkeys(kit.counters(households[0].address), 0)


def test_maximum_register_values(kit, households, registrar):
    huge = 2**32 - 1  # W: ~4.3 GW, so the rated-power rule lets the maximum through
    meter = kit.register(households[0].address, rated_power_w=huge, import_wh=MAX_40 - 10)
    kit.advance(900)
    assert only(kit, kit.submit(kit.record(meter, 1, kit.now(), MAX_40, 0))) == "Accepted"
    assert kit.ledger.functions.meter(meter.meter_id).call()[7] == MAX_40
    kit.advance(900)
    assert only(kit, kit.submit(kit.record(meter, 2, kit.now(), MAX_40 + 1, 0))) == "ValueOutOfRange"
    assert only(kit, kit.submit(kit.record(meter, 2, kit.now(), MAX_40, 0, soc=2**64 - 1))) == "ValueOutOfRange"
    with pytest.raises(TxFailed) as err:
        registrar.transact(kit.ledger.functions.registerMeter(77, households[1].address, households[1].address,
                                                              0, 1_000, MAX_40 + 1, 0))
    assert err.value.error == "LedgerRegisterTooLarge" and err.value.args_ == (MAX_40 + 1, MAX_40)


def test_a_bad_reading_does_not_block_the_rest_of_the_batch(kit, households):
    meters = [kit.register(h.address) for h in households[:3]]
    kit.advance(900)
    good_a = kit.next_record(meters[0], export_delta=100)
    forged = kit.record(meters[1], 1, kit.now(), 0, 100, key=Account.from_key(b"\x02" * 32))
    good_c = kit.next_record(meters[2], import_delta=5, export_delta=200)
    receipt = kit.submit(good_a, forged, good_c)
    assert kit.outcomes(receipt) == [(meters[0].meter_id, 1, "Accepted"), (meters[1].meter_id, 1, "BadSignature"),
                                     (meters[2].meter_id, 1, "Accepted")]
    assert kit.ledger.functions.submitReadings(good_a + forged + good_c).call() == 0  # all now stale or forged


def test_several_readings_of_one_meter_in_one_batch(kit, households):
    meter = kit.register(households[0].address)
    kit.advance(1_800)
    now = kit.now()
    first = kit.next_record(meter, export_delta=100, timestamp=now - 900)
    second = kit.next_record(meter, export_delta=100, timestamp=now)
    assert [o[2] for o in kit.outcomes(kit.submit(second, first))] == ["Accepted", "AlreadyApplied"]


def test_malformed_and_empty_batches_revert(kit, households):
    with pytest.raises(TxFailed) as err:
        kit.submit(b"")
    assert err.value.error == "LedgerEmptyBatch"
    with pytest.raises(TxFailed) as err:
        kit.submit(b"\x00" * 104)
    assert err.value.error == "LedgerMalformedBatch" and err.value.args_ == (104, 105)


def test_digest_view_matches_eth_account(kit):
    fields = {"meterId": 7, "seq": 3, "timestamp": 1_700_000_000, "importWh": 12, "exportWh": 34,
              "stateOfChargeWh": 56}
    message = kit.typed_message(fields)
    expected = Web3.keccak(b"\x19" + message.version + message.header + message.body)
    assert kit.ledger.functions.readingDigest(tuple(fields.values())).call() == expected


def test_battery_meter_reports_state_of_charge(kit, operator):
    meter = kit.register(operator.address, kind=BATTERY_METER, rated_power_w=500_000)
    kit.advance(900)
    receipt = kit.submit(kit.next_record(meter, import_delta=1_000, soc=123_456))
    (event,) = kit.events(kit.battery, "StateOfChargeReported", receipt)
    assert event == {"stateOfChargeWh": 123_456, "supplyWh": 0}
    assert kit.battery.functions.lastStateOfChargeWh().call() == 123_456
    assert kit.battery.functions.balanceOf(operator.address).call() == 0  # a battery meter mints nothing


# ---------------------------------------------------------------- registry


def test_register_meter_records_everything(kit, households, registrar):
    signer = Account.from_key(b"\x03" * 32).address
    receipt = registrar.transact(kit.ledger.functions.registerMeter(42, signer, households[2].address, 0, 7_000, 11, 22))
    assert kit.events(kit.ledger, "MeterRegistered", receipt) == [
        {"meterId": 42, "account": households[2].address, "signer": signer, "kind": 0, "ratedPowerW": 7_000}]
    ts = kit.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert list(kit.ledger.functions.meter(42).call()) == [signer, households[2].address, 0, True, 7_000, 0, ts, 11, 22]


def test_meter_ids_are_paged_in_registration_order(kit, households):
    ids = [kit.register(h.address, meter_id=i).meter_id for i, h in zip((5, 3, 9, 4), households, strict=False)]
    assert kit.ledger.functions.meterCount().call() == 4
    assert kit.ledger.functions.meterIds(0, 10).call() == ids
    assert kit.ledger.functions.meterIds(1, 2).call() == ids[1:3]
    assert kit.ledger.functions.meterIds(4, 2).call() == []


@pytest.mark.parametrize("case", ["zero_id", "zero_signer", "zero_account", "zero_power", "exists", "revoked_id"])
def test_register_meter_validates(kit, households, registrar, case):
    h = households[0].address
    args = {"zero_id": (0, h, h, 0, 1, 0, 0), "zero_signer": (1, "0x" + "00" * 20, h, 0, 1, 0, 0),
            "zero_account": (1, h, "0x" + "00" * 20, 0, 1, 0, 0), "zero_power": (1, h, h, 0, 0, 0, 0),
            "exists": (5, h, h, 0, 1, 0, 0), "revoked_id": (6, h, h, 0, 1, 0, 0)}[case]
    expected = {"zero_id": ("LedgerZeroMeterId", ()), "zero_signer": ("LedgerZeroAddress", ()),
                "zero_account": ("LedgerZeroAddress", ()), "zero_power": ("LedgerInvalidRatedPower", (0,)),
                "exists": ("LedgerMeterExists", (5,)), "revoked_id": ("LedgerMeterExists", (6,))}[case]
    kit.register(h, meter_id=5)
    kit.register(h, meter_id=6)
    registrar.transact(kit.ledger.functions.revokeMeter(6))
    with pytest.raises(TxFailed) as err:
        registrar.transact(kit.ledger.functions.registerMeter(*args))
    assert (err.value.error, err.value.args_) == expected


def test_revoke_errors(kit, households, registrar):
    with pytest.raises(TxFailed) as err:
        registrar.transact(kit.ledger.functions.revokeMeter(8))
    assert (err.value.error, err.value.args_) == ("LedgerUnknownMeter", (8,))
    kit.register(households[0].address, meter_id=8)
    registrar.transact(kit.ledger.functions.revokeMeter(8))
    with pytest.raises(TxFailed) as err:
        registrar.transact(kit.ledger.functions.revokeMeter(8))
    assert (err.value.error, err.value.args_) == ("LedgerMeterAlreadyRevoked", (8,))


def test_roles_are_enforced_on_the_ledger(kit, attacker, households, admin):
    h = households[0].address
    calls = {
        REGISTRAR_ROLE: [kit.ledger.functions.registerMeter(1, h, h, 0, 1, 0, 0), kit.ledger.functions.revokeMeter(1)],
        b"\x00" * 32: [kit.ledger.functions.setMaxClockSkew(10)],
        Web3.keccak(text="PAUSER_ROLE"): [kit.ledger.functions.pause()],
    }
    for role, fns in calls.items():
        for fn in fns:
            with pytest.raises(TxFailed) as err:
                attacker.transact(fn)
            assert err.value.error == "AccessControlUnauthorizedAccount"
            assert err.value.args_ == (attacker.address, bytes(role))


def test_clock_skew_is_bounded(kit, admin):
    receipt = admin.transact(kit.ledger.functions.setMaxClockSkew(300))
    assert kit.events(kit.ledger, "MaxClockSkewChanged", receipt) == [{"oldSeconds": 120, "newSeconds": 300}]
    with pytest.raises(TxFailed) as err:
        admin.transact(kit.ledger.functions.setMaxClockSkew(3_601))
    assert (err.value.error, err.value.args_) == ("LedgerClockSkewTooLarge", (3_601, 3_600))


def test_pause_stops_readings(kit, households, admin):
    meter = kit.register(households[0].address)
    admin.transact(kit.ledger.functions.pause())
    kit.advance(900)
    with pytest.raises(TxFailed) as err:
        kit.submit(kit.next_record(meter, export_delta=1))
    assert err.value.error == "EnforcedPause"
    admin.transact(kit.ledger.functions.unpause())
    assert only(kit, kit.submit(kit.record(meter, meter.seq, meter.timestamp, 0, 1))) == "Accepted"

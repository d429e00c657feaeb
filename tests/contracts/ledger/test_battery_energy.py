"""SharedBattery energy ledger: minting from export, spill, burn on import, reserve."""

from __future__ import annotations

import pytest

from energo.constants import TSL
from energo.constants import WATT_PER_WH as WH
from energo.tx import TxFailed

BATTERY_METER = 1


def test_export_mints_at_charge_efficiency(kit, households):
    meter = kit.register(households[0].address)
    receipt = kit.charge(meter, 1_001)
    stored = 1_001 * 9_500 // 10_000  # 950 Wh (floor); it took 1,000 Wh, the 1 Wh left over spills
    assert kit.battery.functions.balanceOf(households[0].address).call() == stored * WH
    assert kit.battery.functions.supplyWh().call() == stored
    assert kit.battery.functions.totalSupply().call() == stored * WH
    (mint,) = kit.events(kit.battery, "Transfer", receipt)
    assert mint == {"from": "0x" + "00" * 20, "to": households[0].address, "value": stored * WH}
    assert kit.counters(households[0].address) == {"generated": 1_001, "stored": 950, "from_battery": 0,
                                                   "from_grid": 0, "spilled": 1, "purchased": 0, "sold": 0}


def test_export_beyond_free_capacity_spills(kit, households, admin):
    admin.transact(kit.battery.functions.setCapacity(1_000))
    meter = kit.register(households[0].address)
    kit.charge(meter, 2_000)
    # 1,000 Wh stored took ceil(1000 * 10000 / 9500) = 1,053 Wh of export; the rest spilled.
    assert kit.counters(households[0].address)["stored"] == 1_000
    assert kit.counters(households[0].address)["spilled"] == 2_000 - 1_053
    assert kit.battery.functions.supplyWh().call() == 1_000
    kit.charge(meter, 500)  # battery full: everything spills
    assert kit.counters(households[0].address)["spilled"] == 947 + 500
    assert kit.battery.functions.supplyWh().call() == 1_000


def test_import_burns_owned_watt_then_grid_serves_the_rest(kit, households, treasury):
    kit.fund(treasury, households[0])
    kit.deposit(households[0], 10 * 10**18)  # prepaid rent: no rent in kind here
    meter = kit.register(households[0].address)
    kit.charge(meter, 1_000)  # 950 Wh stored
    kit.advance(900)
    receipt = kit.submit(kit.next_record(meter, import_delta=1_200))
    assert kit.counters(households[0].address)["from_battery"] == 950
    assert kit.counters(households[0].address)["from_grid"] == 250
    assert kit.battery.functions.balanceOf(households[0].address).call() == 0
    assert kit.battery.functions.supplyWh().call() == 0
    burns = kit.events(kit.battery, "Transfer", receipt)
    assert burns == [{"from": households[0].address, "to": "0x" + "00" * 20, "value": 950 * WH}]


def test_export_and_import_in_one_reading_net_out(kit, households, treasury):
    kit.fund(treasury, households[0])
    kit.deposit(households[0], 10 * 10**18)
    meter = kit.register(households[0].address)
    kit.advance(900)
    receipt = kit.submit(kit.next_record(meter, import_delta=300, export_delta=1_000))
    assert kit.counters(households[0].address)["stored"] == 950
    assert kit.counters(households[0].address)["from_battery"] == 300
    assert kit.battery.functions.balanceOf(households[0].address).call() == 650 * WH
    assert [e["value"] for e in kit.events(kit.battery, "Transfer", receipt)] == [650 * WH]


def test_locked_watt_is_not_burned_by_consumption(kit, households, treasury, market):
    kit.fund(treasury, households[0])
    kit.deposit(households[0], 10 * 10**18)
    meter = kit.register(households[0].address)
    kit.charge(meter, 1_000)  # 950 Wh
    market.transact(kit.battery.functions.lockWatt(households[0].address, 900 * WH))
    kit.advance(900)
    kit.submit(kit.next_record(meter, import_delta=100))
    assert kit.counters(households[0].address)["from_battery"] == 50
    assert kit.counters(households[0].address)["from_grid"] == 50
    assert kit.battery.functions.balanceOf(households[0].address).call() == 900 * WH


def test_state_of_charge_deficit_halts_minting_until_restored(kit, households, operator):
    meter = kit.register(households[0].address)
    battery_meter = kit.register(operator.address, kind=BATTERY_METER, rated_power_w=1_000_000)
    kit.charge(meter, 10_000)  # 9,500 Wh supply
    tolerance = kit.battery.functions.reserveToleranceWh().call()
    kit.advance(60)
    receipt = kit.submit(kit.next_record(battery_meter, soc=9_500 - tolerance - 1))
    assert kit.events(kit.battery, "ReserveDeficit", receipt) == [
        {"supplyWh": 9_500, "stateOfChargeWh": 9_500 - tolerance - 1, "deficitWh": tolerance + 1}]
    assert kit.battery.functions.mintingHalted().call() is True
    kit.charge(meter, 1_000)
    assert kit.battery.functions.supplyWh().call() == 9_500  # nothing minted: all spilled
    assert kit.counters(households[0].address)["spilled"] == 1_000
    kit.advance(60)
    receipt = kit.submit(kit.next_record(battery_meter, soc=9_500 - tolerance))  # back within tolerance
    assert kit.events(kit.battery, "ReserveRestored", receipt) == [{"supplyWh": 9_500,
                                                                     "stateOfChargeWh": 9_500 - tolerance}]
    assert kit.battery.functions.mintingHalted().call() is False
    kit.charge(meter, 1_000)
    assert kit.battery.functions.supplyWh().call() == 10_450


def test_deficit_is_reported_again_while_it_lasts(kit, households, operator):
    meter = kit.register(households[0].address)
    battery_meter = kit.register(operator.address, kind=BATTERY_METER, rated_power_w=1_000_000)
    kit.charge(meter, 10_000)
    for _ in range(2):
        kit.advance(60)
        receipt = kit.submit(kit.next_record(battery_meter, soc=0))
        assert [e["deficitWh"] for e in kit.events(kit.battery, "ReserveDeficit", receipt)] == [9_500]


def test_only_the_ledger_moves_energy(kit, attacker, admin, households):
    for fn in (kit.battery.functions.recordFlows(attacker.address, 1_000, 0),
               kit.battery.functions.reportStateOfCharge(0)):
        for sender in (attacker, admin):
            with pytest.raises(TxFailed) as err:
                sender.transact(fn)
            assert (err.value.error, err.value.args_) == ("BatteryNotLedger", (sender.address,))


def test_ledger_binds_once_and_only_a_matching_ledger(kit, admin, system):
    with pytest.raises(TxFailed) as err:
        admin.transact(kit.battery.functions.bindLedger(kit.ledger.address))
    assert (err.value.error, err.value.args_) == ("BatteryLedgerAlreadyBound", (kit.ledger.address,))
    from energo_deploy.system import SystemConfig
    c = SystemConfig()
    fresh = admin.deploy("SharedBattery", admin.address, system.tsl.address, admin.address, c.capacity_wh,
                         c.charge_efficiency_bps, c.rent_per_watt_day, c.utility_price, c.reserve_tolerance_wh,
                         c.battery_limits())
    with pytest.raises(TxFailed) as err:  # kit.ledger belongs to the other battery
        admin.transact(fresh.functions.bindLedger(kit.ledger.address))
    assert (err.value.error, err.value.args_) == ("BatteryLedgerMismatch", (kit.ledger.address,))


def test_admin_settings_validate(kit, admin):
    b = kit.battery.functions
    cases = [
        (b.setChargeEfficiency(0), "BatteryInvalidEfficiency", (0,)),
        (b.setChargeEfficiency(10_001), "BatteryInvalidEfficiency", (10_001,)),
        (b.setUtilityPrice(0), "BatteryUtilityPriceOutOfRange", (0, TSL // 100, 10 * TSL)),
        # the rate's ceiling is 20 % of the 0.60 TSL utility price per day (below MAX_RENT_PER_WATT_DAY)
        (b.setRentRate(10**19 + 1), "BatteryRentRateTooHigh", (10**19 + 1, 12 * TSL // 100)),
        (b.setReserveTolerance(2**40), "BatteryAmountTooLarge", (2**40, 2**40 - 1)),
        (b.setOperator("0x" + "00" * 20), "BatteryZeroAddress", ()),
    ]
    for fn, error, args in cases:
        with pytest.raises(TxFailed) as err:
            admin.transact(fn)
        assert (err.value.error, err.value.args_) == (error, args)
    receipt = admin.transact(b.setChargeEfficiency(9_000))
    assert kit.events(kit.battery, "ChargeEfficiencyChanged", receipt) == [{"oldBps": 9_500, "newBps": 9_000}]
    receipt = admin.transact(b.setCapacity(123))
    assert kit.events(kit.battery, "CapacityChanged", receipt) == [{"oldCapacityWh": 500_000, "newCapacityWh": 123}]


def test_capacity_cannot_drop_below_supply(kit, households, admin):
    meter = kit.register(households[0].address)
    kit.charge(meter, 1_000)
    with pytest.raises(TxFailed) as err:
        admin.transact(kit.battery.functions.setCapacity(949))
    assert (err.value.error, err.value.args_) == ("BatteryCapacityBelowSupply", (949, 950))


def test_admin_functions_need_the_admin_role(kit, attacker, households):
    b = kit.battery.functions
    admin_role = b"\x00" * 32
    for fn in (b.setRentRate(1), b.setUtilityPrice(1), b.setCapacity(1), b.setChargeEfficiency(1),
               b.setReserveTolerance(1), b.setOperator(attacker.address), b.bindLedger(attacker.address)):
        with pytest.raises(TxFailed) as err:
            attacker.transact(fn)
        assert err.value.args_ == (attacker.address, admin_role)
        assert err.value.error == "AccessControlUnauthorizedAccount"
    market_role = kit.battery.functions.MARKET_ROLE().call()
    for fn in (b.lockWatt(households[0].address, WH), b.unlockWatt(households[0].address, WH),
               b.lockTsl(households[0].address, 1), b.unlockTsl(households[0].address, 1),
               b.settleFill((households[0].address, households[1].address, WH, 1, 0, households[2].address,
                             False, False))):
        with pytest.raises(TxFailed) as err:
            attacker.transact(fn)
        assert (err.value.error, err.value.args_) == ("AccessControlUnauthorizedAccount",
                                                       (attacker.address, market_role))


def test_token_metadata(kit):
    b = kit.battery.functions
    assert (b.name().call(), b.symbol().call(), b.decimals().call()) == ("Energo WATT", "WATT", 18)

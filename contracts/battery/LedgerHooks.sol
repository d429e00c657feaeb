// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {BatterySettings} from "./BatterySettings.sol";
import {HoldingWord, EnergyWord, EnergyWordLib, TradeWord, TradeWordLib} from "./types/AccountWords.sol";
import {RentWord, RentWordLib, ConfigWord, CoreWord, ReserveWord} from "./types/GlobalWords.sol";

/// @title What the bound MeterLedger calls: a household's flows and the battery's charge
/// @notice Exports charge the battery (WATT minted, limited by free capacity; the rest
/// spills), imports are served from the account's spendable WATT (burned) and the grid
/// serves the rest. The battery meter's state of charge halts or resumes minting.
abstract contract LedgerHooks is BatterySettings {
    /// @inheritdoc ISharedBattery
    function recordFlows(address account, uint256 exportedWh, uint256 importedWh)
        external
        returns (uint256 storedWh, uint256 spilledWh, uint256 fromBatteryWh, uint256 fromGridWh)
    {
        // The hot path of every reading works on the packed words directly (no memory
        // structs): one read and one write of the holding, the energy and the rent word.
        CoreWord core = _core;
        _requireLedgerUnpaused(core);
        // The rent word is read once and written once per reading: the accrual, the rent
        // collected by the settlement and the supply change all go into this copy.
        (HoldingWord holding, RentWord rentWord, bool rentChanged) = _settleForReading(account);
        EnergyWord energy = _energy[account]; // read after settling: rent in kind may shrink the lock
        uint256 supply = rentWord.supplyWh();
        // The ledger, the only caller (checked above), passes register deltas of 40-bit
        // registers: exportedWh, importedWh < 2^40. Every counter and the supply are
        // 40-bit fields, so no sum or product below comes near 2^256.
        unchecked {
            if (exportedWh != 0) {
                (storedWh, spilledWh) = _charge(exportedWh, core, supply);
                energy = energy.addCounter(EnergyWordLib.GENERATED, exportedWh);
                energy = energy.addCounter(EnergyWordLib.STORED, storedWh);
                energy = energy.addCounter(EnergyWordLib.SPILLED, spilledWh);
                // storedWh <= free capacity: the supply stays <= capacity < 2^40 Wh and the
                // balance (<= supply * WH < 2^88) cannot carry out of its field.
                supply += storedWh;
                holding = holding.addWatt(storedWh * WH);
            }
            if (importedWh != 0) {
                // The lock never exceeds the balance (locks are taken from spendable WATT
                // and rent in kind shrinks the lock with the balance): no underflow.
                uint256 spendableWh = (holding.watt() - energy.lockedWh() * WH) / WH;
                fromBatteryWh = importedWh < spendableWh ? importedWh : spendableWh;
                // fromBatteryWh <= importedWh by the line above.
                fromGridWh = importedWh - fromBatteryWh;
                energy = energy.addCounter(EnergyWordLib.FROM_BATTERY, fromBatteryWh);
                energy = energy.addCounter(EnergyWordLib.FROM_GRID, fromGridWh);
                // fromBatteryWh <= the account's spendable balance <= its balance <= supply.
                supply -= fromBatteryWh;
                // fromBatteryWh * WH <= the spendable balance, so the field cannot borrow.
                holding = holding.subWatt(fromBatteryWh * WH);
            }
        }
        _holdings[account] = holding;
        _energy[account] = energy;
        if (storedWh != fromBatteryWh) {
            rentChanged = true;
            rentWord = rentWord.withSupplyWh(supply);
            // One Transfer for the net change, as the ERC-20 sees only the net.
            // Neither subtraction can underflow: each runs only when it is positive.
            unchecked {
                if (storedWh > fromBatteryWh) _update(address(0), account, (storedWh - fromBatteryWh) * WH);
                else _update(account, address(0), (fromBatteryWh - storedWh) * WH);
            }
        }
        if (rentChanged) _rent = rentWord;
    }

    /// @inheritdoc ISharedBattery
    function reportStateOfCharge(uint256 stateOfChargeWh) external {
        CoreWord core = _core;
        _requireLedgerUnpaused(core);
        uint256 supply = _rent.supplyWh();
        ReserveWord reserve = _reserve;
        _reserve = reserve.withStateOfChargeWh(stateOfChargeWh);
        emit StateOfChargeReported(stateOfChargeWh, supply);
        bool halted = core.mintingHalted();
        if (supply > stateOfChargeWh + reserve.toleranceWh()) {
            if (!halted) _core = core.withMintingHalted();
            emit ReserveDeficit(supply, stateOfChargeWh, supply - stateOfChargeWh);
        } else if (halted) {
            _core = core.withoutMintingHalted();
            emit ReserveRestored(supply, stateOfChargeWh);
        }
    }

    /// @inheritdoc ISharedBattery
    function countersOf(address account) external view returns (EnergyCounters memory c) {
        EnergyWord e = _energy[account];
        TradeWord t = _trades[account];
        c = EnergyCounters({
            generatedWh: uint64(e.field(EnergyWordLib.GENERATED)),
            storedWh: uint64(e.field(EnergyWordLib.STORED)),
            consumedFromBatteryWh: uint64(e.field(EnergyWordLib.FROM_BATTERY)),
            consumedFromGridWh: uint64(e.field(EnergyWordLib.FROM_GRID)),
            spilledWh: uint64(e.field(EnergyWordLib.SPILLED)),
            purchasedWh: uint64(t.field(TradeWordLib.PURCHASED)),
            soldWh: uint64(t.field(TradeWordLib.SOLD))
        });
    }

    /// @dev recordFlows' settlement: the rent index brought up to now and the account's
    /// rent settled as `_accrue` + `_settledWord` do, but the rent word is returned (with
    /// the new index and the collected rent) instead of written; `changed` tells whether
    /// it differs from storage.
    function _settleForReading(address account) private returns (HoldingWord holding, RentWord rentWord, bool changed) {
        ConfigWord config = _config;
        RentWord stored = _rent;
        uint256 index;
        (index, rentWord) = _accruedWord(stored, config);
        uint256 collected;
        (holding, collected) = _settleCore(account, index, config);
        // Collected rent is at most the TSL supply, below its 96 bits (7.9e28): the sum
        // stays inside the top field (the same bound as in `_settledWord`).
        rentWord = RentWord.wrap(RentWord.unwrap(rentWord) + (collected << RentWordLib.COLLECTED_OFFSET));
        changed = !rentWord.eq(stored);
    }

    /// @dev What an export charges into the battery and what spills: nothing is stored
    /// while minting is halted; otherwise export x efficiency, limited by free capacity.
    function _charge(uint256 exportedWh, CoreWord core, uint256 supply)
        private
        pure
        returns (uint256 storedWh, uint256 spilledWh)
    {
        if (core.mintingHalted()) return (0, exportedWh);
        uint256 efficiency = core.chargeEfficiencyBps();
        uint256 capacity = core.capacityWh();
        // exportedWh < 2^40 (a register delta from the ledger) and 1 <= efficiency <= 10^4
        // (checked when set), so no product overflows and no divisor is zero; room is
        // taken only when positive; the spill cannot underflow (see below).
        unchecked {
            storedWh = exportedWh * efficiency / _BPS;
            uint256 room = capacity > supply ? capacity - supply : 0;
            if (storedWh > room) storedWh = room;
            // The energy that went into storing storedWh, rounded up: never more than
            // exportedWh, since storedWh <= exportedWh * efficiency / 10000.
            spilledWh = exportedWh - (storedWh * _BPS + efficiency - 1) / efficiency;
        }
    }
}

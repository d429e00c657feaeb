// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {HoldingWord, HoldingWordLib, EnergyWord, TradeWord} from "./types/AccountWords.sol";
import {RentWord, ConfigWord, CoreWord, ReserveWord, MAX_40} from "./types/GlobalWords.sol";

/// @title The battery's constants, storage and guards, shared by its concepts
/// @notice Every state variable of the SharedBattery is declared here, in its slot order
/// (after AccessControl's roles), so the concepts that compose it share one layout.
/// See docs/ledger.md, "Storage layout".
abstract contract BatteryStorage is ISharedBattery, AccessControl {
    // ---------------------------------------------------------------- constants

    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice WATT base units in one Wh.
    uint256 public constant WH = 1e15;
    /// @notice Above this the rent index could outgrow its 80 bits within 300 years.
    uint256 public constant MAX_RENT_PER_WATT_DAY = 1e19;
    /// @notice Keeps every WATT balance (at most the supply) within its 88 bits.
    uint256 public constant MAX_CAPACITY_WH = HoldingWordLib.MAX_88 / WH;

    uint256 internal constant _BPS = 10_000;

    IERC20 public immutable TSL;

    // ---------------------------------------------------------------- storage

    /// Per account: the rent-bearing word.
    mapping(address account => HoldingWord) internal _holdings;
    /// Per account: the lock and the energy counters.
    mapping(address account => EnergyWord) internal _energy;
    /// Per account: locked TSL and the trade counters.
    mapping(address account => TradeWord) internal _trades;
    mapping(address owner => mapping(address spender => uint256)) internal _allowances;

    // Global state in four words, grouped by who needs them: a reading or a transfer
    // touches only the first three (see docs/ledger.md, "Storage layout").
    RentWord internal _rent;
    ConfigWord internal _config;
    CoreWord internal _core;
    ReserveWord internal _reserve;

    constructor(address tsl_) {
        TSL = IERC20(tsl_);
    }

    modifier whenNotPaused() {
        _requireNotPaused(_core);
        _;
    }

    /// @dev WATT `account` holds but has not locked: its balance minus its lock.
    function _spendable(HoldingWord holding, EnergyWord energy) internal pure returns (uint256) {
        // lockedWh < 2^40, so the product is below 2^90; the lock never exceeds the balance
        // (locks are taken from spendable WATT and rent in kind shrinks the lock with the
        // balance), so the subtraction cannot underflow.
        unchecked {
            return holding.watt() - energy.lockedWh() * WH;
        }
    }

    function _requireNotPaused(CoreWord core) internal pure {
        if (core.paused()) revert EnforcedPause();
    }

    /// @dev The ledger hooks' guard: the caller is the bound ledger and the battery is not
    /// paused (checked in that order), in one call.
    function _requireLedgerUnpaused(CoreWord core) internal view {
        if (msg.sender != core.ledger()) revert BatteryNotLedger(msg.sender);
        if (core.paused()) revert EnforcedPause();
    }

    function _requireWholeWh(uint256 wattAmount) internal pure {
        if (wattAmount % WH != 0) revert BatteryNotWholeWh(wattAmount);
    }

    /// @dev An amount within a 40-bit field, or BatteryAmountTooLarge.
    function _requireWithin40(uint256 amount) internal pure {
        if (amount > MAX_40) revert BatteryAmountTooLarge(amount, MAX_40);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {HoldingWord, HoldingWordLib, EnergyWord, TradeWord} from "./types/AccountWords.sol";
import {RentWord, ConfigWord, CoreWord, ReserveWord, MAX_40, MAX_96} from "./types/GlobalWords.sol";

/// @dev What a market contract answers; MARKET_ROLE goes only to one bound to this battery.
interface IBoundToBattery {
    function battery() external view returns (address);
}

/// @title The battery's constants, storage and guards, shared by its concepts
/// @notice Every state variable of the SharedBattery is declared here, in its slot order
/// (after AccessControlDefaultAdminRules' roles and admin transfer), so the concepts that
/// compose it share one layout. See docs/ledger.md, "Storage layout".
/// @dev The admin is OpenZeppelin's two-step default admin: a transfer is begun by the
/// admin and accepted by the new admin after `Limits.adminDelay`. MARKET_ROLE is only
/// for contracts that name this battery as theirs; revoking it retires the market (it
/// keeps unlocking and settling from locks, so its escrow is never stranded).
abstract contract BatteryStorage is ISharedBattery, AccessControlDefaultAdminRules {
    // ---------------------------------------------------------------- constants

    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice WATT base units in one Wh.
    uint256 public constant WH = 1e15;
    /// @notice Above this the rent index could outgrow its 80 bits within 300 years.
    uint256 public constant MAX_RENT_PER_WATT_DAY = 1e19;
    /// @notice Keeps every WATT balance (at most the supply) within its 88 bits.
    uint256 public constant MAX_CAPACITY_WH = HoldingWordLib.MAX_88 / WH;

    /// @notice The most free TSL a deposit may leave an account with: half the field, so
    /// proceeds never make a fill paying it revert (credit above the field is paid out).
    uint256 public constant MAX_DEPOSIT_TSL = HoldingWordLib.MAX_88 >> 1;

    uint256 internal constant _BPS = 10_000;

    IERC20 public immutable TSL;
    /// @notice Deploy-time bounds (see ISharedBattery.Limits).
    uint256 public immutable NAMEPLATE_WH;
    uint256 public immutable MIN_UTILITY_PRICE;
    uint256 public immutable MAX_UTILITY_PRICE;
    uint256 public immutable MAX_RENT_BPS_OF_PRICE;

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

    /// @dev One utility-price period, from the rent index at which it was set: rent paid
    /// in kind converts each period's rent at that period's price.
    struct PriceSegment {
        uint80 startIndex;
        uint96 price;
        /// WATT owed in kind per WATT held (1e18-scaled) from index 0 to `startIndex`.
        uint256 kindAtStart;
    }

    /// Every utility-price period, the current one last.
    PriceSegment[] internal _priceSegments;
    /// Markets whose MARKET_ROLE was revoked: they may still unlock and settle from locks.
    mapping(address market => bool) internal _retiredMarkets;

    constructor(address tsl_, address admin, Limits memory limits_)
        AccessControlDefaultAdminRules(limits_.adminDelay, admin)
    {
        if (
            limits_.minUtilityPrice == 0 || limits_.minUtilityPrice > limits_.maxUtilityPrice
                || limits_.maxUtilityPrice > MAX_96 || limits_.nameplateWh > MAX_CAPACITY_WH
                || limits_.maxRentBpsOfPrice > _BPS
        ) revert BatteryInvalidLimits();
        TSL = IERC20(tsl_);
        NAMEPLATE_WH = limits_.nameplateWh;
        MIN_UTILITY_PRICE = limits_.minUtilityPrice;
        MAX_UTILITY_PRICE = limits_.maxUtilityPrice;
        MAX_RENT_BPS_OF_PRICE = limits_.maxRentBpsOfPrice;
    }

    modifier whenNotPaused() {
        _requireNotPaused(_core);
        _;
    }

    /// @dev A market with MARKET_ROLE, or one retired from it (unlocks, settlement from locks).
    modifier onlyMarketOrRetired() {
        if (!hasRole(MARKET_ROLE, msg.sender) && !_retiredMarkets[msg.sender]) {
            revert AccessControlUnauthorizedAccount(msg.sender, MARKET_ROLE);
        }
        _;
    }

    /// @dev MARKET_ROLE only for a contract bound to this battery (never an EOA); any
    /// other role as OpenZeppelin grants it.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        if (role == MARKET_ROLE) {
            if (account.code.length == 0) revert BatteryNotAMarket(account);
            try IBoundToBattery(account).battery() returns (address bound) {
                if (bound != address(this)) revert BatteryNotAMarket(account);
            } catch {
                revert BatteryNotAMarket(account);
            }
            delete _retiredMarkets[account];
        }
        return super._grantRole(role, account);
    }

    /// @dev Revoking MARKET_ROLE retires the market instead of stranding its escrow.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == MARKET_ROLE) _retiredMarkets[account] = true;
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

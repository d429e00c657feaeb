// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/// @title The shared community battery: WATT, storage rent and the TSL escrow
/// @notice WATT is an ERC-20 with 18 decimals; 1 WATT = 1 kWh held in the battery, so
/// 1 Wh = 1e15 base units. WATT is minted and burned only by the bound MeterLedger from
/// verified meter readings; no account, the admin included, can mint it otherwise.
/// The battery is also the escrow of deposited TSL: free deposits prepay storage rent,
/// locked deposits back open buy orders. Storage rent accrues continuously on every
/// WATT an account owns (locked WATT included) through a cumulative index, and is
/// settled lazily in O(1) whenever the account's balance changes.
interface ISharedBattery is IERC20Metadata {
    // ---------------------------------------------------------------- types

    /// @notice What the app's main screen shows, all energy in Wh.
    struct EnergyCounters {
        uint64 generatedWh; // exported by the household's meters
        uint64 storedWh; // charged into the battery (WATT minted)
        uint64 consumedFromBatteryWh; // imports served from owned WATT (burned)
        uint64 consumedFromGridWh; // imports served by the utility grid
        uint64 spilledWh; // exports that found no room and went to the grid
        uint64 purchasedWh; // bought in a market
        uint64 soldWh; // sold in a market
    }

    /// @notice One fill, as a market asks the battery to settle it.
    /// @dev `wattAmount` is a whole number of Wh (a multiple of 1e15 base units).
    /// `feeTsl` is taken from the seller's proceeds and credited to `feeRecipient`'s
    /// free deposit. When `sellerLocked` the WATT comes out of the seller's lock,
    /// otherwise out of the seller's spendable WATT; likewise `buyerLocked` for TSL
    /// (out of the buyer's locked TSL, otherwise out of the buyer's free deposit).
    struct Fill {
        address seller;
        address buyer;
        uint256 wattAmount;
        uint256 tslAmount;
        uint256 feeTsl;
        address feeRecipient;
        bool sellerLocked;
        bool buyerLocked;
    }

    /// @notice The bounds fixed at deployment, which no admin can move.
    /// @dev `adminDelay` is the initial wait of the two-step admin transfer (OpenZeppelin's
    /// AccessControlDefaultAdminRules; changing it waits too); `nameplateWh` the most `setCapacity` may set;
    /// the utility price stays within [minUtilityPrice, maxUtilityPrice]; and the rent
    /// per WATT-day is at most `maxRentBpsOfPrice` basis points of the utility price, so
    /// rent paid in kind takes at most that share of a holding per day.
    struct Limits {
        uint48 adminDelay;
        uint256 nameplateWh;
        uint256 minUtilityPrice;
        uint256 maxUtilityPrice;
        uint16 maxRentBpsOfPrice;
    }

    // ---------------------------------------------------------------- events

    event TslDeposited(address indexed account, uint256 amount);
    event TslWithdrawn(address indexed account, uint256 amount);
    /// @notice Credit above the free-TSL field (2^88 - 1) was paid out to the account's
    /// wallet instead of making the fill or unlock revert.
    event TslPaidOut(address indexed account, uint256 amount);
    /// @notice Rent that prepaid TSL could not cover was paid in WATT at the utility price.
    event RentPaidInKind(address indexed account, uint256 tslShortfall, uint256 wattPaid);
    event RentClaimed(address indexed operator, uint256 amount);
    event RentRateChanged(uint256 oldRentPerWattDay, uint256 newRentPerWattDay);
    event UtilityPriceChanged(uint256 oldPricePerWatt, uint256 newPricePerWatt);
    event CapacityChanged(uint256 oldCapacityWh, uint256 newCapacityWh);
    event ChargeEfficiencyChanged(uint16 oldBps, uint16 newBps);
    event ReserveToleranceChanged(uint256 oldToleranceWh, uint256 newToleranceWh);
    event OperatorChanged(address indexed oldOperator, address indexed newOperator);
    event LedgerBound(address indexed ledger);
    /// @notice WATT supply exceeds the battery's measured charge beyond the tolerance;
    /// minting stops until a later state-of-charge report resolves it.
    event ReserveDeficit(uint256 supplyWh, uint256 stateOfChargeWh, uint256 deficitWh);
    event ReserveRestored(uint256 supplyWh, uint256 stateOfChargeWh);
    /// @notice The battery's meter reported its state of charge.
    event StateOfChargeReported(uint256 stateOfChargeWh, uint256 supplyWh);
    /// @notice The pauser paused readings, transfers, deposits and market hooks, and froze
    /// storage rent (withdrawals of free TSL and rent claims stay open).
    event Paused(address account);
    event Unpaused(address account);

    // ---------------------------------------------------------------- errors

    error BatteryZeroAmount();
    error BatteryZeroAddress();
    error BatteryAmountTooLarge(uint256 amount, uint256 max);
    error BatteryInsufficientFreeTsl(address account, uint256 free, uint256 needed);
    error BatteryInsufficientLockedTsl(address account, uint256 locked, uint256 needed);
    error BatteryInsufficientSpendableWatt(address account, uint256 spendable, uint256 needed);
    error BatteryNotWholeWh(uint256 wattAmount);
    error BatteryInvalidEfficiency(uint16 bps);
    error BatteryUtilityPriceOutOfRange(uint256 price, uint256 min, uint256 max);
    error BatteryCapacityAboveNameplate(uint256 capacityWh, uint256 nameplateWh);
    error BatteryDepositCapExceeded(address account, uint256 free, uint256 amount, uint256 cap);
    error BatteryInvalidLimits();
    /// @notice MARKET_ROLE goes only to a contract whose `battery()` is this battery.
    error BatteryNotAMarket(address account);
    /// @notice A market whose MARKET_ROLE was revoked may only unlock and settle from locks.
    error BatteryMarketRetired(address market);
    error BatteryRentRateTooHigh(uint256 rentPerWattDay, uint256 max);
    error BatteryCapacityBelowSupply(uint256 capacityWh, uint256 supplyWh);
    error BatteryLedgerAlreadyBound(address ledger);
    error BatteryLedgerMismatch(address ledger);
    error BatteryNotLedger(address caller);
    error BatteryNotOperator(address caller);
    error EnforcedPause();
    error ExpectedPause();

    // ---------------------------------------------------------------- deposits

    /// @notice Deposits TSL (pulled with transferFrom) as free, rent-prepaying balance.
    /// Free TSL after a deposit is at most MAX_DEPOSIT_TSL (half the field), else
    /// BatteryDepositCapExceeded(account, free, amount, cap).
    function deposit(uint256 amount) external;

    /// @notice Deposits TSL with an EIP-2612 permit, so no separate approve is needed.
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Withdraws free TSL. Settles rent first; never takes locked TSL or rent due.
    function withdraw(uint256 amount) external;

    // ---------------------------------------------------------------- rent

    /// @notice Settles the account's accrued rent now (anyone may call).
    function settleRent(address account) external;

    /// @notice The operator takes the TSL rent collected so far.
    function claimRent() external returns (uint256 amount);

    /// @notice Rent accrued and not yet settled: the TSL part and, where free TSL does
    /// not cover it, the WATT that would be taken in kind.
    function pendingRent(address account) external view returns (uint256 tslDue, uint256 wattDue);

    /// @notice Days of storage covered, scaled by 1e18: free TSL (after pending rent)
    /// divided by the daily rent on the current holding. type(uint256).max when the
    /// account holds no WATT (nothing to pay for).
    function daysOfStorage(address account) external view returns (uint256 daysWad);

    // ---------------------------------------------------------------- views

    /// @notice Free (rent-prepaying, withdrawable) TSL, before pending rent.
    function freeTslOf(address account) external view returns (uint256);
    /// @notice TSL locked behind the account's open buy orders.
    function lockedTslOf(address account) external view returns (uint256);
    /// @notice WATT locked behind the account's open sell orders (part of its balance).
    function lockedWattOf(address account) external view returns (uint256);
    /// @notice WATT that can be transferred or offered: balance minus locked.
    function spendableWattOf(address account) external view returns (uint256);
    /// @notice The account's energy and trade counters, in Wh (each saturates at 2^40 - 1).
    function countersOf(address account) external view returns (EnergyCounters memory);

    /// @notice The TSL token held in escrow.
    function tsl() external view returns (address);
    /// @notice The bound MeterLedger (address(0) until bindLedger).
    function ledger() external view returns (address);
    /// @notice The battery's operator: paid the rent, and rent-exempt itself.
    function operator() external view returns (address);
    /// @notice Storage rent in TSL base units per WATT (per kWh) per day.
    function rentPerWattDay() external view returns (uint256);
    /// @notice The utility's reference price in TSL base units per WATT (per kWh).
    function utilityPrice() external view returns (uint256);
    /// @notice The most WATT that can exist, in Wh: exports beyond it spill.
    function capacityWh() external view returns (uint256);
    /// @notice The share of an export that charges the battery, in basis points.
    function chargeEfficiencyBps() external view returns (uint16);
    /// @notice How far supply may exceed the reported state of charge before minting halts.
    function reserveToleranceWh() external view returns (uint256);
    /// @notice The battery meter's last reported state of charge, in Wh.
    function lastStateOfChargeWh() external view returns (uint256);
    /// @notice Whether a reserve deficit has stopped exports from charging (minting).
    function mintingHalted() external view returns (bool);
    /// @notice TSL rent collected for the operator and not yet claimed.
    function rentCollected() external view returns (uint256);
    /// @notice Total WATT supply in whole Wh.
    function supplyWh() external view returns (uint256);
    /// @notice Whether the pauser has paused the battery (see the Paused event).
    function paused() external view returns (bool);
    /// @notice The bounds fixed at deployment (see {Limits}).
    function limits() external view returns (Limits memory);
    /// @notice Whether `market` held MARKET_ROLE and had it revoked: it may still unlock
    /// and settle fills from locks (its open orders can be cancelled or cleared), never lock.
    function isRetiredMarket(address market) external view returns (bool);
    /// @notice The cumulative rent index now: TSL base units one WATT has owed since
    /// deployment (an account owes balance * (index - its checkpoint) / 1e18).
    function rentIndex() external view returns (uint256);

    // ---------------------------------------------------------------- admin

    /// @notice Sets the storage rent (admin), at most MAX_RENT_PER_WATT_DAY and at most
    /// `maxRentBpsOfPrice` of the utility price; rent accrued so far stays at the old rate.
    function setRentRate(uint256 rentPerWattDay) external;
    /// @notice Sets the utility's reference price (admin) within the deploy-time range,
    /// high enough that the current rent stays within its share. The rent index is
    /// brought up to now first and the price checkpointed at that index: rent accrued
    /// before the change is still paid in kind at the old price.
    function setUtilityPrice(uint256 pricePerWatt) external;
    /// @notice Sets the capacity (admin), at most the nameplate and never below the supply.
    function setCapacity(uint256 capacityWh) external;
    /// @notice Sets the charge efficiency (admin), 1 to 10,000 basis points.
    function setChargeEfficiency(uint16 bps) external;
    /// @notice Sets the reserve tolerance (admin), below 2^40 Wh.
    function setReserveTolerance(uint256 toleranceWh) external;
    /// @notice Hands the operator's role to `operator` (admin); the old one is paid the
    /// rent collected so far.
    function setOperator(address operator) external;
    /// @notice Binds the MeterLedger once; it is then the only minter and burner.
    function bindLedger(address ledger) external;
    /// @notice Pauses readings, transfers, deposits and market hooks (PAUSER_ROLE), and
    /// freezes storage rent: the index stops until `unpause`.
    function pause() external;
    /// @notice Lifts the pause (PAUSER_ROLE); rent resumes from now, without a jump.
    function unpause() external;

    // ---------------------------------------------------------------- ledger hooks

    /// @notice Applies one household reading's deltas: export charges the battery
    /// (mint, limited by free capacity; the rest spills), then import is served from
    /// the account's spendable WATT (burn) and the grid serves the rest.
    function recordFlows(address account, uint256 exportedWh, uint256 importedWh)
        external
        returns (uint256 storedWh, uint256 spilledWh, uint256 fromBatteryWh, uint256 fromGridWh);

    /// @notice Reconciles WATT supply against the battery meter's state of charge.
    function reportStateOfCharge(uint256 stateOfChargeWh) external;

    // ---------------------------------------------------------------- market hooks (MARKET_ROLE)

    /// @notice Locks `amount` (whole Wh) of the account's spendable WATT behind a sell order.
    function lockWatt(address account, uint256 amount) external;
    /// @notice Releases up to `amount` (whole Wh) of the account's locked WATT (also a
    /// retired market).
    /// @return unlocked what was actually released (less than asked only if rent paid
    /// in kind shrank the lock)
    function unlockWatt(address account, uint256 amount) external returns (uint256 unlocked);
    /// @notice Moves `amount` of the account's free TSL into its lock, behind a buy order.
    function lockTsl(address account, uint256 amount) external;
    /// @notice Moves `amount` of the account's locked TSL back to its free deposit (also a
    /// retired market); above the field, the excess is paid out (TslPaidOut).
    function unlockTsl(address account, uint256 amount) external;
    /// @notice Settles one fill at once: WATT to the buyer, TSL to the seller. A retired
    /// market may settle only fills with both sides locked. Proceeds that would take the
    /// seller's free TSL above its field are paid out to its wallet (TslPaidOut).
    /// @return wattMoved the WATT actually moved; less than `fill.wattAmount` only when
    /// rent paid in kind shrank the seller's lock, and then TSL moves pro rata.
    function settleFill(Fill calldata fill) external returns (uint256 wattMoved);
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {IMeterLedger} from "../../interfaces/IMeterLedger.sol";
import {RentIndex} from "../libraries/RentIndex.sol";
import {TslEscrow} from "./TslEscrow.sol";
import {ConfigWord, CoreWord, ReserveWord, MAX_40} from "./types/GlobalWords.sol";

/// @title The battery's settings: what the admin sets, the pause, and their views
/// @notice Every bound is checked where a value is set, so the hot paths (readings,
/// transfers, fills) can rely on each field's width.
abstract contract BatterySettings is TslEscrow {
    // ---------------------------------------------------------------- admin

    /// @inheritdoc ISharedBattery
    function setRentRate(uint256 rentPerWattDay_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireRentRate(rentPerWattDay_, _reserve.utilityPrice());
        ConfigWord config = _config;
        _accrue(config); // rent up to now at the old rate: a change applies only going forward
        uint256 old = config.rentPerWattDay();
        _config = config.withRentPerWattDay(rentPerWattDay_);
        emit RentRateChanged(old, rentPerWattDay_);
    }

    /// @inheritdoc ISharedBattery
    /// @dev The index is brought up to now and the new price checkpointed at it: the
    /// period that ends here keeps its price for rent paid in kind later (StorageRent).
    function setUtilityPrice(uint256 pricePerWatt) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireUtilityPrice(pricePerWatt);
        ConfigWord config = _config;
        _requireRentRate(config.rentPerWattDay(), pricePerWatt);
        uint256 index = _accrue(config);
        ReserveWord reserve = _reserve;
        uint256 old = reserve.utilityPrice();
        uint256 since = reserve.priceIndex();
        uint256 last = _priceSegments.length - 1;
        if (index == since) {
            _priceSegments[last].price = uint96(pricePerWatt); // the period had no rent yet
        } else {
            uint256 kind = _priceSegments[last].kindAtStart + Math.ceilDiv((index - since) * RentIndex.WATT, old);
            _priceSegments.push(PriceSegment(uint80(index), uint96(pricePerWatt), kind));
        }
        _reserve = reserve.withUtilityPrice(pricePerWatt, index);
        emit UtilityPriceChanged(old, pricePerWatt);
    }

    /// @inheritdoc ISharedBattery
    function setCapacity(uint256 capacityWh_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireCapacity(capacityWh_);
        uint256 supply = _rent.supplyWh();
        if (capacityWh_ < supply) revert BatteryCapacityBelowSupply(capacityWh_, supply);
        CoreWord core = _core;
        _core = core.withCapacityWh(capacityWh_);
        emit CapacityChanged(core.capacityWh(), capacityWh_);
    }

    /// @inheritdoc ISharedBattery
    function setChargeEfficiency(uint16 bps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireEfficiency(bps);
        CoreWord core = _core;
        _core = core.withChargeEfficiencyBps(bps);
        emit ChargeEfficiencyChanged(uint16(core.chargeEfficiencyBps()), bps);
    }

    /// @inheritdoc ISharedBattery
    function setReserveTolerance(uint256 toleranceWh) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireWithin40(toleranceWh);
        ReserveWord reserve = _reserve;
        _reserve = reserve.withToleranceWh(toleranceWh);
        emit ReserveToleranceChanged(reserve.toleranceWh(), toleranceWh);
    }

    /// @inheritdoc ISharedBattery
    /// @dev The old operator is paid the rent collected so far and starts paying rent on
    /// its own WATT from now; the new one settles what it owes up to now, then is exempt.
    function setOperator(address operator_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (operator_ == address(0)) revert BatteryZeroAddress();
        ConfigWord config = _config;
        address old = config.operator();
        uint256 index = _accrue(config);
        _payOutRent(old);
        _holdings[operator_] = _settledWord(operator_, index, config);
        _holdings[old] = _holdings[old].withCheckpoint(index);
        _config = config.withOperator(operator_);
        emit OperatorChanged(old, operator_);
    }

    /// @inheritdoc ISharedBattery
    function bindLedger(address ledger_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        CoreWord core = _core;
        address bound = core.ledger();
        if (bound != address(0)) revert BatteryLedgerAlreadyBound(bound);
        if (ledger_ == address(0)) revert BatteryZeroAddress();
        if (IMeterLedger(ledger_).battery() != address(this)) revert BatteryLedgerMismatch(ledger_);
        _core = core.withLedger(ledger_);
        emit LedgerBound(ledger_);
    }

    /// @inheritdoc ISharedBattery
    function pause() external onlyRole(PAUSER_ROLE) {
        CoreWord core = _core;
        _requireNotPaused(core);
        _accrue(_config); // rent up to now, then frozen while paused
        _rent = _rent.withLastAccrual(MAX_40);
        _core = core.withPaused();
        emit Paused(msg.sender);
    }

    /// @inheritdoc ISharedBattery
    function unpause() external onlyRole(PAUSER_ROLE) {
        CoreWord core = _core;
        if (!core.paused()) revert ExpectedPause();
        _rent = _rent.withLastAccrual(block.timestamp); // rent resumes from now: no jump
        _core = core.withoutPaused();
        emit Unpaused(msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ISharedBattery
    function ledger() external view returns (address) {
        return _core.ledger();
    }

    /// @inheritdoc ISharedBattery
    function operator() external view returns (address) {
        return _config.operator();
    }

    /// @inheritdoc ISharedBattery
    function rentPerWattDay() external view returns (uint256) {
        return _config.rentPerWattDay();
    }

    /// @inheritdoc ISharedBattery
    function utilityPrice() external view returns (uint256) {
        return _reserve.utilityPrice();
    }

    /// @inheritdoc ISharedBattery
    function capacityWh() external view returns (uint256) {
        return _core.capacityWh();
    }

    /// @inheritdoc ISharedBattery
    function chargeEfficiencyBps() external view returns (uint16) {
        return uint16(_core.chargeEfficiencyBps());
    }

    /// @inheritdoc ISharedBattery
    function reserveToleranceWh() external view returns (uint256) {
        return _reserve.toleranceWh();
    }

    /// @inheritdoc ISharedBattery
    function lastStateOfChargeWh() external view returns (uint256) {
        return _reserve.stateOfChargeWh();
    }

    /// @inheritdoc ISharedBattery
    function mintingHalted() external view returns (bool) {
        return _core.mintingHalted();
    }

    /// @inheritdoc ISharedBattery
    function supplyWh() external view returns (uint256) {
        return _rent.supplyWh();
    }

    /// @inheritdoc ISharedBattery
    function paused() external view returns (bool) {
        return _core.paused();
    }

    /// @inheritdoc ISharedBattery
    function limits() external view returns (Limits memory) {
        return
            Limits(
                defaultAdminDelay(), NAMEPLATE_WH, MIN_UTILITY_PRICE, MAX_UTILITY_PRICE, uint16(MAX_RENT_BPS_OF_PRICE)
            );
    }

    /// @inheritdoc ISharedBattery
    function isRetiredMarket(address market) external view returns (bool) {
        return _retiredMarkets[market];
    }

    // ---------------------------------------------------------------- bounds

    /// @dev At most MAX_RENT_PER_WATT_DAY and at most MAX_RENT_BPS_OF_PRICE of `price`.
    function _requireRentRate(uint256 rate, uint256 price) internal view {
        uint256 max = price * MAX_RENT_BPS_OF_PRICE / _BPS;
        if (max > MAX_RENT_PER_WATT_DAY) max = MAX_RENT_PER_WATT_DAY;
        if (rate > max) revert BatteryRentRateTooHigh(rate, max);
    }

    function _requireUtilityPrice(uint256 price) internal view {
        if (price < MIN_UTILITY_PRICE || price > MAX_UTILITY_PRICE) {
            revert BatteryUtilityPriceOutOfRange(price, MIN_UTILITY_PRICE, MAX_UTILITY_PRICE);
        }
    }

    function _requireCapacity(uint256 capacity) internal view {
        if (capacity > NAMEPLATE_WH) revert BatteryCapacityAboveNameplate(capacity, NAMEPLATE_WH);
    }

    function _requireEfficiency(uint16 bps) internal pure {
        if (bps == 0 || bps > _BPS) revert BatteryInvalidEfficiency(bps);
    }
}

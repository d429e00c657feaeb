// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {BatteryStorage} from "./battery/BatteryStorage.sol";
import {LedgerHooks} from "./battery/LedgerHooks.sol";
import {MarketHooks} from "./battery/MarketHooks.sol";
import {ConfigWordLib, CoreWordLib, ReserveWordLib, RentWordLib} from "./battery/types/GlobalWords.sol";

/// @title The shared community battery: WATT, storage rent and the TSL escrow
/// @notice See {ISharedBattery} and docs/ledger.md. Composed of its concepts, each in
/// contracts/battery/: the WATT token and its one balance hook ({WattToken}), storage
/// rent ({StorageRent}), the TSL escrow ({TslEscrow}), the settings ({BatterySettings})
/// and the hooks of the ledger ({LedgerHooks}) and the markets ({MarketHooks}), over one
/// storage layout ({BatteryStorage}) of packed words (contracts/battery/types/).
/// `limits_` are the bounds no admin can move (nameplate, utility price range, rent share
/// of the price, admin transfer delay): see {ISharedBattery.Limits}.
contract SharedBattery is LedgerHooks, MarketHooks {
    constructor(
        address admin,
        address tsl_,
        address operator_,
        uint256 capacityWh_,
        uint16 chargeEfficiencyBps_,
        uint256 rentPerWattDay_,
        uint256 utilityPrice_,
        uint256 reserveToleranceWh_,
        Limits memory limits_
    ) BatteryStorage(tsl_, admin, limits_) {
        if (admin == address(0) || tsl_ == address(0) || operator_ == address(0)) {
            revert BatteryZeroAddress();
        }
        _requireCapacity(capacityWh_);
        _requireEfficiency(chargeEfficiencyBps_);
        _requireUtilityPrice(utilityPrice_);
        _requireRentRate(rentPerWattDay_, utilityPrice_);
        _requireWithin40(reserveToleranceWh_);
        _config = ConfigWordLib.pack(operator_, rentPerWattDay_);
        _core = CoreWordLib.pack(capacityWh_, chargeEfficiencyBps_);
        _reserve = ReserveWordLib.pack(reserveToleranceWh_, utilityPrice_);
        _rent = RentWordLib.initial(block.timestamp);
        _priceSegments.push(PriceSegment(0, uint96(utilityPrice_), 0));
        _grantRole(PAUSER_ROLE, admin); // the admin is AccessControlDefaultAdminRules'
        emit OperatorChanged(address(0), operator_);
    }
}

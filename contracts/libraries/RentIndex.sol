// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title Storage-rent arithmetic on a cumulative index
/// @notice The index is the rent one WATT (1e18 base units, 1 kWh) has owed since the
/// battery was deployed, in TSL base units. An account owes
/// `watt * (index - checkpoint) / 1 WATT` since its checkpoint, so settling one account
/// is O(1) whatever happened to the others. Every rounding here goes in the operator's
/// favour (up), so rent can never be dodged by settling often.
library RentIndex {
    uint256 internal constant SECONDS_PER_DAY = 86_400;
    uint256 internal constant WATT = 1e18;
    uint256 internal constant WAD = 1e18;

    /// @notice The index after `elapsed` seconds at `rentPerWattDay` (TSL base units per
    /// WATT per day), rounded up.
    function accrued(uint256 index, uint256 rentPerWattDay, uint256 elapsed) internal pure returns (uint256) {
        return index + Math.ceilDiv(rentPerWattDay * elapsed, SECONDS_PER_DAY);
    }

    /// @notice TSL owed by `watt` base units held from index `checkpoint` to `index`, rounded up.
    function rentDue(uint256 watt, uint256 index, uint256 checkpoint) internal pure returns (uint256) {
        return Math.ceilDiv(watt * (index - checkpoint), WATT);
    }

    /// @notice WATT base units worth `tslShortfall` at `pricePerWatt` (TSL base units per
    /// WATT), rounded up: rent paid in kind never falls short of what is owed.
    function wattInKind(uint256 tslShortfall, uint256 pricePerWatt) internal pure returns (uint256) {
        return Math.ceilDiv(tslShortfall * WATT, pricePerWatt);
    }

    /// @notice Days of storage that `freeTsl` pays for `watt` at `rentPerWattDay`, scaled
    /// by 1e18 and rounded down. Callers handle `watt == 0` or `rentPerWattDay == 0`.
    function daysCovered(uint256 freeTsl, uint256 watt, uint256 rentPerWattDay) internal pure returns (uint256) {
        // daily rent = watt * rentPerWattDay / WATT; days = freeTsl / daily rent
        return Math.mulDiv(freeTsl * WAD, WATT, watt * rentPerWattDay);
    }
}

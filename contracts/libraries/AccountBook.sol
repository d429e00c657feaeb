// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice An account's rent-bearing word: everything rent settlement touches, in one slot.
struct Holding {
    uint256 watt; // WATT base units owned (locked included), < 2^88
    uint256 freeTsl; // free TSL deposit in base units, < 2^88
    uint256 rentCheckpoint; // the rent index at the last settlement, < 2^80
}

/// @notice An account's energy word: the lock and the reading counters, written together
/// by every household reading (the import burn needs the lock, the counters all change).
struct EnergyBook {
    uint256 lockedWh; // WATT locked for sell orders, in whole Wh
    uint256 generatedWh;
    uint256 storedWh;
    uint256 fromBatteryWh;
    uint256 fromGridWh;
    uint256 spilledWh;
}

/// @notice An account's market word: TSL locked for buy orders and the trade counters.
struct TradeBook {
    uint256 lockedTsl; // < 2^88
    uint256 purchasedWh;
    uint256 soldWh;
}

/// @title Bit layouts of the three per-account storage words of the SharedBattery
/// @notice Holding  = watt (88) | freeTsl (88) << 88 | rentCheckpoint (80) << 176
///         EnergyBook = lockedWh | generatedWh | storedWh | fromBatteryWh | fromGridWh
///                      | spilledWh, 40 bits each from bit 0 (240 bits)
///         TradeBook = lockedTsl (88) | purchasedWh (40) << 88 | soldWh (40) << 128
/// Packing does not check widths: callers keep every field in range (the battery's
/// capacity bound keeps WATT below 2^88, deposits are capped at 2^88, counters saturate).
library AccountBook {
    uint256 internal constant MAX_88 = (1 << 88) - 1;
    uint256 internal constant MAX_80 = (1 << 80) - 1;
    uint256 internal constant MAX_40 = (1 << 40) - 1;

    function unpackHolding(uint256 word) internal pure returns (Holding memory h) {
        h.watt = word & MAX_88;
        h.freeTsl = (word >> 88) & MAX_88;
        h.rentCheckpoint = word >> 176;
    }

    function pack(Holding memory h) internal pure returns (uint256) {
        return h.watt | (h.freeTsl << 88) | (h.rentCheckpoint << 176);
    }

    function unpackEnergy(uint256 word) internal pure returns (EnergyBook memory e) {
        e.lockedWh = word & MAX_40;
        e.generatedWh = (word >> 40) & MAX_40;
        e.storedWh = (word >> 80) & MAX_40;
        e.fromBatteryWh = (word >> 120) & MAX_40;
        e.fromGridWh = (word >> 160) & MAX_40;
        e.spilledWh = (word >> 200) & MAX_40;
    }

    function pack(EnergyBook memory e) internal pure returns (uint256) {
        return e.lockedWh | (e.generatedWh << 40) | (e.storedWh << 80) | (e.fromBatteryWh << 120)
            | (e.fromGridWh << 160) | (e.spilledWh << 200);
    }

    function unpackTrade(uint256 word) internal pure returns (TradeBook memory t) {
        t.lockedTsl = word & MAX_88;
        t.purchasedWh = (word >> 88) & MAX_40;
        t.soldWh = (word >> 128) & MAX_40;
    }

    function pack(TradeBook memory t) internal pure returns (uint256) {
        return t.lockedTsl | (t.purchasedWh << 88) | (t.soldWh << 128);
    }

    /// @notice Counter addition that stops at the 40-bit ceiling (1.1 TWh) instead of
    /// reverting: a counter is informational and must never block a meter's readings.
    function addSaturating40(uint256 counter, uint256 amount) internal pure returns (uint256) {
        uint256 sum = counter + amount;
        return sum > MAX_40 ? MAX_40 : sum;
    }
}

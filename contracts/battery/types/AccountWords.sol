// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev An account's rent-bearing word, everything rent settlement touches in one slot:
/// watt (88) | freeTsl (88) << 88 | rentCheckpoint (80) << 176.
type HoldingWord is uint256;

/// @dev An account's energy word, written by every household reading (the import burn
/// needs the lock, the counters all change): lockedWh | generatedWh | storedWh |
/// fromBatteryWh | fromGridWh | spilledWh, 40 bits each from bit 0.
type EnergyWord is uint256;

/// @dev An account's market word: lockedTsl (88) | purchasedWh (40) << 88 | soldWh (40) << 128.
type TradeWord is uint256;

using HoldingWordLib for HoldingWord global;
using EnergyWordLib for EnergyWord global;
using TradeWordLib for TradeWord global;

/// @title Field access on the holding word
/// @notice Setters that add or subtract work on the whole word, unchecked: each caller
/// checks or proves that the field stays in range (the battery's capacity bound keeps
/// WATT below 2^88, deposits are capped at 2^88), so no carry or borrow can cross a field
/// or leave the word. Field masks are written as shifts so each setter stays small enough
/// for the optimizer to inline it.
library HoldingWordLib {
    uint256 internal constant MAX_88 = (1 << 88) - 1;
    uint256 internal constant FREE_TSL_OFFSET = 88;
    uint256 internal constant CHECKPOINT_OFFSET = 176;
    /// @dev 256 - CHECKPOINT_OFFSET, as a literal: a constant computed from another is
    /// evaluated (checked) at each use.
    uint256 private constant _CHECKPOINT_BITS = 80;

    function watt(HoldingWord w) internal pure returns (uint256) {
        return HoldingWord.unwrap(w) & MAX_88;
    }

    function freeTsl(HoldingWord w) internal pure returns (uint256) {
        return (HoldingWord.unwrap(w) >> FREE_TSL_OFFSET) & MAX_88;
    }

    function rentCheckpoint(HoldingWord w) internal pure returns (uint256) {
        return HoldingWord.unwrap(w) >> CHECKPOINT_OFFSET;
    }

    /// @dev The word with its checkpoint (the top field) replaced by `index`.
    function withCheckpoint(HoldingWord w, uint256 index) internal pure returns (HoldingWord) {
        return HoldingWord.wrap(
            (HoldingWord.unwrap(w) << _CHECKPOINT_BITS >> _CHECKPOINT_BITS) | (index << CHECKPOINT_OFFSET)
        );
    }

    /// @dev The word with its free TSL replaced by `free` (<= MAX_88).
    function withFreeTsl(HoldingWord w, uint256 free) internal pure returns (HoldingWord) {
        uint256 word = HoldingWord.unwrap(w);
        return HoldingWord.wrap(
            (word >> CHECKPOINT_OFFSET << CHECKPOINT_OFFSET) | (free << FREE_TSL_OFFSET) | (word & MAX_88)
        );
    }

    /// @dev The word with its checkpoint kept and its two balances replaced (each <= MAX_88).
    function withBalances(HoldingWord w, uint256 watt_, uint256 free) internal pure returns (HoldingWord) {
        return HoldingWord.wrap(
            (HoldingWord.unwrap(w) >> CHECKPOINT_OFFSET << CHECKPOINT_OFFSET) | (free << FREE_TSL_OFFSET) | watt_
        );
    }

    /// @dev The checkpoint kept and everything below it replaced by `low` (< 2^176).
    function withLow(HoldingWord w, uint256 low) internal pure returns (HoldingWord) {
        return HoldingWord.wrap((HoldingWord.unwrap(w) >> CHECKPOINT_OFFSET << CHECKPOINT_OFFSET) | low);
    }

    /// @dev Adds to the WATT field; the caller keeps watt + amount <= MAX_88.
    function addWatt(HoldingWord w, uint256 amount) internal pure returns (HoldingWord) {
        // Cannot carry out of the field: the caller keeps watt + amount <= MAX_88.
        unchecked {
            return HoldingWord.wrap(HoldingWord.unwrap(w) + amount);
        }
    }

    /// @dev Subtracts from the WATT field; the caller keeps amount <= watt.
    function subWatt(HoldingWord w, uint256 amount) internal pure returns (HoldingWord) {
        // Cannot borrow from the next field: the caller keeps amount <= watt.
        unchecked {
            return HoldingWord.wrap(HoldingWord.unwrap(w) - amount);
        }
    }

    /// @dev Adds to the free-TSL field; the caller keeps freeTsl + amount <= MAX_88.
    function addFreeTsl(HoldingWord w, uint256 amount) internal pure returns (HoldingWord) {
        // Cannot carry out of the field: the caller keeps freeTsl + amount <= MAX_88.
        unchecked {
            return HoldingWord.wrap(HoldingWord.unwrap(w) + (amount << FREE_TSL_OFFSET));
        }
    }

    /// @dev Subtracts from the free-TSL field; the caller keeps amount <= freeTsl.
    function subFreeTsl(HoldingWord w, uint256 amount) internal pure returns (HoldingWord) {
        // Cannot borrow from the checkpoint: the caller keeps amount <= freeTsl.
        unchecked {
            return HoldingWord.wrap(HoldingWord.unwrap(w) - (amount << FREE_TSL_OFFSET));
        }
    }

    function eq(HoldingWord a, HoldingWord b) internal pure returns (bool) {
        return HoldingWord.unwrap(a) == HoldingWord.unwrap(b);
    }
}

/// @title Field access on the energy word
library EnergyWordLib {
    uint256 internal constant MAX_40 = (1 << 40) - 1;
    // Bit offsets of the fields.
    uint256 internal constant LOCKED = 0;
    uint256 internal constant GENERATED = 40;
    uint256 internal constant STORED = 80;
    uint256 internal constant FROM_BATTERY = 120;
    uint256 internal constant FROM_GRID = 160;
    uint256 internal constant SPILLED = 200;

    /// @dev The 40-bit field at bit `offset`.
    function field(EnergyWord w, uint256 offset) internal pure returns (uint256) {
        return (EnergyWord.unwrap(w) >> offset) & MAX_40;
    }

    /// @dev WATT locked for sell orders, in whole Wh.
    function lockedWh(EnergyWord w) internal pure returns (uint256) {
        return EnergyWord.unwrap(w) & MAX_40;
    }

    /// @dev The word with its lock replaced by `wh` (<= MAX_40).
    function withLockedWh(EnergyWord w, uint256 wh) internal pure returns (EnergyWord) {
        return EnergyWord.wrap((EnergyWord.unwrap(w) & ~MAX_40) | wh);
    }

    /// @dev Adds to the lock; the caller keeps lockedWh + wh <= MAX_40.
    function addLockedWh(EnergyWord w, uint256 wh) internal pure returns (EnergyWord) {
        // Cannot carry out of the field: the caller keeps lockedWh + wh <= MAX_40.
        unchecked {
            return EnergyWord.wrap(EnergyWord.unwrap(w) + wh);
        }
    }

    /// @dev Subtracts from the lock; the caller keeps wh <= lockedWh.
    function subLockedWh(EnergyWord w, uint256 wh) internal pure returns (EnergyWord) {
        // Cannot borrow from the next field: the caller keeps wh <= lockedWh.
        unchecked {
            return EnergyWord.wrap(EnergyWord.unwrap(w) - wh);
        }
    }

    /// @dev Adds to the 40-bit counter at `offset`, stopping at its ceiling (1.1 TWh)
    /// rather than reverting: a counter is informational and must never block a meter's
    /// readings. The caller passes amount < 2^40 (a register delta or a part of one).
    function addCounter(EnergyWord w, uint256 offset, uint256 amount) internal pure returns (EnergyWord) {
        // amount < 2^40 (the caller's bound), so counter + amount < 2^41; sum >= counter in
        // both branches, and counter + (sum - counter) = sum <= MAX_40 cannot carry out of
        // the field.
        unchecked {
            uint256 word = EnergyWord.unwrap(w);
            uint256 counter = (word >> offset) & MAX_40;
            uint256 sum = counter + amount;
            if (sum > MAX_40) sum = MAX_40;
            return EnergyWord.wrap(word + ((sum - counter) << offset));
        }
    }
}

/// @title Field access on the trade word
library TradeWordLib {
    uint256 internal constant MAX_88 = (1 << 88) - 1;
    uint256 internal constant MAX_40 = (1 << 40) - 1;
    // Bit offsets of the trade counters.
    uint256 internal constant PURCHASED = 88;
    uint256 internal constant SOLD = 128;

    function lockedTsl(TradeWord w) internal pure returns (uint256) {
        return TradeWord.unwrap(w) & MAX_88;
    }

    /// @dev The 40-bit counter at bit `offset` (PURCHASED or SOLD).
    function field(TradeWord w, uint256 offset) internal pure returns (uint256) {
        return (TradeWord.unwrap(w) >> offset) & MAX_40;
    }

    /// @dev Adds to the lock; the caller keeps lockedTsl + amount <= MAX_88.
    function addLockedTsl(TradeWord w, uint256 amount) internal pure returns (TradeWord) {
        // Cannot carry out of the field: the caller keeps lockedTsl + amount <= MAX_88.
        unchecked {
            return TradeWord.wrap(TradeWord.unwrap(w) + amount);
        }
    }

    /// @dev Subtracts from the lock; the caller keeps amount <= lockedTsl.
    function subLockedTsl(TradeWord w, uint256 amount) internal pure returns (TradeWord) {
        // Cannot borrow from the next field: the caller keeps amount <= lockedTsl.
        unchecked {
            return TradeWord.wrap(TradeWord.unwrap(w) - amount);
        }
    }

    /// @dev Adds to the 40-bit counter at `offset`, saturating at its ceiling; the other
    /// fields are kept.
    function addCounter(TradeWord w, uint256 offset, uint256 amount) internal pure returns (TradeWord) {
        uint256 word = TradeWord.unwrap(w);
        uint256 counter = (word >> offset) & MAX_40;
        uint256 sum = counter + amount;
        if (sum > MAX_40) sum = MAX_40;
        // counter <= sum <= MAX_40: the difference fits the field and cannot carry.
        return TradeWord.wrap(word + ((sum - counter) << offset));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev The rent word, written by readings: index (80) | lastAccrual (40) << 80 |
/// supplyWh (40) << 120 | tslCollected (96) << 160.
type RentWord is uint256;

/// @dev The config word, read on every settlement: operator (160) | rentPerWattDay (64) << 160.
type ConfigWord is uint256;

/// @dev The core word, read by every reading: ledger (160) | capacityWh (40) << 160 |
/// chargeEfficiencyBps (16) << 200 | mintingHalted (8) << 216 | paused (8) << 224.
type CoreWord is uint256;

/// @dev The reserve word, for state-of-charge reports and rent in kind:
/// reserveToleranceWh (40) | stateOfChargeWh (40) << 40 | utilityPrice (96) << 80 |
/// priceIndex (80) << 176, the rent index at which the price was set.
type ReserveWord is uint256;

using RentWordLib for RentWord global;
using ConfigWordLib for ConfigWord global;
using CoreWordLib for CoreWord global;
using ReserveWordLib for ReserveWord global;

uint256 constant MAX_40 = (1 << 40) - 1;
uint256 constant MAX_64 = (1 << 64) - 1;
uint256 constant MAX_80 = (1 << 80) - 1;
uint256 constant MAX_96 = (1 << 96) - 1;

/// @title Field access on the rent word
library RentWordLib {
    uint256 internal constant LAST_ACCRUAL_OFFSET = 80;
    uint256 internal constant SUPPLY_OFFSET = 120;
    uint256 internal constant COLLECTED_OFFSET = 160;
    uint256 private constant _BELOW_COLLECTED = (1 << 160) - 1;

    function index(RentWord w) internal pure returns (uint256) {
        return RentWord.unwrap(w) & MAX_80;
    }

    function lastAccrual(RentWord w) internal pure returns (uint256) {
        return (RentWord.unwrap(w) >> LAST_ACCRUAL_OFFSET) & MAX_40;
    }

    function supplyWh(RentWord w) internal pure returns (uint256) {
        return (RentWord.unwrap(w) >> SUPPLY_OFFSET) & MAX_40;
    }

    function tslCollected(RentWord w) internal pure returns (uint256) {
        return RentWord.unwrap(w) >> COLLECTED_OFFSET;
    }

    /// @dev The word with a new index (< 2^80) accrued at `timestamp` (< 2^40).
    function withAccrual(RentWord w, uint256 index_, uint256 timestamp) internal pure returns (RentWord) {
        return RentWord.wrap(
            (RentWord.unwrap(w) >> SUPPLY_OFFSET << SUPPLY_OFFSET) | index_ | (timestamp << LAST_ACCRUAL_OFFSET)
        );
    }

    /// @dev The word with its supply replaced by `supply` (<= MAX_40).
    function withSupplyWh(RentWord w, uint256 supply) internal pure returns (RentWord) {
        // XOR with the old field's bits replaces it in place, written so without a 256-bit mask.
        uint256 word = RentWord.unwrap(w);
        return RentWord.wrap(word ^ ((((word >> SUPPLY_OFFSET) & MAX_40) ^ supply) << SUPPLY_OFFSET));
    }

    /// @dev The word with its accrual clock set to `timestamp` (<= MAX_40), index kept:
    /// MAX_40 freezes the index (the pause), the time of the unpause resumes it.
    function withLastAccrual(RentWord w, uint256 timestamp) internal pure returns (RentWord) {
        return
            RentWord.wrap((RentWord.unwrap(w) & ~(MAX_40 << LAST_ACCRUAL_OFFSET)) | (timestamp << LAST_ACCRUAL_OFFSET));
    }

    /// @dev The word with nothing collected.
    function withoutCollected(RentWord w) internal pure returns (RentWord) {
        return RentWord.wrap(RentWord.unwrap(w) & _BELOW_COLLECTED);
    }

    /// @dev The first word: index 0, accrued at `timestamp`, no supply, nothing collected.
    function initial(uint256 timestamp) internal pure returns (RentWord) {
        return RentWord.wrap(timestamp << LAST_ACCRUAL_OFFSET);
    }

    function eq(RentWord a, RentWord b) internal pure returns (bool) {
        return RentWord.unwrap(a) == RentWord.unwrap(b);
    }
}

/// @title Field access on the config word
library ConfigWordLib {
    uint256 internal constant RENT_RATE_OFFSET = 160;

    function pack(address operator_, uint256 rentPerWattDay_) internal pure returns (ConfigWord) {
        return ConfigWord.wrap(uint256(uint160(operator_)) | (rentPerWattDay_ << RENT_RATE_OFFSET));
    }

    function operator(ConfigWord w) internal pure returns (address) {
        return address(uint160(ConfigWord.unwrap(w)));
    }

    function rentPerWattDay(ConfigWord w) internal pure returns (uint256) {
        return (ConfigWord.unwrap(w) >> RENT_RATE_OFFSET) & MAX_64;
    }

    function withOperator(ConfigWord w, address operator_) internal pure returns (ConfigWord) {
        return ConfigWord.wrap((ConfigWord.unwrap(w) & ~uint256(type(uint160).max)) | uint256(uint160(operator_)));
    }

    /// @dev The word with the rate replaced by `rate` (<= MAX_64).
    function withRentPerWattDay(ConfigWord w, uint256 rate) internal pure returns (ConfigWord) {
        return ConfigWord.wrap((ConfigWord.unwrap(w) & ~(MAX_64 << RENT_RATE_OFFSET)) | (rate << RENT_RATE_OFFSET));
    }
}

/// @title Field access on the core word
library CoreWordLib {
    uint256 internal constant CAPACITY_OFFSET = 160;
    uint256 internal constant EFFICIENCY_OFFSET = 200;
    uint256 internal constant HALTED_OFFSET = 216;
    uint256 internal constant PAUSED_OFFSET = 224;

    /// @dev No ledger bound, neither halted nor paused.
    function pack(uint256 capacityWh_, uint16 efficiencyBps) internal pure returns (CoreWord) {
        return CoreWord.wrap((capacityWh_ << CAPACITY_OFFSET) | (uint256(efficiencyBps) << EFFICIENCY_OFFSET));
    }

    function ledger(CoreWord w) internal pure returns (address) {
        return address(uint160(CoreWord.unwrap(w)));
    }

    function capacityWh(CoreWord w) internal pure returns (uint256) {
        return (CoreWord.unwrap(w) >> CAPACITY_OFFSET) & MAX_40;
    }

    function chargeEfficiencyBps(CoreWord w) internal pure returns (uint256) {
        return (CoreWord.unwrap(w) >> EFFICIENCY_OFFSET) & 0xffff;
    }

    function mintingHalted(CoreWord w) internal pure returns (bool) {
        return (CoreWord.unwrap(w) >> HALTED_OFFSET) & 0xff != 0;
    }

    function paused(CoreWord w) internal pure returns (bool) {
        return (CoreWord.unwrap(w) >> PAUSED_OFFSET) & 0xff != 0;
    }

    /// @dev Binds `ledger_` into a word that has none yet.
    function withLedger(CoreWord w, address ledger_) internal pure returns (CoreWord) {
        return CoreWord.wrap(CoreWord.unwrap(w) | uint256(uint160(ledger_)));
    }

    /// @dev The word with its capacity replaced by `capacity` (<= MAX_40).
    function withCapacityWh(CoreWord w, uint256 capacity) internal pure returns (CoreWord) {
        return CoreWord.wrap((CoreWord.unwrap(w) & ~(MAX_40 << CAPACITY_OFFSET)) | (capacity << CAPACITY_OFFSET));
    }

    function withChargeEfficiencyBps(CoreWord w, uint16 bps) internal pure returns (CoreWord) {
        return CoreWord.wrap(
            (CoreWord.unwrap(w) & ~(uint256(0xffff) << EFFICIENCY_OFFSET)) | (uint256(bps) << EFFICIENCY_OFFSET)
        );
    }

    function withMintingHalted(CoreWord w) internal pure returns (CoreWord) {
        return CoreWord.wrap(CoreWord.unwrap(w) | (uint256(1) << HALTED_OFFSET));
    }

    function withoutMintingHalted(CoreWord w) internal pure returns (CoreWord) {
        return CoreWord.wrap(CoreWord.unwrap(w) & ~(uint256(0xff) << HALTED_OFFSET));
    }

    function withPaused(CoreWord w) internal pure returns (CoreWord) {
        return CoreWord.wrap(CoreWord.unwrap(w) | (uint256(1) << PAUSED_OFFSET));
    }

    function withoutPaused(CoreWord w) internal pure returns (CoreWord) {
        return CoreWord.wrap(CoreWord.unwrap(w) & ~(uint256(0xff) << PAUSED_OFFSET));
    }
}

/// @title Field access on the reserve word
library ReserveWordLib {
    uint256 internal constant STATE_OF_CHARGE_OFFSET = 40;
    uint256 internal constant PRICE_OFFSET = 80;
    uint256 internal constant PRICE_INDEX_OFFSET = 176;

    function pack(uint256 tolerance, uint256 price) internal pure returns (ReserveWord) {
        return ReserveWord.wrap(tolerance | (price << PRICE_OFFSET));
    }

    function toleranceWh(ReserveWord w) internal pure returns (uint256) {
        return ReserveWord.unwrap(w) & MAX_40;
    }

    function stateOfChargeWh(ReserveWord w) internal pure returns (uint256) {
        return (ReserveWord.unwrap(w) >> STATE_OF_CHARGE_OFFSET) & MAX_40;
    }

    function utilityPrice(ReserveWord w) internal pure returns (uint256) {
        return (ReserveWord.unwrap(w) >> PRICE_OFFSET) & MAX_96;
    }

    /// @dev The rent index at which the current price was set.
    function priceIndex(ReserveWord w) internal pure returns (uint256) {
        return ReserveWord.unwrap(w) >> PRICE_INDEX_OFFSET;
    }

    function withToleranceWh(ReserveWord w, uint256 tolerance) internal pure returns (ReserveWord) {
        return ReserveWord.wrap((ReserveWord.unwrap(w) & ~MAX_40) | tolerance);
    }

    /// @dev The word with the state of charge replaced by its low 40 bits.
    function withStateOfChargeWh(ReserveWord w, uint256 soc) internal pure returns (ReserveWord) {
        return ReserveWord.wrap(
            (ReserveWord.unwrap(w) & ~(MAX_40 << STATE_OF_CHARGE_OFFSET)) | ((soc & MAX_40) << STATE_OF_CHARGE_OFFSET)
        );
    }

    /// @dev The word with the price replaced by `price` (<= MAX_96), set at rent index
    /// `index` (< 2^80).
    function withUtilityPrice(ReserveWord w, uint256 price, uint256 index) internal pure returns (ReserveWord) {
        uint256 low = ReserveWord.unwrap(w) & ((1 << PRICE_OFFSET) - 1);
        return ReserveWord.wrap(low | (price << PRICE_OFFSET) | (index << PRICE_INDEX_OFFSET));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title A three-level bitmap over 2^24 price ticks
/// @notice Leaf words hold one bit per tick (256 ticks a word), middle words one bit per
/// non-empty leaf word, and a root word one bit per non-empty middle word. Setting,
/// clearing and finding the nearest set tick in either direction touch at most three
/// words whatever the number of occupied ticks, so no operation loops over price levels.
/// `base` separates independent bitmaps (one per book side) inside one mapping.
library TickBitmap {
    uint256 internal constant MAX_TICK = (1 << 24) - 1;
    uint256 private constant _MID = 1 << 16;
    uint256 private constant _ROOT = 1 << 17;

    function _leafKey(uint256 base, uint256 wordIndex) private pure returns (uint256) {
        return (base << 18) | wordIndex;
    }

    function _midKey(uint256 base, uint256 midIndex) private pure returns (uint256) {
        return (base << 18) | _MID | midIndex;
    }

    function _rootKey(uint256 base) private pure returns (uint256) {
        return (base << 18) | _ROOT;
    }

    /// @dev Marks `tick` (<= MAX_TICK) occupied.
    function set(mapping(uint256 => uint256) storage map, uint256 base, uint256 tick) internal {
        uint256 wordIndex = tick >> 8;
        uint256 leafKey = _leafKey(base, wordIndex);
        uint256 leaf = map[leafKey];
        map[leafKey] = leaf | (1 << (tick & 255));
        if (leaf != 0) return;
        uint256 midKey = _midKey(base, wordIndex >> 8);
        uint256 mid = map[midKey];
        map[midKey] = mid | (1 << (wordIndex & 255));
        if (mid != 0) return;
        uint256 rootKey = _rootKey(base);
        map[rootKey] |= 1 << (wordIndex >> 8);
    }

    /// @dev Marks `tick` empty.
    function clear(mapping(uint256 => uint256) storage map, uint256 base, uint256 tick) internal {
        uint256 wordIndex = tick >> 8;
        uint256 leafKey = _leafKey(base, wordIndex);
        uint256 leaf = map[leafKey] & ~(1 << (tick & 255));
        map[leafKey] = leaf;
        if (leaf != 0) return;
        uint256 midKey = _midKey(base, wordIndex >> 8);
        uint256 mid = map[midKey] & ~(1 << (wordIndex & 255));
        map[midKey] = mid;
        if (mid != 0) return;
        uint256 rootKey = _rootKey(base);
        map[rootKey] &= ~(1 << (wordIndex >> 8));
    }

    /// @dev The highest occupied tick <= `tick`, or 0 if none (tick 0 is never occupied).
    function highestAtOrBelow(mapping(uint256 => uint256) storage map, uint256 base, uint256 tick)
        internal
        view
        returns (uint256)
    {
        if (tick > MAX_TICK) tick = MAX_TICK;
        uint256 wordIndex = tick >> 8;
        uint256 leaf = map[_leafKey(base, wordIndex)] & (type(uint256).max >> (255 - (tick & 255)));
        if (leaf != 0) return (wordIndex << 8) | _msb(leaf);
        uint256 midIndex = wordIndex >> 8;
        uint256 mid = map[_midKey(base, midIndex)] & ((1 << (wordIndex & 255)) - 1);
        if (mid == 0) {
            uint256 root = map[_rootKey(base)] & ((1 << midIndex) - 1);
            if (root == 0) return 0;
            midIndex = _msb(root);
            mid = map[_midKey(base, midIndex)];
        }
        wordIndex = (midIndex << 8) | _msb(mid);
        return (wordIndex << 8) | _msb(map[_leafKey(base, wordIndex)]);
    }

    /// @dev The lowest occupied tick >= `tick`, or 0 if none.
    function lowestAtOrAbove(mapping(uint256 => uint256) storage map, uint256 base, uint256 tick)
        internal
        view
        returns (uint256)
    {
        if (tick > MAX_TICK) return 0;
        uint256 wordIndex = tick >> 8;
        uint256 leaf = map[_leafKey(base, wordIndex)] & (type(uint256).max << (tick & 255));
        if (leaf != 0) return (wordIndex << 8) | _lsb(leaf);
        uint256 midIndex = wordIndex >> 8;
        // bits strictly above wordIndex & 255; shifting by 256 yields 0 in the EVM
        uint256 mid = map[_midKey(base, midIndex)] & _above(wordIndex & 255);
        if (mid == 0) {
            uint256 root = map[_rootKey(base)] & _above(midIndex);
            if (root == 0) return 0;
            midIndex = _lsb(root);
            mid = map[_midKey(base, midIndex)];
        }
        wordIndex = (midIndex << 8) | _lsb(mid);
        return (wordIndex << 8) | _lsb(map[_leafKey(base, wordIndex)]);
    }

    /// @dev Mask of the bits strictly above `bit` (0..255).
    function _above(uint256 bit) private pure returns (uint256) {
        return bit == 255 ? 0 : type(uint256).max << (bit + 1);
    }

    /// @dev Index of the most significant set bit of a non-zero word (binary search).
    function _msb(uint256 x) private pure returns (uint256 r) {
        // unchecked: r only grows by the halving steps 128+64+...+1 = 255, and each shift
        // is applied only when x has a bit that high, so nothing over- or underflows.
        unchecked {
            if (x >> 128 != 0) {
                x >>= 128;
                r += 128;
            }
            if (x >> 64 != 0) {
                x >>= 64;
                r += 64;
            }
            if (x >> 32 != 0) {
                x >>= 32;
                r += 32;
            }
            if (x >> 16 != 0) {
                x >>= 16;
                r += 16;
            }
            if (x >> 8 != 0) {
                x >>= 8;
                r += 8;
            }
            if (x >> 4 != 0) {
                x >>= 4;
                r += 4;
            }
            if (x >> 2 != 0) {
                x >>= 2;
                r += 2;
            }
            if (x >> 1 != 0) r += 1;
        }
    }

    /// @dev Index of the least significant set bit of a non-zero word.
    function _lsb(uint256 x) private pure returns (uint256) {
        // unchecked: two's-complement negation isolates the lowest set bit (x & -x);
        // 0 - x wraps by design and x != 0.
        unchecked {
            return _msb(x & (0 - x));
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarket} from "../../../interfaces/IMarket.sol";
import {TickBitmap} from "./TickBitmap.sol";

/// @title Price levels with FIFO queues, shared by the continuous market and the call auction
/// @notice A book holds many sub-books (`bookId`: 0 for the continuous market, the round
/// id in the call auction), each with two sides. A side is a bitmap of occupied ticks
/// and, per tick, a level: a FIFO queue of orders addressed by a never-reused index.
/// An order is one storage slot (owner, open amount, expiry) and its id encodes where it
/// lives, so no separate index, pointer or list is written when an order is placed:
/// placing costs one new order slot, one level slot and at most the bitmap words.
/// Cancelled orders leave empty slots that walkers skip; a level that empties resets its
/// head to its tail, so empty slots never outlive their level's last order.
library PriceBook {
    using TickBitmap for mapping(uint256 => uint256);

    uint256 internal constant INDEX_BITS = 40;
    uint256 internal constant INDEX_MASK = (1 << INDEX_BITS) - 1;

    /// @dev One slot: open volume, open orders, queue head (first index that may be
    /// open) and tail (next index to assign). totalWh == 0 iff orders == 0 iff head == tail.
    struct Level {
        uint64 totalWh;
        uint32 orders;
        uint40 head;
        uint40 tail;
    }

    /// @dev One slot. `owner == address(0)` marks an empty (filled/cancelled) slot.
    struct Order {
        address owner;
        uint64 amountWh;
        uint32 expiresAt;
    }

    struct Book {
        mapping(uint256 levelKey => Level) levels;
        mapping(uint256 orderId => Order) orders;
        mapping(uint256 => uint256) bitmap;
    }

    // ---------------------------------------------------------------- ids

    function levelKey(uint256 bookId, IMarket.Side side, uint256 tick) internal pure returns (uint256) {
        return (bookId << 25) | (uint256(side) << 24) | tick;
    }

    function orderId(uint256 key, uint256 index) internal pure returns (uint256) {
        return (key << INDEX_BITS) | index;
    }

    function decode(uint256 id)
        internal
        pure
        returns (uint256 key, uint256 bookId, IMarket.Side side, uint256 tick, uint256 index)
    {
        key = id >> INDEX_BITS;
        bookId = key >> 25;
        side = IMarket.Side((key >> 24) & 1);
        tick = key & TickBitmap.MAX_TICK;
        index = id & INDEX_MASK;
    }

    /// @dev The bitmap of one side of one sub-book.
    function sideBase(uint256 bookId, IMarket.Side side) internal pure returns (uint256) {
        return (bookId << 1) | uint256(side);
    }

    // ---------------------------------------------------------------- queue

    /// @dev Appends an order at the tail of its level; marks the tick when the level was empty.
    function append(
        Book storage book,
        uint256 bookId,
        IMarket.Side side,
        uint256 tick,
        address owner,
        uint256 amountWh,
        uint256 expiresAt
    ) internal returns (uint256 id) {
        uint256 key = levelKey(bookId, side, tick);
        Level memory level = book.levels[key];
        id = orderId(key, level.tail);
        book.orders[id] = Order(owner, uint64(amountWh), uint32(expiresAt));
        if (level.orders == 0) book.bitmap.set(sideBase(bookId, side), tick);
        // Checked arithmetic: a level whose total (or count, or never-reused tail index)
        // would overflow refuses the order instead of wrapping.
        book.levels[key] = Level(level.totalWh + uint64(amountWh), level.orders + 1, level.head, level.tail + 1);
    }

    /// @dev Removes an open order wherever it sits in its level. Returns whether the level
    /// emptied (its tick then left the bitmap).
    function remove(Book storage book, uint256 id, uint256 amountWh) internal returns (bool emptied) {
        (uint256 key, uint256 bookId, IMarket.Side side, uint256 tick, uint256 index) = decode(id);
        delete book.orders[id];
        Level memory level = book.levels[key];
        // unchecked: the order was open in this level, so its amount is part of totalWh,
        // it counts in `orders`, and head <= index < tail.
        unchecked {
            level.totalWh -= uint64(amountWh);
            level.orders -= 1;
            if (index == level.head) level.head += 1;
        }
        if (level.orders == 0) {
            level.head = level.tail;
            book.bitmap.clear(sideBase(bookId, side), tick);
            emptied = true;
        }
        book.levels[key] = level;
    }

    /// @dev Advances a level's head over at most `maxSlots` empty slots.
    function skipEmpty(Book storage book, uint256 key, uint256 maxSlots) internal returns (uint256 skipped) {
        Level memory level = book.levels[key];
        uint256 head = level.head;
        // unchecked: head < tail <= 2^40 and skipped <= maxSlots.
        unchecked {
            while (skipped < maxSlots && head < level.tail && book.orders[orderId(key, head)].owner == address(0)) {
                ++head;
                ++skipped;
            }
        }
        if (skipped != 0) {
            book.levels[key].head = uint40(head);
        }
    }

    /// @dev Marks a tick empty after its level was emptied by a walker.
    function clearTick(Book storage book, uint256 bookId, IMarket.Side side, uint256 tick) internal {
        book.bitmap.clear(sideBase(bookId, side), tick);
    }

    // ---------------------------------------------------------------- navigation

    /// @dev The best occupied tick of a side, 0 if empty: highest bid, lowest ask.
    function best(Book storage book, uint256 bookId, IMarket.Side side) internal view returns (uint256) {
        return side == IMarket.Side.Buy
            ? book.bitmap.highestAtOrBelow(sideBase(bookId, side), TickBitmap.MAX_TICK)
            : book.bitmap.lowestAtOrAbove(sideBase(bookId, side), 1);
    }

    /// @dev The next occupied tick after `tick` moving away from the spread, 0 if none.
    function worse(Book storage book, uint256 bookId, IMarket.Side side, uint256 tick) internal view returns (uint256) {
        if (side == IMarket.Side.Buy) {
            return tick <= 1 ? 0 : book.bitmap.highestAtOrBelow(sideBase(bookId, side), tick - 1);
        }
        return book.bitmap.lowestAtOrAbove(sideBase(bookId, side), tick + 1);
    }

    /// @dev The occupied tick at `tick` or worse than it (0 if none).
    function atOrWorse(Book storage book, uint256 bookId, IMarket.Side side, uint256 tick)
        internal
        view
        returns (uint256)
    {
        return side == IMarket.Side.Buy
            ? book.bitmap.highestAtOrBelow(sideBase(bookId, side), tick)
            : book.bitmap.lowestAtOrAbove(sideBase(bookId, side), tick);
    }
}

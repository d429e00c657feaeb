// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarket} from "../../../interfaces/IMarket.sol";
import {IMarketAuction} from "../../../interfaces/IMarketAuction.sol";
import {PriceBook} from "./PriceBook.sol";

/// @title The call auction's clearing walk over one round's sub-book
/// @notice Clearing is two walks, each resumable from a cursor kept in storage between
/// calls: the price-level sweep ({discover}) that finds the maximal crossing volume and
/// the marginal ticks, then the order walk ({seek}, {advance}) that visits every order
/// of a side in price-time priority, best level first. Settling what the order walk
/// reaches (fills, refunds) stays with the market, which owns the battery calls.
library ClearingWalk {
    using PriceBook for PriceBook.Book;

    /// @dev Round progress. During discovery `tick` is the level being swept, `amountWh`
    /// what of it is still unmatched and `lastTick` the last level matched (the marginal
    /// tick). During settlement `tick`/`index` point at the current order and `amountWh`
    /// is what of it has filled.
    struct Cursor {
        uint24 tick;
        uint40 index;
        uint64 amountWh;
        uint24 lastTick;
    }

    struct Header {
        IMarketAuction.RoundPhase phase;
        uint24 priceTick;
        uint64 volumeWh;
        uint64 settledWh;
    }

    // ---------------------------------------------------------------- discovery

    /// @dev Puts the sweep cursor on the best level of `side`, whole.
    function startSweep(PriceBook.Book storage book, uint256 roundId, IMarket.Side side, Cursor memory c)
        internal
        view
    {
        uint256 tick = book.best(roundId, side);
        c.tick = uint24(tick);
        if (tick != 0) c.amountWh = book.levels[PriceBook.levelKey(roundId, side, tick)].totalWh;
    }

    function _nextSweepLevel(PriceBook.Book storage book, uint256 roundId, IMarket.Side side, Cursor memory c)
        private
        view
    {
        uint256 tick = book.worse(roundId, side, c.tick);
        c.tick = uint24(tick);
        if (tick != 0) c.amountWh = book.levels[PriceBook.levelKey(roundId, side, tick)].totalWh;
    }

    /// @dev Price-priority sweep over levels: matches the best remaining bid level with
    /// the best remaining ask level while they cross. The matched total is the maximal
    /// executable volume; the last matched ticks bound the prices that achieve it.
    function discover(
        PriceBook.Book storage book,
        uint256 roundId,
        Header memory h,
        Cursor memory bid,
        Cursor memory ask,
        uint256 steps
    ) internal view returns (uint256 stepsLeft, bool found) {
        // unchecked: steps > 0 before each decrement; m <= both level remainders; the
        // matched volume is at most the round's sell volume, which is locked WATT and so
        // at most the WATT supply (< 2^40 Wh in the battery), far below 2^64.
        unchecked {
            while (true) {
                if (bid.tick == 0 || ask.tick == 0 || bid.tick < ask.tick) return (steps, true);
                if (steps == 0) return (0, false);
                --steps;
                uint64 m = bid.amountWh < ask.amountWh ? bid.amountWh : ask.amountWh;
                h.volumeWh += m;
                bid.lastTick = bid.tick;
                ask.lastTick = ask.tick;
                bid.amountWh -= m;
                ask.amountWh -= m;
                if (bid.amountWh == 0) _nextSweepLevel(book, roundId, IMarket.Side.Buy, bid);
                if (ask.amountWh == 0) _nextSweepLevel(book, roundId, IMarket.Side.Sell, ask);
            }
        }
    }

    // ---------------------------------------------------------------- order walk

    /// @dev Puts the order cursor on the first slot of the best level of `side`.
    function startWalk(PriceBook.Book storage book, uint256 roundId, IMarket.Side side, Cursor memory c) internal view {
        uint256 tick = book.best(roundId, side);
        c.tick = uint24(tick);
        c.amountWh = 0;
        c.index = tick == 0 ? 0 : book.levels[PriceBook.levelKey(roundId, side, tick)].head;
    }

    /// @dev Moves the cursor to the next open order of its side, skipping at most `steps`
    /// empty slots and deleting each level it walks past. Returns the order (owner 0 if
    /// none reached) and the steps left.
    function seek(PriceBook.Book storage book, uint256 roundId, IMarket.Side side, Cursor memory c, uint256 steps)
        internal
        returns (uint256 id, PriceBook.Order memory o, uint256)
    {
        while (c.tick != 0) {
            uint256 key = PriceBook.levelKey(roundId, side, c.tick);
            if (c.index < book.levels[key].tail) {
                id = PriceBook.orderId(key, c.index);
                o = book.orders[id];
                if (o.owner != address(0)) return (id, o, steps);
                if (steps == 0) return (0, o, 0);
                // unchecked: steps != 0; index < tail < 2^40.
                unchecked {
                    --steps;
                    ++c.index;
                }
            } else {
                delete book.levels[key];
                uint256 tick = book.worse(roundId, side, c.tick);
                c.tick = uint24(tick);
                c.index = tick == 0 ? 0 : book.levels[PriceBook.levelKey(roundId, side, tick)].head;
            }
        }
        return (0, o, steps);
    }

    /// @dev Moves the cursor past the order it is on (that order is done).
    function advance(Cursor memory c) internal pure {
        // unchecked: the index of an existing order is below its level's tail < 2^40.
        unchecked {
            ++c.index;
        }
        c.amountWh = 0;
    }
}

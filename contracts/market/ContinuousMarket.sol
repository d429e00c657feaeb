// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarketContinuous} from "../../interfaces/IMarketContinuous.sol";
import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {MarketBase} from "./MarketBase.sol";
import {MarketIntents} from "./MarketIntents.sol";
import {PriceBook} from "./lib/PriceBook.sol";

/// @title The continuous double auction of WATT against TSL
/// @notice Book 0 of the shared price-book structure; the best bid and ask ticks are
/// cached in one slot so placing an order reads one slot to know whether it crosses.
contract ContinuousMarket is MarketIntents, IMarketContinuous {
    using PriceBook for PriceBook.Book;

    uint256 private constant _BOOK = 0;

    /// @dev Best bid and best ask tick, 0 when a side is empty.
    struct BestTicks {
        uint24 bid;
        uint24 ask;
    }

    BestTicks private _best;

    constructor(ISharedBattery battery_, MarketConfig memory config_) MarketBase(battery_, config_) {}

    // ---------------------------------------------------------------- orders

    /// @inheritdoc IMarketContinuous
    function placeOrder(Side side, uint256 price, uint256 amountWh, uint256 expiresAt, bool immediateOrCancel)
        external
        returns (uint256 orderId, uint256 filledWh)
    {
        return _place(side, price, amountWh, expiresAt, immediateOrCancel);
    }

    /// @inheritdoc IMarketContinuous
    function cancelOrder(uint256 orderId) external {
        _cancel(orderId);
    }

    /// @dev placeOrder for `_actor()`: the caller, or the account of the intent applying.
    function _place(Side side, uint256 price, uint256 amountWh, uint256 expiresAt, bool immediateOrCancel)
        private
        returns (uint256 orderId, uint256 filledWh)
    {
        uint256 tick = _checkOrder(price, amountWh);
        if (expiresAt != 0) {
            if (expiresAt <= block.timestamp) revert MarketExpiryInPast(expiresAt, block.timestamp);
            if (expiresAt > type(uint32).max) revert MarketExpiryTooLarge(expiresAt);
        }
        BestTicks memory best = _best;
        uint256 remaining = amountWh;
        bool changed;
        if (side == Side.Buy) {
            if (best.ask != 0 && best.ask <= tick) {
                uint256 newAsk;
                (remaining, newAsk) = _take(Side.Sell, tick, remaining, best.ask);
                best.ask = uint24(newAsk);
                changed = true;
            }
            if (remaining >= MIN_ORDER_WH && !immediateOrCancel) {
                orderId = _rest(side, tick, price, remaining, expiresAt);
                if (tick > best.bid) {
                    best.bid = uint24(tick);
                    changed = true;
                }
            }
        } else {
            if (best.bid != 0 && best.bid >= tick) {
                uint256 newBid;
                (remaining, newBid) = _take(Side.Buy, tick, remaining, best.bid);
                best.bid = uint24(newBid);
                changed = true;
            }
            if (remaining >= MIN_ORDER_WH && !immediateOrCancel) {
                orderId = _rest(side, tick, price, remaining, expiresAt);
                if (best.ask == 0 || tick < best.ask) {
                    best.ask = uint24(tick);
                    changed = true;
                }
            }
        }
        if (changed) _best = best;
        // unchecked: _take never returns more than it was given.
        unchecked {
            filledWh = amountWh - remaining;
        }
    }

    function _placeIntent(PlaceIntent calldata intent) internal override returns (uint256, uint256) {
        return _place(intent.side, intent.price, intent.amountWh, intent.expiresAt, intent.immediateOrCancel);
    }

    function _cancel(uint256 orderId) internal override {
        PriceBook.Order memory o = _book.orders[orderId];
        address actor = _actor();
        if (o.owner == address(0)) revert MarketUnknownOrder(orderId);
        if (o.owner != actor) revert MarketNotOrderOwner(orderId, actor, o.owner);
        _removeResting(orderId, o, RemovalReason.Cancelled);
    }

    /// @inheritdoc IMarketContinuous
    function purgeExpired(uint256[] calldata orderIds) external returns (uint256 purged) {
        for (uint256 i; i < orderIds.length; ++i) {
            PriceBook.Order memory o = _book.orders[orderIds[i]];
            if (o.owner != address(0) && _expired(o)) {
                _removeResting(orderIds[i], o, RemovalReason.Expired);
                ++purged;
            }
        }
    }

    /// @inheritdoc IMarketContinuous
    function compactLevel(Side side, uint256 price, uint256 maxSlots) external returns (uint256 skipped) {
        return _book.skipEmpty(PriceBook.levelKey(_BOOK, side, price / TICK_SIZE), maxSlots);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IMarketContinuous
    function bestBid() external view returns (uint256 price, uint256 amountWh) {
        return _top(Side.Buy, _best.bid);
    }

    /// @inheritdoc IMarketContinuous
    function bestAsk() external view returns (uint256 price, uint256 amountWh) {
        return _top(Side.Sell, _best.ask);
    }

    /// @inheritdoc IMarketContinuous
    function depth(Side side, uint256 fromPrice, uint256 maxLevels)
        external
        view
        returns (uint256[] memory prices, uint256[] memory amountsWh, uint256[] memory orderCounts, uint256 nextPrice)
    {
        return _depth(_BOOK, side, fromPrice, maxLevels);
    }

    /// @inheritdoc IMarketContinuous
    function ordersOf(address owner, Side side, uint256 fromPrice, uint256 maxLevels)
        external
        view
        returns (uint256[] memory orderIds, uint256 nextPrice)
    {
        return _ordersOf(owner, _BOOK, side, fromPrice, maxLevels);
    }

    /// @dev The best level that still has an order able to fill (expired ones skipped).
    function _top(Side side, uint256 tick) private view returns (uint256 price, uint256 amountWh) {
        for (; tick != 0; tick = _book.worse(_BOOK, side, tick)) {
            (uint256 liveWh, uint256 liveOrders) = _liveLevel(PriceBook.levelKey(_BOOK, side, tick));
            if (liveOrders != 0) return (tick * TICK_SIZE, liveWh);
        }
        return (0, 0);
    }

    /// @dev Expired orders stay in storage until a taker or purgeExpired removes them; the
    /// views leave them out, as no taker can fill them.
    function _liveLevel(uint256 key) internal view override returns (uint256 liveWh, uint256 liveOrders) {
        PriceBook.Level memory level = _book.levels[key];
        liveWh = level.totalWh;
        liveOrders = level.orders;
        for (uint256 i = level.head; i < level.tail; ++i) {
            PriceBook.Order memory o = _book.orders[PriceBook.orderId(key, i)];
            if (o.owner != address(0) && _expired(o)) {
                liveWh -= o.amountWh;
                --liveOrders;
            }
        }
    }

    // ---------------------------------------------------------------- internals

    function _expired(PriceBook.Order memory o) private view returns (bool) {
        return o.expiresAt != 0 && o.expiresAt <= block.timestamp;
    }

    function _rest(Side side, uint256 tick, uint256 price, uint256 amountWh, uint256 expiresAt)
        private
        returns (uint256 orderId)
    {
        address owner = _actor();
        _lock(owner, side, amountWh, price);
        orderId = _book.append(_BOOK, side, tick, owner, amountWh, expiresAt);
        emit OrderPlaced(orderId, owner, side, price, amountWh, expiresAt);
    }

    /// @dev Takes a resting order out of the book (not by a taker), returns its lock and
    /// keeps the cached best ticks right.
    function _removeResting(uint256 orderId, PriceBook.Order memory o, RemovalReason reason) private {
        (,, Side side, uint256 tick,) = PriceBook.decode(orderId);
        if (_book.remove(orderId, o.amountWh)) {
            BestTicks memory best = _best;
            if (side == Side.Buy && best.bid == tick) {
                _best.bid = uint24(_book.worse(_BOOK, side, tick));
            } else if (side == Side.Sell && best.ask == tick) {
                _best.ask = uint24(_book.worse(_BOOK, side, tick));
            }
        }
        emit OrderRemoved(orderId, o.owner, reason, o.amountWh);
        _release(o.owner, side, o.amountWh, tick * TICK_SIZE);
    }

    /// @dev Fills an incoming order of `remaining` Wh against the resting `makerSide`,
    /// from `tick` (that side's best) while the price is within `limitTick`.
    /// @return left what did not fill
    /// @return newBest the maker side's best tick afterwards (0 if it emptied)
    function _take(Side makerSide, uint256 limitTick, uint256 remaining, uint256 tick)
        private
        returns (uint256 left, uint256 newBest)
    {
        while (true) {
            uint256 key = PriceBook.levelKey(_BOOK, makerSide, tick);
            PriceBook.Level memory level = _book.levels[key];
            remaining = _takeLevel(key, level, makerSide, tick * TICK_SIZE, remaining);
            if (level.orders != 0) {
                _book.levels[key] = level;
                return (remaining, tick);
            }
            level.head = level.tail;
            _book.levels[key] = level;
            _book.clearTick(_BOOK, makerSide, tick);
            tick = _book.worse(_BOOK, makerSide, tick);
            if (tick == 0) return (remaining, 0);
            if (remaining == 0 || (makerSide == Side.Sell ? tick > limitTick : tick < limitTick)) {
                return (remaining, tick);
            }
        }
    }

    /// @dev Walks one level's queue while `remaining` lasts; updates `level` in memory.
    function _takeLevel(uint256 key, PriceBook.Level memory level, Side makerSide, uint256 price, uint256 remaining)
        private
        returns (uint256)
    {
        uint256 index = level.head;
        uint256 tail = level.tail;
        address taker = _actor();
        // unchecked: index < tail <= 2^40; fills never exceed the order's or the taker's
        // amount, so totals and counts only decrease by what they contain.
        unchecked {
            for (; index < tail && remaining != 0; ++index) {
                uint256 id = PriceBook.orderId(key, index);
                PriceBook.Order memory o = _book.orders[id];
                if (o.owner == address(0)) continue;
                if (_expired(o) || o.owner == taker) {
                    delete _book.orders[id];
                    level.totalWh -= o.amountWh;
                    level.orders -= 1;
                    emit OrderRemoved(
                        id, o.owner, _expired(o) ? RemovalReason.Expired : RemovalReason.SelfTrade, o.amountWh
                    );
                    _release(o.owner, makerSide, o.amountWh, price);
                    continue;
                }
                uint256 fill = remaining < o.amountWh ? remaining : o.amountWh;
                uint256 moved = makerSide == Side.Sell
                    ? _settle(o.owner, taker, id, 0, fill, price, true, false)
                    : _settle(taker, o.owner, 0, id, fill, price, false, true);
                remaining -= moved;
                if (moved == o.amountWh) {
                    delete _book.orders[id];
                    level.totalWh -= o.amountWh;
                    level.orders -= 1;
                } else if (moved < fill) {
                    // the seller's lock shrank (rent in kind): close the order, nothing is
                    // left locked for it; the taker carries on with the next maker
                    delete _book.orders[id];
                    level.totalWh -= o.amountWh;
                    level.orders -= 1;
                    emit OrderRemoved(id, o.owner, RemovalReason.SellerShortfall, o.amountWh - moved);
                } else {
                    uint256 left = o.amountWh - moved;
                    if (left < MIN_ORDER_WH) {
                        // Dust would make every later taker pay for it: refund it (L-3).
                        delete _book.orders[id];
                        level.totalWh -= o.amountWh;
                        level.orders -= 1;
                        emit OrderRemoved(id, o.owner, RemovalReason.BelowMinimum, left);
                        _release(o.owner, makerSide, left, price);
                        ++index;
                    } else {
                        _book.orders[id].amountWh = uint64(left);
                        level.totalWh -= uint64(moved);
                    }
                    break; // the taker is done: this maker keeps its place with the rest
                }
            }
        }
        level.head = uint40(index);
        return remaining;
    }
}

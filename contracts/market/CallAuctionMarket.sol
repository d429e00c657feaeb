// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarketAuction} from "../../interfaces/IMarketAuction.sol";
import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {MarketBase} from "./MarketBase.sol";
import {MarketIntents} from "./MarketIntents.sol";
import {PriceBook} from "./lib/PriceBook.sol";
import {ClearingWalk} from "./lib/ClearingWalk.sol";

/// @title The periodic call auction of WATT against TSL (the Manila market)
/// @notice Each round is its own sub-book of the shared price-book structure (bookId =
/// round id). Clearing is a resumable state machine: a price-level sweep that finds the
/// maximal crossing volume and the marginal ticks, then an order walk that pairs eligible
/// bids and asks at the uniform price and refunds everything else. Its progress lives in
/// three slots per round, so a round of any size clears in bounded chunks.
contract CallAuctionMarket is MarketIntents, IMarketAuction {
    using PriceBook for PriceBook.Book;
    using ClearingWalk for PriceBook.Book;

    uint256 internal immutable ROUND_LENGTH;
    uint256 private constant _QUEUE_ADVANCE = 8;

    struct Round {
        ClearingWalk.Header header;
        ClearingWalk.Cursor bid;
        ClearingWalk.Cursor ask;
    }

    mapping(uint256 roundId => Round) private _rounds;
    /// @dev Rounds that received orders, in order; `_queueHead` skips cleared ones.
    uint64[] private _queue;
    uint256 private _queueHead;
    uint256 private _lastQueuedPlusOne;

    constructor(ISharedBattery battery_, MarketConfig memory config_, uint256 roundLength_)
        MarketBase(battery_, config_)
    {
        if (roundLength_ == 0 || roundLength_ > 1 weeks) revert AuctionInvalidRoundLength(roundLength_);
        ROUND_LENGTH = roundLength_;
    }

    // ---------------------------------------------------------------- orders

    /// @inheritdoc IMarketAuction
    function placeOrder(Side side, uint256 price, uint256 amountWh) external returns (uint256 orderId) {
        return _place(side, price, amountWh);
    }

    /// @inheritdoc IMarketAuction
    function cancelOrder(uint256 orderId) external {
        _cancel(orderId);
    }

    function _placeIntent(PlaceIntent calldata intent) internal override returns (uint256 orderId, uint256 filledWh) {
        if (intent.expiresAt != 0 || intent.immediateOrCancel) {
            revert MarketUnsupportedOrderOption(intent.expiresAt, intent.immediateOrCancel);
        }
        return (_place(intent.side, intent.price, intent.amountWh), 0);
    }

    /// @dev placeOrder for `_actor()`: the caller, or the account of the intent applying.
    function _place(Side side, uint256 price, uint256 amountWh) private returns (uint256 orderId) {
        uint256 tick = _checkOrder(price, amountWh);
        uint256 roundId = block.timestamp / ROUND_LENGTH;
        if (_lastQueuedPlusOne != roundId + 1) {
            _queue.push(uint64(roundId));
            _lastQueuedPlusOne = roundId + 1;
        }
        address owner = _actor();
        _lock(owner, side, amountWh, price);
        orderId = _book.append(roundId, side, tick, owner, amountWh, 0);
        emit OrderPlaced(orderId, owner, side, price, amountWh, 0);
    }

    function _cancel(uint256 orderId) internal override {
        PriceBook.Order memory o = _book.orders[orderId];
        address actor = _actor();
        if (o.owner == address(0)) revert MarketUnknownOrder(orderId);
        if (o.owner != actor) revert MarketNotOrderOwner(orderId, actor, o.owner);
        (, uint256 roundId, Side side, uint256 tick,) = PriceBook.decode(orderId);
        if (roundId != block.timestamp / ROUND_LENGTH) revert AuctionRoundClosed(roundId);
        _book.remove(orderId, o.amountWh);
        emit OrderRemoved(orderId, o.owner, RemovalReason.Cancelled, o.amountWh);
        _release(o.owner, side, o.amountWh, tick * TICK_SIZE);
    }

    // ---------------------------------------------------------------- clearing

    /// @inheritdoc IMarketAuction
    function clearRound(uint256 roundId, uint256 maxSteps) external returns (bool done) {
        if (maxSteps == 0) revert AuctionZeroSteps();
        uint256 closesAt = (roundId + 1) * ROUND_LENGTH;
        if (block.timestamp < closesAt) revert AuctionRoundNotClosed(roundId, closesAt);
        Round storage round = _rounds[roundId];
        ClearingWalk.Header memory h = round.header;
        if (h.phase == RoundPhase.Cleared) revert AuctionRoundAlreadyCleared(roundId);
        ClearingWalk.Cursor memory bid = round.bid;
        ClearingWalk.Cursor memory ask = round.ask;
        uint256 steps = maxSteps;

        if (h.phase == RoundPhase.Open) {
            h.phase = RoundPhase.Discovering;
            _book.startSweep(roundId, Side.Buy, bid);
            _book.startSweep(roundId, Side.Sell, ask);
        }
        if (h.phase == RoundPhase.Discovering) {
            bool found;
            (steps, found) = _book.discover(roundId, h, bid, ask, steps);
            if (found) {
                if (h.volumeWh != 0) h.priceTick = uint24((uint256(bid.lastTick) + ask.lastTick) / 2);
                h.phase = RoundPhase.Settling;
                emit RoundPriceDiscovered(roundId, uint256(h.priceTick) * TICK_SIZE, h.volumeWh);
                _book.startWalk(roundId, Side.Buy, bid);
                _book.startWalk(roundId, Side.Sell, ask);
            }
        }
        if (h.phase == RoundPhase.Settling && steps != 0) {
            if (_settleOrders(roundId, h, bid, ask, steps)) {
                h.phase = RoundPhase.Cleared;
                done = true;
            }
        }
        round.header = h;
        round.bid = bid;
        round.ask = ask;
        if (done) {
            emit RoundCleared(roundId, uint256(h.priceTick) * TICK_SIZE, h.settledWh);
            _advanceQueue();
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IMarketAuction
    function roundLength() external view returns (uint256) {
        return ROUND_LENGTH;
    }

    /// @inheritdoc IMarketAuction
    function currentRound() external view returns (uint256 roundId, uint256 closesAt) {
        roundId = block.timestamp / ROUND_LENGTH;
        closesAt = (roundId + 1) * ROUND_LENGTH;
    }

    /// @inheritdoc IMarketAuction
    function roundState(uint256 roundId) external view returns (RoundState memory) {
        ClearingWalk.Header memory h = _rounds[roundId].header;
        return RoundState(
            h.phase,
            roundId * ROUND_LENGTH,
            (roundId + 1) * ROUND_LENGTH,
            uint256(h.priceTick) * TICK_SIZE,
            h.volumeWh,
            h.settledWh
        );
    }

    /// @inheritdoc IMarketAuction
    function clearableRound() external view returns (bool due, uint256 roundId) {
        uint256 length = _queue.length;
        for (uint256 i = _queueHead; i < length; ++i) {
            roundId = _queue[i];
            if (_rounds[roundId].header.phase == RoundPhase.Cleared) continue;
            if (block.timestamp >= (roundId + 1) * ROUND_LENGTH) return (true, roundId);
            return (false, 0);
        }
        return (false, 0);
    }

    /// @inheritdoc IMarketAuction
    function depth(uint256 roundId, Side side, uint256 fromPrice, uint256 maxLevels)
        external
        view
        returns (uint256[] memory prices, uint256[] memory amountsWh, uint256[] memory orderCounts, uint256 nextPrice)
    {
        return _depth(roundId, side, fromPrice, maxLevels);
    }

    /// @inheritdoc IMarketAuction
    function ordersOf(address owner, uint256 roundId, Side side, uint256 fromPrice, uint256 maxLevels)
        external
        view
        returns (uint256[] memory orderIds, uint256 nextPrice)
    {
        return _ordersOf(owner, roundId, side, fromPrice, maxLevels);
    }

    // ---------------------------------------------------------------- settlement

    /// @dev Pairs eligible bids and asks at the clearing price and refunds the rest.
    /// Returns true once both sides are walked to the end.
    function _settleOrders(
        uint256 roundId,
        ClearingWalk.Header memory h,
        ClearingWalk.Cursor memory bid,
        ClearingWalk.Cursor memory ask,
        uint256 steps
    ) private returns (bool) {
        uint256 price = uint256(h.priceTick) * TICK_SIZE;
        while (steps != 0) {
            uint256 bidId;
            uint256 askId;
            PriceBook.Order memory b;
            PriceBook.Order memory a;
            (bidId, b, steps) = _book.seek(roundId, Side.Buy, bid, steps);
            (askId, a, steps) = _book.seek(roundId, Side.Sell, ask, steps);
            if (steps == 0) return false;
            bool bidEligible = b.owner != address(0) && h.priceTick != 0 && bid.tick >= h.priceTick;
            bool askEligible = a.owner != address(0) && h.priceTick != 0 && ask.tick <= h.priceTick;
            if (bidEligible && askEligible) {
                uint256 work = _pair(h, bid, ask, bidId, b, askId, a);
                // a pair may finish two orders on the last step: the call then does
                // maxSteps + 1 steps of work, still bounded
                steps = steps > work ? steps - work : 0;
            } else if (b.owner != address(0)) {
                _finishBid(bidId, b, bid, price);
                --steps;
            } else if (a.owner != address(0)) {
                _finishAsk(askId, a, ask);
                --steps;
            } else {
                return true;
            }
        }
        return false;
    }

    /// @dev Fills the bid and the ask at the cursors against each other as far as the
    /// smaller remainder goes; finishes whichever is done. Returns how many it finished.
    function _pair(
        ClearingWalk.Header memory h,
        ClearingWalk.Cursor memory bid,
        ClearingWalk.Cursor memory ask,
        uint256 bidId,
        PriceBook.Order memory b,
        uint256 askId,
        PriceBook.Order memory a
    ) private returns (uint256 work) {
        uint256 price = uint256(h.priceTick) * TICK_SIZE;
        uint256 moved;
        // unchecked: cursor amounts never exceed their order's amount; sums of settled
        // WATT stay below the WATT supply (< 2^40 Wh).
        unchecked {
            uint256 piece = b.amountWh - bid.amountWh;
            if (a.amountWh - ask.amountWh < piece) piece = a.amountWh - ask.amountWh;
            moved = _settle(a.owner, b.owner, askId, bidId, piece, price, true, true);
            h.settledWh += uint64(moved);
            bid.amountWh += uint64(moved);
            ask.amountWh += uint64(moved);
            if (moved < piece) {
                _closeShortAsk(askId, a, ask);
                ++work;
            } else if (ask.amountWh == a.amountWh) {
                _finishAsk(askId, a, ask);
                ++work;
            }
        }
        if (bid.amountWh == b.amountWh) {
            _finishBid(bidId, b, bid, price);
            ++work;
        }
    }

    /// @dev A bid is done: it paid `filled * price / 1000` out of its lock; the rest of
    /// the lock (price improvement and unfilled remainder) goes back.
    function _finishBid(uint256 id, PriceBook.Order memory b, ClearingWalk.Cursor memory c, uint256 price) private {
        uint256 filled = c.amountWh;
        (,,, uint256 tick,) = PriceBook.decode(id);
        delete _book.orders[id];
        if (filled < b.amountWh) emit OrderRemoved(id, b.owner, RemovalReason.Unfilled, b.amountWh - filled);
        uint256 refund = _cost(b.amountWh, tick * TICK_SIZE) - _cost(filled, price);
        if (refund != 0) BATTERY.unlockTsl(b.owner, refund);
        ClearingWalk.advance(c);
    }

    function _finishAsk(uint256 id, PriceBook.Order memory a, ClearingWalk.Cursor memory c) private {
        uint256 filled = c.amountWh;
        delete _book.orders[id];
        if (filled < a.amountWh) {
            emit OrderRemoved(id, a.owner, RemovalReason.Unfilled, a.amountWh - filled);
            BATTERY.unlockWatt(a.owner, (a.amountWh - filled) * WH);
        }
        ClearingWalk.advance(c);
    }

    /// @dev Rent paid in kind shrank the seller's lock below its order: close it, nothing
    /// is left locked for it.
    function _closeShortAsk(uint256 id, PriceBook.Order memory a, ClearingWalk.Cursor memory c) private {
        delete _book.orders[id];
        emit OrderRemoved(id, a.owner, RemovalReason.SellerShortfall, a.amountWh - c.amountWh);
        ClearingWalk.advance(c);
    }

    function _advanceQueue() private {
        uint256 head = _queueHead;
        uint256 length = _queue.length;
        for (uint256 n; n < _QUEUE_ADVANCE && head < length; ++n) {
            if (_rounds[_queue[head]].header.phase != RoundPhase.Cleared) break;
            ++head;
        }
        _queueHead = head;
    }
}

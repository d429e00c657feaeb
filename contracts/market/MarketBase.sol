// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarket} from "../../interfaces/IMarket.sol";
import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {PriceBook} from "./lib/PriceBook.sol";
import {TickBitmap} from "./lib/TickBitmap.sol";

/// @title What both market modes share: configuration, validation, escrow and settlement
/// through the battery, and the read side of the price book
abstract contract MarketBase is IMarket {
    using PriceBook for PriceBook.Book;

    // ---------------------------------------------------------------- constants

    /// @dev WATT base units per Wh.
    uint256 internal constant WH = 1e15;
    /// @dev Orders are capped so level totals (uint64) can't overflow: 2^48 Wh is
    /// 281 TWh, far beyond any community battery.
    uint256 internal constant MAX_AMOUNT_WH = (1 << 48) - 1;
    uint256 internal constant MAX_TICK_SIZE = 1 << 128;
    uint16 internal constant MAX_FEE_BPS = 1_000;

    // ---------------------------------------------------------------- immutables

    ISharedBattery internal immutable BATTERY;
    uint256 internal immutable TICK_SIZE;
    uint256 internal immutable MIN_ORDER_WH;
    uint256 internal immutable FEE_BPS;
    address internal immutable FEE_RECIPIENT;
    bool internal immutable CAP_AT_UTILITY_PRICE;

    // ---------------------------------------------------------------- storage

    PriceBook.Book internal _book;

    // ---------------------------------------------------------------- constructor

    constructor(ISharedBattery battery_, MarketConfig memory config_) {
        if (address(battery_) == address(0)) revert MarketZeroAddress();
        if (config_.tickSize == 0 || config_.tickSize % 1000 != 0 || config_.tickSize > MAX_TICK_SIZE) {
            revert MarketInvalidTickSize(config_.tickSize);
        }
        if (config_.feeBps > MAX_FEE_BPS) revert MarketInvalidFee(config_.feeBps);
        if (config_.feeBps != 0 && config_.feeRecipient == address(0)) revert MarketZeroAddress();
        BATTERY = battery_;
        TICK_SIZE = config_.tickSize;
        MIN_ORDER_WH = config_.minOrderWh == 0 ? 1 : config_.minOrderWh;
        FEE_BPS = config_.feeBps;
        FEE_RECIPIENT = config_.feeRecipient;
        CAP_AT_UTILITY_PRICE = config_.capAtUtilityPrice;
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IMarket
    function battery() external view returns (ISharedBattery) {
        return BATTERY;
    }

    /// @inheritdoc IMarket
    function config() external view returns (MarketConfig memory) {
        return MarketConfig(TICK_SIZE, MIN_ORDER_WH, uint16(FEE_BPS), FEE_RECIPIENT, CAP_AT_UTILITY_PRICE);
    }

    /// @inheritdoc IMarket
    function maxPrice() external view returns (uint256) {
        return TickBitmap.MAX_TICK * TICK_SIZE;
    }

    /// @inheritdoc IMarket
    function order(uint256 orderId) external view returns (OrderInfo memory info) {
        (, uint256 bookId, Side side, uint256 tick,) = PriceBook.decode(orderId);
        PriceBook.Order memory o = _book.orders[orderId];
        info = OrderInfo(o.owner, side, tick * TICK_SIZE, o.amountWh, o.expiresAt, bookId);
    }

    /// @inheritdoc IMarket
    function rankOf(uint256 orderId) external view returns (uint256 rank, uint256 aheadWh) {
        PriceBook.Order memory o = _book.orders[orderId];
        if (o.owner == address(0)) return (0, 0);
        (uint256 key, uint256 bookId, Side side, uint256 tick, uint256 index) = PriceBook.decode(orderId);
        for (uint256 t = _book.best(bookId, side); t != tick && t != 0; t = _book.worse(bookId, side, t)) {
            PriceBook.Level memory level = _book.levels[PriceBook.levelKey(bookId, side, t)];
            rank += level.orders;
            aheadWh += level.totalWh;
        }
        for (uint256 i = _book.levels[key].head; i < index; ++i) {
            PriceBook.Order memory ahead = _book.orders[PriceBook.orderId(key, i)];
            if (ahead.owner != address(0)) {
                ++rank;
                aheadWh += ahead.amountWh;
            }
        }
        ++rank;
    }

    function _depth(uint256 bookId, Side side, uint256 fromPrice, uint256 maxLevels)
        internal
        view
        returns (uint256[] memory prices, uint256[] memory amountsWh, uint256[] memory orderCounts, uint256 nextPrice)
    {
        prices = new uint256[](maxLevels);
        amountsWh = new uint256[](maxLevels);
        orderCounts = new uint256[](maxLevels);
        uint256 tick = _firstTick(bookId, side, fromPrice);
        uint256 n;
        while (n < maxLevels && tick != 0) {
            (uint256 liveWh, uint256 liveOrders) = _liveLevel(PriceBook.levelKey(bookId, side, tick));
            if (liveOrders != 0) {
                prices[n] = tick * TICK_SIZE;
                amountsWh[n] = liveWh;
                orderCounts[n] = liveOrders;
                ++n;
            }
            tick = _book.worse(bookId, side, tick);
        }
        nextPrice = tick * TICK_SIZE;
        _shrink(prices, n);
        _shrink(amountsWh, n);
        _shrink(orderCounts, n);
    }

    function _ordersOf(address owner, uint256 bookId, Side side, uint256 fromPrice, uint256 maxLevels)
        internal
        view
        returns (uint256[] memory orderIds, uint256 nextPrice)
    {
        uint256 first = _firstTick(bookId, side, fromPrice);
        uint256 capacity;
        uint256 tick = first;
        for (uint256 n; n < maxLevels && tick != 0; ++n) {
            capacity += _book.levels[PriceBook.levelKey(bookId, side, tick)].orders;
            tick = _book.worse(bookId, side, tick);
        }
        nextPrice = tick * TICK_SIZE;
        orderIds = new uint256[](capacity);
        uint256 found;
        tick = first;
        for (uint256 n; n < maxLevels && tick != 0; ++n) {
            uint256 key = PriceBook.levelKey(bookId, side, tick);
            PriceBook.Level memory level = _book.levels[key];
            for (uint256 i = level.head; i < level.tail; ++i) {
                uint256 id = PriceBook.orderId(key, i);
                if (_book.orders[id].owner == owner) orderIds[found++] = id;
            }
            tick = _book.worse(bookId, side, tick);
        }
        _shrink(orderIds, found);
    }

    /// @dev What a level offers to a taker now (views only): the stored totals, less
    /// what can no longer fill. The base has nothing that lapses; see ContinuousMarket.
    function _liveLevel(uint256 key) internal view virtual returns (uint256 liveWh, uint256 liveOrders) {
        PriceBook.Level memory level = _book.levels[key];
        return (level.totalWh, level.orders);
    }

    function _firstTick(uint256 bookId, Side side, uint256 fromPrice) private view returns (uint256) {
        if (fromPrice == 0) return _book.best(bookId, side);
        uint256 tick = fromPrice / TICK_SIZE;
        if (side == Side.Sell && fromPrice % TICK_SIZE != 0) ++tick;
        return tick == 0 ? 0 : _book.atOrWorse(bookId, side, tick);
    }

    function _shrink(uint256[] memory array, uint256 length) private pure {
        assembly ("memory-safe") {
            mstore(array, length)
        }
    }

    // ---------------------------------------------------------------- validation

    /// @dev Checks an incoming order; returns its tick.
    function _checkOrder(uint256 price, uint256 amountWh) internal view returns (uint256 tick) {
        if (amountWh == 0) revert MarketZeroAmount();
        if (amountWh > MAX_AMOUNT_WH) revert MarketAmountTooLarge(amountWh, MAX_AMOUNT_WH);
        if (amountWh < MIN_ORDER_WH) revert MarketBelowMinimum(amountWh, MIN_ORDER_WH);
        if (price == 0) revert MarketZeroPrice();
        if (price % TICK_SIZE != 0) revert MarketPriceOffTick(price, TICK_SIZE);
        tick = price / TICK_SIZE;
        if (tick > TickBitmap.MAX_TICK) revert MarketPriceTooHigh(price, TickBitmap.MAX_TICK * TICK_SIZE);
        if (CAP_AT_UTILITY_PRICE) {
            uint256 cap = BATTERY.utilityPrice();
            if (price > cap) revert MarketPriceAboveCap(price, cap);
        }
    }

    // ---------------------------------------------------------------- escrow

    /// @dev TSL for `amountWh` at `price`; exact because the tick is a multiple of 1000.
    function _cost(uint256 amountWh, uint256 price) internal pure returns (uint256) {
        return amountWh * price / 1000;
    }

    function _lock(address owner, Side side, uint256 amountWh, uint256 price) internal {
        if (side == Side.Sell) BATTERY.lockWatt(owner, amountWh * WH);
        else BATTERY.lockTsl(owner, _cost(amountWh, price));
    }

    function _release(address owner, Side side, uint256 amountWh, uint256 price) internal {
        if (amountWh == 0) return;
        if (side == Side.Sell) BATTERY.unlockWatt(owner, amountWh * WH);
        else BATTERY.unlockTsl(owner, _cost(amountWh, price));
    }

    /// @dev Settles one fill at `price` through the battery and emits the trade.
    /// @return movedWh what actually moved: less than `amountWh` only when rent paid in
    /// kind shrank the seller's lock (the battery then moves TSL pro rata)
    function _settle(
        address seller,
        address buyer,
        uint256 sellOrderId,
        uint256 buyOrderId,
        uint256 amountWh,
        uint256 price,
        bool sellerLocked,
        bool buyerLocked
    ) internal returns (uint256 movedWh) {
        uint256 tslAmount = _cost(amountWh, price);
        // Rounded up: on fine ticks a fee rounded down would be 0 for every small fill.
        uint256 fee = FEE_BPS == 0 ? 0 : (tslAmount * FEE_BPS + 9_999) / 10_000;
        uint256 moved = BATTERY.settleFill(
            ISharedBattery.Fill(seller, buyer, amountWh * WH, tslAmount, fee, FEE_RECIPIENT, sellerLocked, buyerLocked)
        );
        movedWh = moved / WH;
        if (movedWh == amountWh) {
            emit Traded(seller, buyer, sellOrderId, buyOrderId, amountWh, price, fee);
        } else if (movedWh != 0) {
            emit Traded(seller, buyer, sellOrderId, buyOrderId, movedWh, price, fee * moved / (amountWh * WH));
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISharedBattery} from "./ISharedBattery.sol";

/// @title What every Energo market shares: units, orders, escrow, the trade event, views
/// @notice Amounts are whole watt-hours (1 Wh = 1e15 WATT base units). Prices are TSL
/// base units per WATT (per kWh) on the market's tick grid; the tick is a multiple of
/// 1000, so the TSL of a fill, `amountWh * price / 1000`, is always exact.
/// Escrow lives in the SharedBattery: a sell order locks the seller's WATT (still owned,
/// still paying rent), a buy order locks `amountWh * price / 1000` TSL of the buyer's
/// deposit. Every fill settles at once through `ISharedBattery.settleFill`, which moves
/// WATT to the buyer and TSL to the seller and counts purchased/sold energy; the market's
/// `Traded` event is the battery's notice that the buyer's consumption is now served
/// from that energy.
///
/// Order ids are structural: `id = levelKey << 40 | queueIndex` with
/// `levelKey = bookId << 25 | side << 24 | tick`; `bookId` is 0 in the continuous market
/// and the round id in the call auction, `tick = price / tickSize`. Ids are never reused.
interface IMarket {
    // ---------------------------------------------------------------- types

    enum Side {
        Buy,
        Sell
    }

    /// @notice Why an order left the book without (fully) trading.
    enum RemovalReason {
        Cancelled, // by its owner
        Expired, // good-till-time passed; purged by anyone or skipped by a taker
        SelfTrade, // a taker of the same owner met it: the resting order is cancelled
        SellerShortfall, // rent paid in kind shrank the seller's lock: the order closed
        Unfilled, // call auction: the remainder after clearing was refunded
        BelowMinimum // continuous: a partial fill left less than the minimum order size, refunded
    }

    /// @notice Per-market options, fixed at deployment. Fee and cap are off by default.
    struct MarketConfig {
        uint256 tickSize; // TSL base units per WATT; a positive multiple of 1000
        uint256 minOrderWh; // smallest order accepted (a remainder may be smaller)
        uint16 feeBps; // fee on the seller's proceeds, in basis points (0 = off)
        address feeRecipient; // credited with fees as free TSL in the battery
        bool capAtUtilityPrice; // reject prices above battery.utilityPrice()
    }

    struct OrderInfo {
        address owner; // zero when the id is not an open order
        Side side;
        uint256 price;
        uint256 amountWh; // still open (unfilled) amount
        uint256 expiresAt; // 0 = good till cancelled (continuous market only)
        uint256 bookId; // 0 in the continuous market, the round id in the call auction
    }

    // ---------------------------------------------------------------- events

    event OrderPlaced(
        uint256 indexed orderId, address indexed owner, Side side, uint256 price, uint256 amountWh, uint256 expiresAt
    );
    /// @notice An order left the book with `remainingWh` unfilled; its lock went back to
    /// its owner (except after `SellerShortfall`, where nothing was left locked).
    event OrderRemoved(uint256 indexed orderId, address indexed owner, RemovalReason reason, uint256 remainingWh);
    /// @notice One fill, settled: `amountWh` of WATT went to `buyer` and
    /// `amountWh * price / 1000 - feeTsl` TSL to `seller`. `sellOrderId`/`buyOrderId` are
    /// the orders involved (0 for the incoming side of a continuous-market match).
    event Traded(
        address indexed seller,
        address indexed buyer,
        uint256 indexed sellOrderId,
        uint256 buyOrderId,
        uint256 amountWh,
        uint256 price,
        uint256 feeTsl
    );

    // ---------------------------------------------------------------- errors

    error MarketZeroAmount();
    error MarketAmountTooLarge(uint256 amountWh, uint256 max);
    error MarketBelowMinimum(uint256 amountWh, uint256 minimum);
    error MarketZeroPrice();
    error MarketPriceOffTick(uint256 price, uint256 tickSize);
    error MarketPriceTooHigh(uint256 price, uint256 max);
    error MarketPriceAboveCap(uint256 price, uint256 cap);
    error MarketUnknownOrder(uint256 orderId);
    error MarketNotOrderOwner(uint256 orderId, address caller, address owner);
    error MarketInvalidTickSize(uint256 tickSize);
    error MarketInvalidFee(uint16 feeBps);
    error MarketZeroAddress();

    // ---------------------------------------------------------------- views

    /// @notice The battery that holds this market's escrow and settles its fills.
    function battery() external view returns (ISharedBattery);
    /// @notice The parameters the market was deployed with (tick, sizes, fee).
    function config() external view returns (MarketConfig memory);
    /// @notice The highest price the tick grid can express.
    function maxPrice() external view returns (uint256);

    /// @notice One order's state; `owner` is zero once it is filled, cancelled or removed.
    function order(uint256 orderId) external view returns (OrderInfo memory);

    /// @notice The order's place in the merit order of its side (1 = next to fill):
    /// orders at better prices, then earlier orders at its price, come first.
    /// @return rank 1-based position; 0 if the order is not open
    /// @return aheadWh open volume ahead of it
    function rankOf(uint256 orderId) external view returns (uint256 rank, uint256 aheadWh);
}

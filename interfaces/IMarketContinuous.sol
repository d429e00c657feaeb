// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarket} from "./IMarket.sol";

/// @title The continuous double auction: a limit order book with price-time priority
/// @notice An incoming order first trades against the opposite side at the resting
/// (maker's) prices, best price first and first-in first-out at one price, then rests
/// the remainder unless it is immediate-or-cancel or below the minimum order size. A
/// maker left with less than the minimum by a partial fill is closed and refunded
/// (`RemovalReason.BelowMinimum`), so no taker pays for dust. Fees round up. Expired makers never fill: a taker
/// that meets one removes it and returns its lock. A taker never trades with its own
/// resting order: that order is cancelled instead (self-trade prevention).
interface IMarketContinuous is IMarket {
    // ---------------------------------------------------------------- errors

    error MarketExpiryInPast(uint256 expiresAt, uint256 nowTimestamp);
    error MarketExpiryTooLarge(uint256 expiresAt);

    // ---------------------------------------------------------------- orders

    /// @notice Places a limit order. Buying needs `amountWh * price / 1000` TSL free in
    /// the battery for what does not fill at once (what fills pays the makers' lower or
    /// equal prices out of the free deposit); selling needs the WATT spendable.
    /// @param expiresAt 0 = good till cancelled, else the timestamp from which the order
    /// no longer fills (good till time)
    /// @param immediateOrCancel fill what crosses now and rest nothing
    /// @return orderId the resting order, 0 if nothing rests
    /// @return filledWh what traded at once
    function placeOrder(Side side, uint256 price, uint256 amountWh, uint256 expiresAt, bool immediateOrCancel)
        external
        returns (uint256 orderId, uint256 filledWh);

    /// @notice Cancels the caller's open order and returns exactly what it still locks.
    function cancelOrder(uint256 orderId) external;

    /// @notice Removes expired orders (anyone may call; ids that are not open and
    /// expired are skipped) and returns each lock to its owner.
    function purgeExpired(uint256[] calldata orderIds) external returns (uint256 purged);

    /// @notice Skips at most `maxSlots` cancelled slots at the front of one price level,
    /// so the next taker does not pay for them (anyone may call).
    function compactLevel(Side side, uint256 price, uint256 maxSlots) external returns (uint256 skipped);

    // ---------------------------------------------------------------- views

    /// @notice The best bid that can still fill: levels of only expired orders are skipped,
    /// and expired orders are left out of the volume (as in `depth`).
    /// @return price 0 when the side is empty
    /// @return amountWh open volume at that price
    function bestBid() external view returns (uint256 price, uint256 amountWh);
    /// @notice The best ask that can still fill (see `bestBid`).
    /// @return price 0 when the side is empty
    /// @return amountWh open volume at that price
    function bestAsk() external view returns (uint256 price, uint256 amountWh);

    /// @notice Price levels of one side from the best price outwards, paged; expired
    /// orders, and levels that hold only expired orders, are left out.
    /// @param fromPrice 0 = start at the best price, else the first price to show
    /// @return prices level prices, best first
    /// @return amountsWh open volume per level
    /// @return orderCounts open orders per level
    /// @return nextPrice where the next page starts (0 = no more levels)
    function depth(Side side, uint256 fromPrice, uint256 maxLevels)
        external
        view
        returns (uint256[] memory prices, uint256[] memory amountsWh, uint256[] memory orderCounts, uint256 nextPrice);

    /// @notice The account's open orders on one side, scanning at most `maxLevels` levels.
    /// @return orderIds open order ids, in priority order
    /// @return nextPrice where the next page starts (0 = scanned to the end)
    function ordersOf(address owner, Side side, uint256 fromPrice, uint256 maxLevels)
        external
        view
        returns (uint256[] memory orderIds, uint256 nextPrice);
}

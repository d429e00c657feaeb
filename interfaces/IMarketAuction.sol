// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMarket} from "./IMarket.sol";

/// @title The periodic call auction (the Manila market)
/// @notice Time is cut into rounds of `roundLength()` seconds aligned to multiples of it:
/// round r is open during [r * length, (r + 1) * length). Orders placed now join the open
/// round and lock their funds; they can be cancelled while it is open. Once it closes
/// anyone may clear it, in as many bounded `clearRound` calls as it takes.
///
/// Clearing price (pay-as-clear, one uniform price per round): the executable volume
/// V(p) = min(bids at or above p, asks at or below p) is maximal on a price interval
/// [a*, b*] whose ends are the marginal (last matched) ask and bid in a price-priority
/// sweep. The round clears at the midpoint of that interval, rounded down to the tick
/// grid. Every bid at or above the price and every ask at or below it is eligible;
/// eligible orders fill in price priority, and at one price earlier orders first, until
/// the shorter side is exhausted. Buyers pay the clearing price; the difference to
/// their limit and every unfilled remainder is unlocked.
interface IMarketAuction is IMarket {
    // ---------------------------------------------------------------- types

    enum RoundPhase {
        Open, // collecting orders (or closed and not yet touched by clearRound)
        Discovering, // clearing: sweeping price levels for the clearing price
        Settling, // clearing: filling and refunding orders
        Cleared // done; every order of the round is settled or refunded
    }

    struct RoundState {
        RoundPhase phase;
        uint256 opensAt;
        uint256 closesAt;
        uint256 price; // clearing price, once discovered (0 = nothing crossed)
        uint256 volumeWh; // volume that crosses at that price
        uint256 settledWh; // volume settled so far
    }

    // ---------------------------------------------------------------- events

    event RoundPriceDiscovered(uint256 indexed roundId, uint256 price, uint256 volumeWh);
    event RoundCleared(uint256 indexed roundId, uint256 price, uint256 settledWh);

    // ---------------------------------------------------------------- errors

    error AuctionInvalidRoundLength(uint256 roundLength);
    error AuctionRoundNotClosed(uint256 roundId, uint256 closesAt);
    error AuctionRoundAlreadyCleared(uint256 roundId);
    error AuctionRoundClosed(uint256 roundId);
    error AuctionZeroSteps();

    // ---------------------------------------------------------------- orders

    /// @notice Places an order in the open round; sells lock WATT, buys lock
    /// `amountWh * price / 1000` TSL.
    function placeOrder(Side side, uint256 price, uint256 amountWh) external returns (uint256 orderId);

    /// @notice Cancels the caller's order while its round is open; returns its lock.
    function cancelOrder(uint256 orderId) external;

    // ---------------------------------------------------------------- clearing (anyone)

    /// @notice Advances the clearing of a closed round by at most `maxSteps` steps. A
    /// step is one price level swept, one order settled or refunded, or one cancelled
    /// slot skipped, so each call's gas is bounded by `maxSteps` (about 32k per step on
    /// average with cold accounts, about 100k at worst: 250 steps take about 10M gas, well
    /// inside a 40M block).
    /// @return done true when the round is fully cleared
    function clearRound(uint256 roundId, uint256 maxSteps) external returns (bool done);

    // ---------------------------------------------------------------- views

    /// @notice The length of a round in seconds: round n takes orders from n * roundLength
    /// until (n + 1) * roundLength.
    function roundLength() external view returns (uint256);
    /// @return roundId the round open for orders now
    /// @return closesAt when it closes
    function currentRound() external view returns (uint256 roundId, uint256 closesAt);
    /// @notice A round's clearing progress: its phase, price and volume.
    function roundState(uint256 roundId) external view returns (RoundState memory);
    /// @notice For keepers: the oldest round with orders that is closed and not yet cleared.
    function clearableRound() external view returns (bool due, uint256 roundId);

    /// @notice Price levels of one side of a round, from the best price outwards, paged.
    function depth(uint256 roundId, Side side, uint256 fromPrice, uint256 maxLevels)
        external
        view
        returns (uint256[] memory prices, uint256[] memory amountsWh, uint256[] memory orderCounts, uint256 nextPrice);

    /// @notice The account's open orders in a round on one side, paged by price level.
    function ordersOf(address owner, uint256 roundId, Side side, uint256 fromPrice, uint256 maxLevels)
        external
        view
        returns (uint256[] memory orderIds, uint256 nextPrice);
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {BatterySettings} from "./BatterySettings.sol";
import {HoldingWord, HoldingWordLib, EnergyWord, TradeWord, TradeWordLib} from "./types/AccountWords.sol";
import {ConfigWord} from "./types/GlobalWords.sol";

/// @title What the markets (MARKET_ROLE) call: WATT locks and fill settlement
/// @notice TSL locks are the escrow's ({TslEscrow}); here a sell order's WATT is locked
/// and released, and a fill moves WATT to the buyer and TSL (less the fee) to the seller.
abstract contract MarketHooks is BatterySettings {
    /// @inheritdoc ISharedBattery
    function lockWatt(address account, uint256 amount) external onlyRole(MARKET_ROLE) whenNotPaused {
        _requireWholeWh(amount);
        ConfigWord config = _config;
        HoldingWord holding = _settledWord(account, _accrue(config), config);
        _holdings[account] = holding;
        EnergyWord energy = _energy[account];
        uint256 spendable = _spendable(holding, energy);
        if (amount > spendable) revert BatteryInsufficientSpendableWatt(account, spendable, amount);
        // lockedWh + amount / WH <= watt / WH < 2^40, so the field cannot carry over.
        _energy[account] = energy.addLockedWh(amount / WH);
    }

    /// @inheritdoc ISharedBattery
    function unlockWatt(address account, uint256 amount)
        external
        onlyMarketOrRetired
        whenNotPaused
        returns (uint256 unlocked)
    {
        _requireWholeWh(amount);
        ConfigWord config = _config;
        _holdings[account] = _settledWord(account, _accrue(config), config);
        EnergyWord energy = _energy[account];
        uint256 lockedWh = energy.lockedWh();
        uint256 unlockedWh = amount / WH < lockedWh ? amount / WH : lockedWh;
        _energy[account] = energy.subLockedWh(unlockedWh);
        unlocked = unlockedWh * WH;
    }

    /// @inheritdoc ISharedBattery
    /// @dev Works on the packed words (no memory structs). The seller's words are written
    /// before the buyer's are read, so a self-trade sees its own first half.
    /// A retired market settles only from locks: what its open orders hold.
    function settleFill(Fill calldata fill) external whenNotPaused returns (uint256 wattMoved) {
        if (!hasRole(MARKET_ROLE, msg.sender)) {
            if (!_retiredMarkets[msg.sender]) revert AccessControlUnauthorizedAccount(msg.sender, MARKET_ROLE);
            if (!fill.sellerLocked || !fill.buyerLocked) revert BatteryMarketRetired(msg.sender);
        }
        if (fill.wattAmount == 0) revert BatteryZeroAmount();
        _requireWholeWh(fill.wattAmount);
        if (fill.seller == address(0) || fill.buyer == address(0)) revert BatteryZeroAddress();
        if (fill.feeTsl > fill.tslAmount) revert BatteryAmountTooLarge(fill.feeTsl, fill.tslAmount);
        if (fill.feeTsl != 0 && fill.feeRecipient == address(0)) revert BatteryZeroAddress();
        ConfigWord config = _config;
        uint256 index = _accrue(config);

        uint256 tslMoved;
        uint256 fee;
        (wattMoved, tslMoved, fee) = _settleSeller(fill, index, config);

        address buyer = fill.buyer;
        HoldingWord holding = _settledWord(buyer, index, config);
        TradeWord trade = _trades[buyer];
        if (fill.buyerLocked) {
            uint256 locked = trade.lockedTsl();
            if (locked < tslMoved) revert BatteryInsufficientLockedTsl(buyer, locked, tslMoved);
            // tslMoved <= locked: the subtraction stays inside the lockedTsl field.
            trade = trade.subLockedTsl(tslMoved);
        } else {
            uint256 free = holding.freeTsl();
            if (free < tslMoved) revert BatteryInsufficientFreeTsl(buyer, free, tslMoved);
            // tslMoved <= free: the subtraction stays inside the free-TSL field.
            holding = holding.subFreeTsl(tslMoved);
        }
        // The buyer's WATT stays below the supply, below 2^88: no carry out of its field.
        holding = holding.addWatt(wattMoved);
        _holdings[buyer] = holding;
        _trades[buyer] = trade.addCounter(TradeWordLib.PURCHASED, wattMoved / WH);
        if (fee != 0) _creditFree(fill.feeRecipient, fee);
        _update(fill.seller, buyer, wattMoved);
    }

    /// @dev settleFill's seller half: settles the seller, takes the WATT (from its lock or
    /// its spendable balance), credits the TSL less the fee, counts the sale. Returns what
    /// moved: the WATT, the TSL and the fee (pro rata when the lock had shrunk).
    function _settleSeller(Fill calldata fill, uint256 index, ConfigWord config)
        private
        returns (uint256 wattMoved, uint256 tslMoved, uint256 fee)
    {
        address seller = fill.seller;
        HoldingWord holding = _settledWord(seller, index, config);
        uint256 watt = holding.watt();
        EnergyWord energy = _energy[seller];
        uint256 lockedWh = energy.lockedWh();
        if (fill.sellerLocked) {
            uint256 lockedWatt = lockedWh * WH;
            wattMoved = fill.wattAmount < lockedWatt ? fill.wattAmount : lockedWatt;
            _energy[seller] = energy.subLockedWh(wattMoved / WH);
        } else {
            uint256 spendable = watt - lockedWh * WH;
            if (fill.wattAmount > spendable) {
                revert BatteryInsufficientSpendableWatt(seller, spendable, fill.wattAmount);
            }
            wattMoved = fill.wattAmount;
        }
        tslMoved = fill.tslAmount;
        fee = fill.feeTsl;
        if (wattMoved != fill.wattAmount) {
            tslMoved = fill.tslAmount * wattMoved / fill.wattAmount;
            fee = fill.feeTsl * wattMoved / fill.wattAmount; // <= tslMoved, since feeTsl <= tslAmount
        }
        watt -= wattMoved;
        uint256 free = _freeAfterCredit(seller, holding.freeTsl(), tslMoved - fee);
        _holdings[seller] = holding.withBalances(watt, free);
        _trades[seller] = _trades[seller].addCounter(TradeWordLib.SOLD, wattMoved / WH);
    }
}

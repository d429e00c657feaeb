// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {StorageRent} from "./StorageRent.sol";
import {HoldingWord, HoldingWordLib, TradeWord} from "./types/AccountWords.sol";
import {ConfigWord} from "./types/GlobalWords.sol";

/// @title The TSL escrow
/// @notice Deposited TSL is either free (it prepays storage rent and can be withdrawn)
/// or locked by a market behind an open buy order. Free TSL lives in the holding word,
/// next to the WATT it pays rent for; locked TSL in the trade word.
abstract contract TslEscrow is StorageRent {
    using SafeERC20 for IERC20;

    /// @inheritdoc ISharedBattery
    function deposit(uint256 amount) external whenNotPaused {
        _deposit(amount);
    }

    /// @inheritdoc ISharedBattery
    /// @dev A failed permit is ignored when the allowance is already there (someone may
    /// have front-run the permit with the same signature); transferFrom then decides.
    function depositWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external whenNotPaused {
        try IERC20Permit(address(TSL)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(amount);
    }

    /// @inheritdoc ISharedBattery
    /// @dev Open while paused: users can always take their free TSL out.
    function withdraw(uint256 amount) external {
        if (amount == 0) revert BatteryZeroAmount();
        ConfigWord config = _config;
        HoldingWord holding = _settledWord(msg.sender, _accrue(config), config);
        uint256 free = holding.freeTsl();
        if (free < amount) revert BatteryInsufficientFreeTsl(msg.sender, free, amount);
        // amount <= free (checked just above): the subtraction stays inside the free-TSL field.
        _holdings[msg.sender] = holding.subFreeTsl(amount);
        TSL.safeTransfer(msg.sender, amount);
        emit TslWithdrawn(msg.sender, amount);
    }

    /// @inheritdoc ISharedBattery
    function lockTsl(address account, uint256 amount) external onlyRole(MARKET_ROLE) whenNotPaused {
        if (amount == 0) revert BatteryZeroAmount();
        ConfigWord config = _config;
        HoldingWord holding = _settledWord(account, _accrue(config), config);
        uint256 free = holding.freeTsl();
        if (free < amount) revert BatteryInsufficientFreeTsl(account, free, amount);
        // amount <= free (checked just above): the subtraction stays inside the free-TSL field.
        _holdings[account] = holding.subFreeTsl(amount);
        TradeWord trade = _trades[account];
        // amount <= free < 2^88, so the sum cannot overflow; above 2^88 it is refused.
        if (trade.lockedTsl() + amount > HoldingWordLib.MAX_88) {
            revert BatteryAmountTooLarge(amount, HoldingWordLib.MAX_88);
        }
        // The sum stays within the lockedTsl field (checked just above).
        _trades[account] = trade.addLockedTsl(amount);
    }

    /// @inheritdoc ISharedBattery
    function unlockTsl(address account, uint256 amount) external onlyMarketOrRetired whenNotPaused {
        if (amount == 0) revert BatteryZeroAmount();
        TradeWord trade = _trades[account];
        uint256 locked = trade.lockedTsl();
        if (locked < amount) revert BatteryInsufficientLockedTsl(account, locked, amount);
        // amount <= locked, so the subtraction stays inside the lockedTsl field.
        _trades[account] = trade.subLockedTsl(amount);
        _creditFree(account, amount);
    }

    /// @inheritdoc ISharedBattery
    function freeTslOf(address account) external view returns (uint256) {
        return _holdings[account].freeTsl();
    }

    /// @inheritdoc ISharedBattery
    function lockedTslOf(address account) external view returns (uint256) {
        return _trades[account].lockedTsl();
    }

    /// @inheritdoc ISharedBattery
    function tsl() external view returns (address) {
        return address(TSL);
    }

    function _deposit(uint256 amount) private {
        if (amount == 0) revert BatteryZeroAmount();
        ConfigWord config = _config;
        HoldingWord holding = _settledWord(msg.sender, _accrue(config), config);
        uint256 free = holding.freeTsl();
        if (amount > MAX_DEPOSIT_TSL || free + amount > MAX_DEPOSIT_TSL) {
            revert BatteryDepositCapExceeded(msg.sender, free, amount, MAX_DEPOSIT_TSL);
        }
        // free + amount <= MAX_DEPOSIT_TSL (checked just above): no carry out of the field.
        _holdings[msg.sender] = holding.addFreeTsl(amount);
        TSL.safeTransferFrom(msg.sender, address(this), amount);
        emit TslDeposited(msg.sender, amount);
    }

    /// @dev Credits free TSL without settling rent: rent depends on WATT held only, and the
    /// credit can only help pay it at the next settlement.
    function _creditFree(address account, uint256 amount) internal {
        HoldingWord word = _holdings[account];
        _holdings[account] = word.withFreeTsl(_freeAfterCredit(account, word.freeTsl(), amount));
    }

    /// @dev `free + amount`, capped at the field: what is above it is paid out to the
    /// account's wallet (TslPaidOut), so a credit never reverts (a fill, an unlock, a fee).
    function _freeAfterCredit(address account, uint256 free, uint256 amount) internal returns (uint256) {
        free += amount;
        if (free <= HoldingWordLib.MAX_88) return free;
        uint256 excess = free - HoldingWordLib.MAX_88;
        TSL.safeTransfer(account, excess);
        emit TslPaidOut(account, excess);
        return HoldingWordLib.MAX_88;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {ISharedBattery} from "../../interfaces/ISharedBattery.sol";
import {BatteryStorage} from "./BatteryStorage.sol";
import {HoldingWord} from "./types/AccountWords.sol";
import {ConfigWord} from "./types/GlobalWords.sol";

/// @title WATT, the battery's ERC-20
/// @notice Written here, not taken from OpenZeppelin, because a WATT balance shares its
/// storage slot with the free TSL deposit and the rent checkpoint: settling rent and
/// moving WATT is then one write. As OpenZeppelin 5's `_update`, one hook, {_update},
/// sees every WATT move: transfers, mints and burns by readings, market fills and rent
/// paid in kind. The balance arithmetic is done by the caller on the words it already
/// holds (one write per word); {_update} is then called once per move.
abstract contract WattToken is BatteryStorage, IERC20Errors {
    /// @inheritdoc IERC20Metadata
    function name() external pure returns (string memory) {
        return "Energo WATT";
    }

    /// @inheritdoc IERC20Metadata
    function symbol() external pure returns (string memory) {
        return "WATT";
    }

    /// @inheritdoc IERC20Metadata
    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @inheritdoc IERC20
    function totalSupply() external view returns (uint256) {
        return _rent.supplyWh() * WH;
    }

    /// @inheritdoc IERC20
    /// @dev The balance as last settled; pendingRent shows what settling would take.
    function balanceOf(address account) external view returns (uint256) {
        return _holdings[account].watt();
    }

    /// @inheritdoc ISharedBattery
    function lockedWattOf(address account) external view returns (uint256) {
        return _energy[account].lockedWh() * WH;
    }

    /// @inheritdoc ISharedBattery
    function spendableWattOf(address account) external view returns (uint256) {
        return _spendable(_holdings[account], _energy[account]);
    }

    /// @inheritdoc IERC20
    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    /// @inheritdoc IERC20
    function approve(address spender, uint256 amount) external returns (bool) {
        if (spender == address(0)) revert ERC20InvalidSpender(address(0));
        _allowances[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @inheritdoc IERC20
    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    /// @inheritdoc IERC20
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = _allowances[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert ERC20InsufficientAllowance(msg.sender, allowed, amount);
            // Cannot underflow: checked just above.
            unchecked {
                _allowances[from][msg.sender] = allowed - amount;
            }
        }
        _transfer(from, to, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) internal whenNotPaused {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        ConfigWord config = _config;
        uint256 index = _accrue(config);
        HoldingWord holding = _settledWord(from, index, config);
        uint256 spendable = _spendable(holding, _energy[from]);
        if (amount > spendable) revert ERC20InsufficientBalance(from, spendable, amount);
        // amount <= spendable <= watt (checked just above): no borrow from the next field.
        _holdings[from] = holding.subWatt(amount);
        // Read after the write above: a transfer to oneself sees its own debit.
        holding = _settledWord(to, index, config);
        // Cannot carry out of the field: every balance is at most the supply, below 2^88.
        _holdings[to] = holding.addWatt(amount);
        _update(from, to, amount);
    }

    /// @dev The one hook every WATT move passes through, after the balances are written:
    /// `from` is address(0) for a mint, `to` address(0) for a burn.
    function _update(address from, address to, uint256 amount) internal virtual {
        emit Transfer(from, to, amount);
    }

    /// @dev Brings the rent index up to now (once per block) and returns it (StorageRent).
    function _accrue(ConfigWord config) internal virtual returns (uint256 index);

    /// @dev Settles `account`'s rent up to `index` and returns its holding, not yet
    /// written back (StorageRent).
    function _settledWord(address account, uint256 index, ConfigWord config)
        internal
        virtual
        returns (HoldingWord holding);
}

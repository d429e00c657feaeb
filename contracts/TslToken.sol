// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title TSL, Energo's utility token
/// @notice Pays storage rent and buys energy. Fixed supply, minted once to a treasury at
/// deployment; there is no mint function. EIP-2612 permit lets a wallet deposit without
/// a separate approve.
contract TslToken is ERC20, ERC20Permit {
    error TslZeroTreasury();

    constructor(address treasury, uint256 supply) ERC20("Energo Tesla", "TSL") ERC20Permit("Energo Tesla") {
        if (treasury == address(0)) revert TslZeroTreasury();
        _mint(treasury, supply);
    }
}

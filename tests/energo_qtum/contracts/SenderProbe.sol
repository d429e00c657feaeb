// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// Records who created it and who called it, to check Qtum's msg.sender rule.
contract SenderProbe {
    address public creator;
    address public lastCaller;
    uint256 public calls;

    event Touched(address indexed caller, uint256 calls);

    constructor() {
        creator = msg.sender;
        emit Touched(msg.sender, 0);
    }

    function touch() external {
        lastCaller = msg.sender;
        calls += 1;
        emit Touched(msg.sender, calls);
    }

    function fail() external pure {
        revert("always");
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// Answers that tell a Janus-and-qtumd double from an Ethereum node.
contract FidelityProbe {
    error ProbeError(uint256 code);

    event Noted(uint256 indexed tag, address sender, uint256 index);

    uint256 public stamp;

    function customRevert() external pure {
        revert ProbeError(7);
    }

    function stringRevert() external pure {
        revert("nope");
    }

    function emptyRevert() external pure {
        revert();
    }

    function nothing() external pure {}

    function clock() external view returns (uint256) {
        return block.timestamp;
    }

    function sender() external view returns (address) {
        return msg.sender;
    }

    function value() external payable returns (uint256) {
        return msg.value;
    }

    function note(uint256 tag, uint256 count) external {
        for (uint256 i = 0; i < count; i++) {
            emit Noted(tag, msg.sender, i);
        }
    }

    function stampTime() external {
        stamp = block.timestamp;
    }
}

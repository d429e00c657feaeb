"""Moving the local chain's clock (anvil's evm_* methods)."""

from __future__ import annotations

from web3 import Web3


def time_travel(w3: Web3, seconds: int) -> int:
    """Moves the chain's clock forward and mines a block; returns the new timestamp.

    Qtum's block timestamps are multiples of 4 s; anvil's are not, which the contracts
    must not care about.
    """
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])
    return w3.eth.get_block("latest")["timestamp"]


def set_next_timestamp(w3: Web3, timestamp: int) -> None:
    w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])

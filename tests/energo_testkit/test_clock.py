"""The chain fixtures keep the session's chain clock on wall time across snapshot/revert."""

import time

from energo_testkit.fixtures import time_travel


def test_a_test_that_moves_time(system, w3):
    assert time_travel(w3, 3_600) >= time.time() + 3_500


def test_the_next_test_starts_on_wall_time(system, w3):
    w3.provider.make_request("evm_mine", [])
    assert abs(w3.eth.get_block("latest")["timestamp"] - time.time()) < 5

"""Time: readings stamped from a monotonic clock anchored to wall time; the gateway
refuses to sign while its clock is behind the chain head, saying why."""

from __future__ import annotations

import time
import urllib.request

import structlog
from oracle_helpers import wait_for

from oracle.config import load_settings
from oracle.daemon import Daemon
from oracle.timecheck import AnchoredClock, TimeGuard

YEAR = 365 * 86400


def test_a_wall_clock_step_does_not_reach_readings_until_the_chain_agrees():
    wall, mono = [1_800_000_000.0], [100.0]
    clock = AnchoredClock(wall=lambda: wall[0], monotonic=lambda: mono[0])
    guard = TimeGuard(clock, max_skew_s=300, log=structlog.get_logger("test"))
    mono[0] += 10
    wall[0] += 10 + YEAR  # a forward step of a year
    assert clock.now() == 1_800_000_010.0, "the step is not in the readings' time"
    assert guard.check(head_timestamp=1_800_000_005) is None
    assert clock.now() == 1_800_000_010.0, "the chain disagrees with the stepped wall clock: not adopted"
    wall[0] = 1_800_000_000.0 + 20  # NTP steps it back to the truth
    mono[0] += 5
    assert guard.check(head_timestamp=1_800_000_014) is None
    assert clock.now() == 1_800_000_020.0, "the wall clock agrees with the chain again: re-anchored to it"


def test_a_clock_behind_the_chain_head_refuses_to_sign_and_says_why():
    wall, mono = [1_800_000_000.0], [0.0]
    clock = AnchoredClock(wall=lambda: wall[0], monotonic=lambda: mono[0])
    guard = TimeGuard(clock, max_skew_s=300, log=structlog.get_logger("test"))
    refusal = guard.check(head_timestamp=1_800_000_000 + 3600)
    assert refusal and "3600 s behind the chain head" in refusal and "max_clock_skew_s" in refusal
    assert guard.check(head_timestamp=1_800_000_000 - 10) is None, "agreeing again lifts the refusal"
    assert guard.check_meter_time(1_800_000_000 + 2 * 3600) is not None, "the meter's own clock disagrees"


def test_the_daemon_does_not_sign_while_its_clock_is_behind_the_chain(create_gateway, system, w3):
    raw, _ = create_gateway(meters=1)
    # The chain's clock a day ahead of the gateway's (as after the gateway's clock stepped back).
    w3.provider.make_request("anvil_setTime", [int(time.time()) + 86400])
    w3.provider.make_request("evm_mine", [])
    daemon = Daemon(load_settings(None, **raw))
    daemon.start()
    try:
        def refused():
            text = urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=5).read().decode()
            return 'energo_oracle_meter_errors_total{meter="100",reason="clock_disagrees"}' in text and text

        metrics = wait_for(refused, 30, "readings refused for the clock")
        assert daemon.time_guard is not None and "behind the chain head" in daemon.time_guard.refusal
        assert 'energo_oracle_readings_signed_total{meter="100"}' not in metrics
        skew = [line for line in metrics.splitlines() if line.startswith("energo_oracle_clock_skew_seconds ")]
        assert float(skew[0].split()[1]) < -80000
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)

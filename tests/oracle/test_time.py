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


def test_a_clock_ahead_of_a_new_block_refuses_and_an_idle_chain_is_not_taken_for_one():
    wall, mono = [1_800_000_000.0], [0.0]
    clock = AnchoredClock(wall=lambda: wall[0], monotonic=lambda: mono[0])
    guard = TimeGuard(clock, max_skew_s=300, log=structlog.get_logger("test"), monotonic=lambda: mono[0])
    assert guard.check(1_800_000_000 - 5, head_number=10) is None
    # Block 11 appears within 30 s of the previous check, stamped 1,000 s before the gateway's clock.
    mono[0] += 30
    refusal = guard.check(1_800_000_030 - 1000, head_number=11)
    assert refusal and "ahead of the chain's time" in refusal and "max_clock_skew_s" in refusal

    # A correct clock on a chain that then makes no block for an hour: never "ahead".
    wall2, mono2 = [1_800_000_000.0], [0.0]
    clock2 = AnchoredClock(wall=lambda: wall2[0], monotonic=lambda: mono2[0])
    guard2 = TimeGuard(clock2, max_skew_s=300, log=structlog.get_logger("test"), monotonic=lambda: mono2[0])
    assert guard2.check(1_800_000_000 - 5, head_number=10) is None
    mono2[0] += 30
    assert guard2.check(1_800_000_028, head_number=11) is None
    mono2[0] += 3600
    assert guard2.check(1_800_000_028, head_number=11) is None, "an idle chain, seen moving before"

    # A gateway that boots an hour ahead, the head fresh: refused until a new block shows
    # the chain's time; NTP then steps the wall clock back and it is adopted.
    wall3, mono3 = [1_800_003_600.0], [0.0]
    clock3 = AnchoredClock(wall=lambda: wall3[0], monotonic=lambda: mono3[0])
    guard3 = TimeGuard(clock3, max_skew_s=300, log=structlog.get_logger("test"), monotonic=lambda: mono3[0])
    assert "ahead of the chain head" in (guard3.check(1_800_000_000, head_number=10) or "")
    mono3[0] += 2
    assert "ahead of the chain's time" in (guard3.check(1_800_000_002, head_number=11) or "")
    mono3[0] += 2
    wall3[0] = 1_800_000_004.0
    assert guard3.check(1_800_000_002, head_number=11) is None
    assert clock3.now() == 1_800_000_004.0, "the stepped-back wall clock agrees with the chain: adopted"


def test_the_dsmr_telegram_time_reaches_the_registers():
    from dsmr_telegrams import dsmr_stamp, telegram

    from oracle.meters.dsmr import DsmrMeter

    class OneTelegram:
        def __init__(self, data: bytes):
            self.data = [data]

        def receive(self, timeout: float) -> bytes:
            return self.data.pop() if self.data else b""

        def reset(self, reason: str) -> None:
            pass

        def close(self) -> None:
            pass

    stamp = 1_800_000_000
    registers = DsmrMeter(OneTelegram(telegram(1000, 0, 0, 0, stamp=dsmr_stamp(stamp))), timeout_s=1).read()
    assert registers.meter_time == stamp and registers.import_wh == 1000


def _metrics_text(daemon: Daemon) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=5).read().decode()


def _gauge(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _wait_refused(daemon, what: str) -> str:
    """The metrics text once meter 100's readings are refused for a clock disagreement."""
    def refused():
        text = _metrics_text(daemon)
        return 'energo_oracle_meter_errors_total{meter="100",reason="clock_disagrees"}' in text and text

    return wait_for(refused, 30, what)


def test_the_daemon_does_not_sign_while_its_clock_is_ahead_of_the_chain_and_resumes(create_gateway, system, w3):
    raw, _ = create_gateway(meters=1)
    offset = [3600.0]  # booted an hour ahead
    clock = AnchoredClock(wall=lambda: time.time() + offset[0])
    daemon = Daemon(load_settings(None, **raw), clock=clock)
    daemon.start()
    try:
        metrics = _wait_refused(daemon, "readings refused for the clock")
        assert daemon.time_guard is not None and "ahead of the chain" in daemon.time_guard.refusal
        assert _gauge(metrics, "energo_oracle_clock_refusing") == 1.0
        assert 'energo_oracle_readings_signed_total{meter="100"}' not in metrics
        assert system.ledger.functions.meter(100).call()[5] == 0
        offset[0] = 0.0  # NTP steps the wall clock back to the truth
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 1, 30, "readings signed again")
        assert daemon.time_guard.refusal is None
        assert _gauge(_metrics_text(daemon), "energo_oracle_clock_refusing") == 0.0
        newest = system.ledger.functions.meter(100).call()
        assert newest[6] <= time.time() + 5, "no reading carries the hour-ahead clock"
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)


def test_a_telegram_whose_own_time_disagrees_is_not_signed_until_it_agrees(create_gateway, system, w3):
    from dsmr_telegrams import dsmr_stamp, telegram
    from test_links import RepeatingFeed

    feed = RepeatingFeed(telegram(2_000_000, 0, 0, 0, stamp=dsmr_stamp(time.time() - 3600)))
    try:
        raw, _ = create_gateway(meters=1, initial_import_wh=2_000_000,
                                source={"type": "dsmr", "url": f"tcp://127.0.0.1:{feed.port}", "timeout_s": 1})
        daemon = Daemon(load_settings(None, **raw))
        daemon.start()
        try:
            metrics = _wait_refused(daemon, "readings refused for the meter's clock")
            skew = _gauge(metrics, 'energo_oracle_meter_clock_skew_seconds{meter="100"}')
            assert skew is not None and 3500 < skew < 3700
            assert 'energo_oracle_readings_signed_total{meter="100"}' not in metrics
            feed._data = telegram(2_000_000, 0, 0, 0)  # the meter's clock set right
            wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 1, 30, "readings signed again")
        finally:
            daemon.stop()
            assert daemon.wait_stopped(30)
    finally:
        feed.close()

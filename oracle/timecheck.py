"""Time for readings: a monotonic clock anchored to wall time, checked against the chain.

Readings are stamped by ``AnchoredClock``: wall time taken once, then advanced by the
monotonic clock, so a step of the wall clock (NTP correcting a board that booted a year
ahead, or an operator's typo) never lands in a reading unchecked. ``TimeGuard`` compares
both clocks with the chain head's timestamp now and then: while the gateway is behind
the chain by more than the skew, nothing is signed (each refusal says why); when the wall
clock stepped and it, not the anchored clock, agrees with the chain, the clock is
re-anchored to it. A meter's own clock (a DSMR telegram's 0-0:1.0.0, when the adapter
reports it as ``Registers.meter_time``) is checked the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Wall and anchored clocks this far apart means the wall clock stepped.
STEP_S = 2.0


class AnchoredClock:
    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic):
        self._wall, self._monotonic = wall, monotonic
        self._lock = threading.Lock()
        self.anchor()

    def anchor(self) -> None:
        with self._lock:
            self._anchor_wall, self._anchor_mono = self._wall(), self._monotonic()

    def now(self) -> float:
        with self._lock:
            return self._anchor_wall + (self._monotonic() - self._anchor_mono)

    def wall(self) -> float:
        return self._wall()


class TimeGuard:
    """Says whether readings may be signed now, and why not."""

    def __init__(self, clock, max_skew_s: float, log, metrics=None):
        self.clock = clock
        self.max_skew_s = max_skew_s
        self.log = log
        self.metrics = metrics
        #: Why signing is refused now, or None.
        self.refusal: str | None = None

    def check(self, head_timestamp: float) -> str | None:
        """Compares the clocks with the chain head's timestamp; returns the refusal, if any."""
        now = self.clock.now()
        anchored = isinstance(self.clock, AnchoredClock)
        if anchored:
            wall = self.clock.wall()
            if abs(wall - now) > STEP_S:
                # Adopt the step when the wall clock agrees with the chain, or when the
                # anchored clock is behind the chain and the wall clock is not.
                wall_agrees = abs(wall - head_timestamp) <= self.max_skew_s
                anchored_behind = now < head_timestamp - self.max_skew_s
                if wall_agrees or (anchored_behind and wall >= head_timestamp - self.max_skew_s):
                    self.log.warning("clock.step_detected", step_s=round(wall - now, 3), adopted=True,
                                     detail="the wall clock stepped; readings follow it from now on")
                    self.clock.anchor()
                    now = self.clock.now()
                else:
                    self.log.warning("clock.step_detected", step_s=round(wall - now, 3), adopted=False,
                                     detail="the wall clock stepped away from the chain's time; keeping the "
                                            "monotonic clock")
        skew = now - head_timestamp
        if self.metrics is not None:
            self.metrics.clock_skew.set(skew)
        if skew < -self.max_skew_s:
            refusal = (f"the gateway's clock is {-skew:.0f} s behind the chain head's timestamp (more than "
                       f"chain.max_clock_skew_s = {self.max_skew_s:.0f} s): not signing until they agree; check NTP "
                       "(timedatectl), runbook 'Clock step' in docs/gateway-install.md")
        else:
            refusal = None
        if refusal != self.refusal:
            if refusal:
                self.log.error("clock.disagrees_with_chain", skew_s=round(skew, 1), head_timestamp=head_timestamp,
                               error=refusal)
            else:
                self.log.info("clock.agrees_with_chain", skew_s=round(skew, 1))
        self.refusal = refusal
        return refusal

    def check_meter_time(self, meter_time: float | None) -> str | None:
        """The meter's own clock against the gateway's (when the adapter reports it)."""
        if meter_time is None:
            return None
        skew = self.clock.now() - meter_time
        if abs(skew) > self.max_skew_s:
            return (f"the gateway's clock is {skew:+.0f} s from the meter's own clock (more than "
                    f"chain.max_clock_skew_s = {self.max_skew_s:.0f} s): not signing")
        return None

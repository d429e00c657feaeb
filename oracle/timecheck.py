"""Time for readings: a monotonic clock anchored to wall time, checked against the chain.

Readings are stamped by ``AnchoredClock``: wall time taken once, then advanced by the
monotonic clock, so a step of the wall clock (NTP correcting a board that booted a year
ahead, or an operator's typo) never lands in a reading unchecked. ``TimeGuard`` compares
both clocks with the chain head's timestamp now and then: while the gateway is behind
or ahead of the chain by more than the skew, nothing is signed (each refusal says why,
``clock.disagrees_with_chain`` and ``energo_oracle_clock_refusing``); when the wall
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
    """Says whether readings may be signed now, and why not.

    The chain head's timestamp is a *lower* bound of the true time (a block is not made
    in the future). It is an *upper* bound only for a block seen to appear: one that was
    not there at the previous check, so it was made since; that bound is then carried
    forward by the monotonic clock, so an idle chain (no block for an hour) is never taken
    for a gateway clock that ran ahead. Until such a block has been seen, a gateway clock
    further ahead of the head than the skew cannot be told from an idle chain: nothing is
    signed until the next block shows the chain's time (a year-ahead boot must not sign a
    reading a year ahead, which would blind the meter for a year).
    """

    def __init__(self, clock, max_skew_s: float, log, metrics=None, monotonic: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.max_skew_s = max_skew_s
        self.log = log
        self.metrics = metrics
        self._monotonic = monotonic
        #: Why signing is refused now, or None.
        self.refusal: str | None = None
        #: The head's number and the monotonic time of the previous check.
        self._seen: tuple[int, float] | None = None
        #: (timestamp of a block seen to appear, monotonic time of the check before it).
        self._upper: tuple[float, float] | None = None

    def _observe(self, head_number: int | None, head_timestamp: float, mono: float) -> float | None:
        """Records the head; returns the upper bound of the true time now, if one is known."""
        if head_number is not None:
            if self._seen is not None and head_number > self._seen[0]:
                bound = (head_timestamp, self._seen[1])
                if self._upper is None or bound[0] - bound[1] < self._upper[0] - self._upper[1]:
                    self._upper = bound  # the tighter one
            self._seen = (head_number, mono)
        if self._upper is None:
            return None
        return max(head_timestamp, self._upper[0] + (mono - self._upper[1]))

    def _agrees(self, t: float, head_timestamp: float, upper: float | None) -> bool:
        return head_timestamp - self.max_skew_s <= t <= (head_timestamp if upper is None else upper) + self.max_skew_s

    def check(self, head_timestamp: float, head_number: int | None = None) -> str | None:
        """Compares the clocks with the chain head (its timestamp, and its number when
        known: a new number means a new block); returns the refusal, if any."""
        upper = self._observe(head_number, head_timestamp, self._monotonic())
        now = self.clock.now()
        if isinstance(self.clock, AnchoredClock):
            wall = self.clock.wall()
            if abs(wall - now) > STEP_S:
                # Adopt the step when the wall clock agrees with the chain, or when the
                # anchored clock is behind the chain and the wall clock is not.
                anchored_behind = now < head_timestamp - self.max_skew_s
                if self._agrees(wall, head_timestamp, upper) or (
                        anchored_behind and wall >= head_timestamp - self.max_skew_s):
                    self.log.warning("clock.step_detected", step_s=round(wall - now, 3), adopted=True,
                                     detail="the wall clock stepped; readings follow it from now on")
                    self.clock.anchor()
                    now = self.clock.now()
                else:
                    self.log.warning("clock.step_detected", step_s=round(wall - now, 3), adopted=False,
                                     detail="the wall clock stepped away from the chain's time; keeping the "
                                            "monotonic clock")
        limit = self.max_skew_s
        runbook = "check NTP (timedatectl), runbook 'Clock step' in docs/gateway-install.md"
        if now < head_timestamp - limit:
            skew = now - head_timestamp
            refusal: str | None = (
                f"the gateway's clock is {-skew:.0f} s behind the chain head's timestamp (more than "
                f"chain.max_clock_skew_s = {limit:.0f} s): not signing until they agree; {runbook}")
        elif upper is not None and now > upper + limit:
            skew = now - upper
            refusal = (f"the gateway's clock is {skew:.0f} s ahead of the chain's time (a block seen to appear, "
                       f"carried forward; more than chain.max_clock_skew_s = {limit:.0f} s): not signing until "
                       f"they agree; {runbook}")
        elif upper is None and now > head_timestamp + limit:
            skew = now - head_timestamp
            refusal = (f"the gateway's clock is {skew:.0f} s ahead of the chain head's timestamp (more than "
                       f"chain.max_clock_skew_s = {limit:.0f} s): its clock is ahead, or the chain made no block "
                       f"for that long; not signing until a new block shows the chain's time; {runbook}")
        else:
            skew = now - head_timestamp if upper is None or now <= head_timestamp else max(0.0, now - upper)
            refusal = None
        if self.metrics is not None:
            self.metrics.clock_skew.set(skew)
            self.metrics.clock_refusing.set(1 if refusal else 0)
        if refusal != self.refusal:
            if refusal:
                self.log.error("clock.disagrees_with_chain", skew_s=round(skew, 1), head_timestamp=head_timestamp,
                               head_number=head_number, direction="behind" if skew < 0 else "ahead", error=refusal)
            elif self.refusal is not None:
                self.log.info("clock.agrees_with_chain", skew_s=round(skew, 1),
                              detail="signing readings again")
        self.refusal = refusal
        return refusal

    def check_meter_time(self, meter_time: float | None) -> str | None:
        """The meter's own clock against the gateway's (when the adapter reports it)."""
        if meter_time is None:
            return None
        skew = self.clock.now() - meter_time
        if abs(skew) > self.max_skew_s:
            return (f"the gateway's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the meter's "
                    f"own clock (more than chain.max_clock_skew_s = {self.max_skew_s:.0f} s): not signing; if the "
                    "chain agrees with the gateway, the meter's clock is wrong (runbook 'Clock step')")
        return None

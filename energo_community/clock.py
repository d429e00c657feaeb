"""Simulated time for the gateways, moved by the demo one interval at a time.

A gateway's meter poller reads the meter, then asks the clock for the reading's
timestamp. If the demo moved the clock between those two calls, a reading would carry
the registers of one moment and the timestamp of the next. So each poller thread pins
the time when it reads its meter, and the reading's timestamp is that pinned time:
registers and timestamp always belong to the same instant.
"""

from __future__ import annotations

import threading

from oracle.meters.base import Meter, Registers


class SteppedClock:
    """An oracle Clock that moves only when the demo says so (like ManualClock), with a
    per-thread pin so that a meter read and the timestamp that follows it agree."""

    def __init__(self, timestamp: int):
        self._timestamp = timestamp
        self._local = threading.local()

    def now(self) -> float:
        return getattr(self._local, "pinned", self._timestamp)

    def pin(self) -> int:
        self._local.pinned = self._timestamp
        return self._timestamp

    def advance_to(self, timestamp: int) -> None:
        if timestamp < self._timestamp:
            raise ValueError(f"time runs forward: {timestamp} < {self._timestamp}")
        self._timestamp = timestamp

    @property
    def timestamp(self) -> int:
        return self._timestamp


class PinnedMeter:
    """Wraps a simulated meter so each read pins the clock for the reading thread.

    The lock also keeps ``record_trade`` (called by the demo's thread) apart from a read.
    """

    def __init__(self, meter: Meter, clock: SteppedClock):
        self.meter = meter
        self.clock = clock
        self.lock = threading.Lock()

    def read(self) -> Registers:
        with self.lock:
            self.clock.pin()
            return self.meter.read()

    def close(self) -> None:
        self.meter.close()

"""What every meter adapter gives the daemon: its cumulative registers, in whole Wh."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


class MeterReadError(Exception):
    """The meter gave no usable value this time (garbled, silent, out of range).

    ``reason`` is a short machine-readable tag for logs and metrics.
    """

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Registers:
    """Cumulative registers as the meter reports them (never differences)."""

    import_wh: int
    export_wh: int
    state_of_charge_wh: int = 0
    #: The meter's own clock when it sent these registers (seconds since the epoch), if
    #: the adapter knows it (a DSMR telegram's 0-0:1.0.0); the gateway checks its clock
    #: against it before signing (oracle.timecheck).
    meter_time: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("import_wh", "export_wh", "state_of_charge_wh"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < 2**64:
                raise MeterReadError("value_out_of_range", f"{name}={value!r}")


class Meter(Protocol):
    """A meter adapter. ``read`` may block up to the adapter's timeout."""

    def read(self) -> Registers: ...

    def close(self) -> None: ...


class Clock(Protocol):
    """Seconds since the epoch. Injectable so a demo can run a day in minutes."""

    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class AcceleratedClock:
    """Starts at `start_timestamp` and runs `speed` times faster than real time."""

    def __init__(self, start_timestamp: float, speed: float = 1.0, monotonic=time.monotonic):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start_timestamp
        self._speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> float:
        return self._start + (self._monotonic() - self._origin) * self._speed


class ManualClock:
    """A clock that moves only when told (tests, step-by-step demos)."""

    def __init__(self, timestamp: float):
        self.timestamp = timestamp

    def now(self) -> float:
        return self.timestamp

    def advance(self, seconds: float) -> float:
        self.timestamp += seconds
        return self.timestamp

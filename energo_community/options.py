"""What a community run is made of: its size, length, market mode and seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from energo.constants import SECONDS_PER_DAY
from energo.facts import DEFAULT_ROUND_LENGTH, MARKET_MODES

#: The simulated day starts at midnight UTC of a fixed midsummer date, so the same seed
#: gives the same day (and the same report) on every machine. It lies in the future of
#: any chain anvil starts today, because block timestamps can only move forward.
DAY_ONE = 2_065_996_800  # 2035-06-21T00:00:00Z
#: Deployment, registration and funding happen one hour before the day starts.
SETUP_LEAD_S = 3_600


class OptionsError(ValueError):
    """Options that cannot make a run; the message says which and why."""


@dataclass(frozen=True)
class CommunityOptions:
    households: int = 24
    days: int = 1
    mode: str = "continuous"
    seed: int = 1
    out: Path = Path("demo-out")
    interval_minutes: int = 15

    def __post_init__(self) -> None:
        if not 2 <= self.households <= 200:
            raise OptionsError(f"--households must be between 2 and 200, not {self.households}")
        if not 1 <= self.days <= 7:
            raise OptionsError(f"--days must be between 1 and 7, not {self.days}")
        if self.mode not in MARKET_MODES:
            raise OptionsError(f"--mode must be one of {MARKET_MODES}, not {self.mode!r}")
        if self.interval_minutes <= 0 or 1440 % self.interval_minutes:
            raise OptionsError(f"--interval-minutes must divide a day (1440), not {self.interval_minutes}")
        if self.mode == "auction" and (self.interval_minutes * 60) % DEFAULT_ROUND_LENGTH:
            raise OptionsError("in auction mode --interval-minutes must be a multiple of the 15-minute rounds")

    @property
    def interval_s(self) -> int:
        return self.interval_minutes * 60

    @property
    def intervals(self) -> int:
        """Reading rounds after the start: readings are taken at T0, T1 ... T(intervals)."""
        return self.days * SECONDS_PER_DAY // self.interval_s

    def interval_start(self, k: int) -> int:
        return DAY_ONE + k * self.interval_s

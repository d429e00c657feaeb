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
    #: Minutes between settlements: readings submitted, orders placed, rounds cleared
    #: (None: every reading interval). A multiple of the reading interval.
    settlement_minutes: int | None = None

    def __post_init__(self) -> None:
        if not 2 <= self.households <= 200:
            raise OptionsError(f"--households must be between 2 and 200, not {self.households}")
        if not 1 <= self.days <= 7:
            raise OptionsError(f"--days must be between 1 and 7, not {self.days}")
        if self.mode not in MARKET_MODES:
            raise OptionsError(f"--mode must be one of {MARKET_MODES}, not {self.mode!r}")
        if self.interval_minutes <= 0 or 1440 % self.interval_minutes:
            raise OptionsError(f"--interval-minutes must divide a day (1440), not {self.interval_minutes}")
        settlement = self.settlement
        if settlement <= 0 or 1440 % settlement or settlement % self.interval_minutes:
            raise OptionsError(f"--settlement-minutes must divide a day (1440) and be a multiple of "
                               f"--interval-minutes ({self.interval_minutes}), not {settlement}")
        if self.mode == "auction" and (settlement * 60) % DEFAULT_ROUND_LENGTH:
            raise OptionsError("in auction mode the settlement cadence (--settlement-minutes, else "
                               "--interval-minutes) must be a multiple of 15 minutes")

    @property
    def settlement(self) -> int:
        """Minutes between settlements (the reading interval unless --settlement-minutes)."""
        return self.interval_minutes if self.settlement_minutes is None else self.settlement_minutes

    @property
    def interval_s(self) -> int:
        """The meters' reading interval: their registers resolve it (cumulative, so a
        reading sent at a settlement covers every interval since the last one)."""
        return self.interval_minutes * 60

    @property
    def settlement_s(self) -> int:
        """One step of the demo: readings submitted, the market tidied (a call-auction
        round is this long), the agents' orders placed."""
        return self.settlement * 60

    @property
    def intervals(self) -> int:
        """Settlements after the start: readings are submitted at T0, T1 ... T(intervals),
        T(k) = T0 + k x the settlement cadence (the reading interval by default)."""
        return self.days * SECONDS_PER_DAY // self.settlement_s

    def interval_start(self, k: int) -> int:
        return DAY_ONE + k * self.settlement_s

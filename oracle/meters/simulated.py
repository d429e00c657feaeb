"""Simulated meters for demos and tests: households with load and PV, and the battery.

Power is a pure function of (seed, absolute minute): the same seed gives the same day,
whichever process computes it and however fast its clock runs. Registers are the
integral of that power from the meter's origin (its first reading time), so they are
cumulative and never go down, like a real meter's. The clock is injected: with an
AcceleratedClock a demo runs a day in minutes and still gets physically possible
readings (energy never exceeds power times elapsed *simulated* time).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from oracle.meters.base import Clock, Registers

STEP_S = 60


def _unit_noise(seed: int, salt: str, index: int) -> float:
    """A deterministic uniform number in [0, 1) for (seed, salt, index)."""
    digest = hashlib.blake2b(f"{seed}:{salt}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# Relative household consumption by hour of day: low at night, a morning bump,
# an evening peak (cooking, lighting, EV charging). Normalised below.
_LOAD_SHAPE = (
    0.45, 0.40, 0.38, 0.37, 0.38, 0.45, 0.75, 1.10, 1.05, 0.80, 0.70, 0.70,
    0.75, 0.70, 0.65, 0.70, 0.90, 1.40, 1.75, 1.80, 1.55, 1.20, 0.85, 0.60,
)
_LOAD_MEAN = sum(_LOAD_SHAPE) / len(_LOAD_SHAPE)


@dataclass
class HouseholdProfile:
    """What a household draws and its PV produces, in watts, minute by minute."""

    seed: int
    pv_peak_w: int = 4000
    daily_load_wh: int = 9000
    utc_offset_s: int = 0

    def load_w(self, minute: int) -> float:
        local = minute * STEP_S + self.utc_offset_s
        day = local // 86_400
        hour = (local % 86_400) / 3600
        shape = _LOAD_SHAPE[int(hour)] / _LOAD_MEAN
        day_factor = 0.8 + 0.4 * _unit_noise(self.seed, "load-day", day)
        jitter = 0.6 + 0.8 * _unit_noise(self.seed, "load", minute)
        return self.daily_load_wh / 24 * shape * day_factor * jitter

    def pv_w(self, minute: int) -> float:
        local = minute * STEP_S + self.utc_offset_s
        day = local // 86_400
        hour = (local % 86_400) / 3600
        if not 6.0 <= hour < 18.0:
            return 0.0
        sun = math.sin(math.pi * (hour - 6.0) / 12.0)
        clear_sky = 0.35 + 0.65 * _unit_noise(self.seed, "sky", day)
        cloud = 0.75 + 0.25 * _unit_noise(self.seed, "cloud", minute // 10)
        return self.pv_peak_w * sun * clear_sky * cloud

    def net_w(self, minute: int) -> float:
        """Positive: importing from the grid; negative: exporting surplus."""
        return self.load_w(minute) - self.pv_w(minute)


def _flows(profile: HouseholdProfile, start: float, end: float):
    """Yields (import_wh, export_wh) for each minute-slice of [start, end)."""
    t = start
    while t < end:
        minute = int(t // STEP_S)
        slice_end = min(end, (minute + 1) * STEP_S)
        net = profile.net_w(minute) * (slice_end - t) / 3600
        yield (net, 0.0) if net > 0 else (0.0, -net)
        t = slice_end


class SimulatedHousehold:
    """A household's net meter: imports what the home draws beyond its PV, exports the rest."""

    def __init__(
        self,
        profile: HouseholdProfile,
        clock: Clock,
        start_import_wh: int = 0,
        start_export_wh: int = 0,
        origin: float | None = None,
    ):
        self.profile = profile
        self._clock = clock
        self._start = (start_import_wh, start_export_wh)
        self._t = clock.now() if origin is None else origin
        self._import = 0.0
        self._export = 0.0

    def advance(self, until: float) -> tuple[float, float]:
        """Integrates up to `until`; returns the (import, export) Wh added."""
        added_import = added_export = 0.0
        if until > self._t:
            for imported, exported in _flows(self.profile, self._t, until):
                added_import += imported
                added_export += exported
            self._t = until
            self._import += added_import
            self._export += added_export
        return added_import, added_export

    def read(self) -> Registers:
        self.advance(self._clock.now())
        return Registers(self._start[0] + int(self._import), self._start[1] + int(self._export))

    def close(self) -> None:
        pass


@dataclass
class _Member:
    household: SimulatedHousehold
    owned_wh: float = 0.0


@dataclass
class _BatteryState:
    soc_wh: float
    charged_wh: float = 0.0  # energy that entered the battery (the meter's import register)
    discharged_wh: float = 0.0  # energy served from it (export register)
    spilled_wh: float = 0.0
    members: list[_Member] = field(default_factory=list)


class SimulatedBattery:
    """The shared battery's meter; its charge follows the community's net flows.

    It mirrors the ledger's rule: a household's export charges the battery (times the
    charge efficiency, limited by free capacity) and becomes energy it owns; its
    imports are served from what it owns. ``record_trade`` moves ownership as a market
    fill does, so the battery serves the buyer from then on.
    """

    def __init__(
        self,
        households: list[HouseholdProfile],
        clock: Clock,
        capacity_wh: int = 500_000,
        charge_efficiency_bps: int = 9500,
        initial_soc_wh: int = 0,
        origin: float | None = None,
    ):
        if initial_soc_wh > capacity_wh:
            raise ValueError("initial_soc_wh exceeds capacity_wh")
        self._clock = clock
        self.capacity_wh = capacity_wh
        self.efficiency = charge_efficiency_bps / 10_000
        origin = clock.now() if origin is None else origin
        # Private copies of the households: the battery integrates their flows itself,
        # so it needs no link to the gateways that read the real (or simulated) meters.
        members = [_Member(SimulatedHousehold(profile, clock, origin=origin)) for profile in households]
        self._t = origin
        self.state = _BatteryState(soc_wh=float(initial_soc_wh), members=members)

    def _step_all(self, until: float) -> None:
        # Minute by minute so that charge and discharge interleave as they would in reality.
        state = self.state
        t = self._t
        while t < until:
            step_end = min(until, (int(t // STEP_S) + 1) * STEP_S)
            for member in state.members:
                imported, exported = member.household.advance(step_end)
                stored = min(exported * self.efficiency, self.capacity_wh - state.soc_wh)
                state.soc_wh += stored
                state.charged_wh += stored
                state.spilled_wh += exported * self.efficiency - stored
                member.owned_wh += stored
                served = min(imported, member.owned_wh, state.soc_wh)
                member.owned_wh -= served
                state.soc_wh -= served
                state.discharged_wh += served
            t = step_end
        self._t = max(self._t, until)

    def record_trade(self, seller: int, buyer: int, wh: float) -> None:
        members = self.state.members
        moved = min(wh, members[seller].owned_wh)
        members[seller].owned_wh -= moved
        members[buyer].owned_wh += moved

    def owned_wh(self, member: int) -> float:
        return self.state.members[member].owned_wh

    def read(self) -> Registers:
        self._step_all(self._clock.now())
        state = self.state
        return Registers(int(state.charged_wh), int(state.discharged_wh), int(state.soc_wh))

    def close(self) -> None:
        pass

"""Who lives in the community: households (some with rooftop PV), their meters and
their trading temperament, all drawn from the seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

from eth_utils import keccak

from oracle.meters.simulated import HouseholdProfile

#: Meter ids: the battery's meter is 1, household i's is 101 + i.
BATTERY_METER_ID = 1
FIRST_HOUSEHOLD_METER_ID = 101
#: A gateway (a small box in a street cabinet) reads up to this many household meters.
HOUSEHOLDS_PER_GATEWAY = 6
HOUSEHOLD_RATED_POWER_W = 15_000
#: Per household served, for the battery meter's rated power.
BATTERY_RATED_POWER_PER_HOUSEHOLD_W = 12_000


@dataclass(frozen=True)
class Household:
    index: int
    name: str
    meter_id: int
    profile: HouseholdProfile
    #: Fractions of the utility price: what it asks for surplus, what it bids at most.
    ask_fraction: float
    bid_fraction: float

    @property
    def has_pv(self) -> bool:
        return self.profile.pv_peak_w > 0


def build_households(count: int, seed: int) -> list[Household]:
    """About half the households have PV (round(count / 2), chosen by the seed)."""
    rng = random.Random(f"energo-community:{seed}")
    with_pv = set(rng.sample(range(count), round(count / 2)))
    households = []
    for index in range(count):
        pv_peak_w = rng.randrange(3_000, 7_001, 500) if index in with_pv else 0
        profile = HouseholdProfile(
            seed=rng.randrange(2**31),
            pv_peak_w=pv_peak_w,
            daily_load_wh=rng.randrange(6_000, 14_001, 500),
        )
        households.append(Household(
            index=index,
            name=f"H{index + 1:02d}",
            meter_id=FIRST_HOUSEHOLD_METER_ID + index,
            profile=profile,
            ask_fraction=round(rng.uniform(0.55, 0.85), 3),
            bid_fraction=round(rng.uniform(0.70, 0.95), 3),
        ))
    return households


def gateway_groups(households: list[Household]) -> list[list[Household]]:
    size = HOUSEHOLDS_PER_GATEWAY
    return [households[i:i + size] for i in range(0, len(households), size)]


def demo_key(seed: int, label: str) -> bytes:
    """A deterministic private key for a demo meter or gateway (never for real funds)."""
    return keccak(text=f"energo community demo key:{seed}:{label}")

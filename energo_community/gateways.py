"""The community's meter gateways: the real oracle daemon, one per street cabinet.

Each gateway gets an encrypted keystore (its sender key, which also signs each batch of
its meters' readings once, the gateway's default), an outbox and a configuration, exactly
as an installed gateway would; the demo only injects the
clock and the simulated meter objects (Daemon's documented ``clock=``/``meters=`` hooks),
so trades can be fed to the simulated battery and simulated time moves in steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from pydantic_settings import PydanticBaseSettingsSource

from energo_community.clock import PinnedMeter, SteppedClock
from energo_community.members import (
    BATTERY_METER_ID,
    BATTERY_RATED_POWER_PER_HOUSEHOLD_W,
    HOUSEHOLD_RATED_POWER_W,
    Household,
    demo_key,
    gateway_groups,
)
from oracle.config import GatewaySettings
from oracle.daemon import Daemon
from oracle.keys import write_keystore
from oracle.meters.simulated import SimulatedBattery, SimulatedHousehold

#: Keystores stay real (scrypt, V3) but cheap: these are throwaway demo keys.
DEMO_SCRYPT_N = 2**10
DEMO_PASSPHRASE = "energo community demo (not a secret)"
#: Wall-clock pacing of the daemons: fast enough that an interval's readings are
#: on-chain a fraction of a second after the clock moves, light enough for two cores.
POLL_INTERVAL_S = 0.02
SUBMIT_POLL_S = 0.03


class DemoGatewaySettings(GatewaySettings):
    """Gateway settings from the values given only: a user's ENERGO_ORACLE_* variables
    are for their own gateways, not for the demo's."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings: PydanticBaseSettingsSource,
                                   **_other_sources) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass
class MeterSpec:
    meter_id: int
    kind: str  # household | battery
    account: str
    signer: str
    rated_power_w: int


@dataclass
class Gateway:
    name: str
    directory: Path
    sender: str
    settings: GatewaySettings
    clock: SteppedClock
    meters: dict[int, PinnedMeter]
    daemon: Daemon | None = None
    specs: list[MeterSpec] = field(default_factory=list)

    def start(self) -> None:
        self.daemon = Daemon(self.settings, clock=self.clock, meters=dict(self.meters))
        self.daemon.start()

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()

    def wait_stopped(self, timeout: float) -> bool:
        return self.daemon is None or self.daemon.wait_stopped(timeout)


def _keystore(directory: Path, name: str, key: bytes) -> dict:
    path = directory / f"{name}.json"
    write_keystore(path, key, DEMO_PASSPHRASE, scrypt_n=DEMO_SCRYPT_N)
    return {"keystore": str(path), "passphrase_file": str(directory.parent / "passphrase")}


def _settings(directory: Path, sender_ref: dict, rpc_url: str, chain_id: int, ledger: str, meters: list[dict],
              keepers: list[dict]) -> GatewaySettings:
    document = {
        "chain": {"rpc_url": rpc_url, "chain_id": chain_id, "ledger_address": ledger, "confirmations": 1,
                  "poll_interval_s": SUBMIT_POLL_S, "resend_after_s": 5.0, "rpc_timeout_s": 10.0},
        "sender": sender_ref,
        "outbox": {"path": str(directory / "outbox.sqlite")},
        # One batch per gateway per interval: it waits until every meter's reading is in.
        "batch": {"max_readings": len(meters), "max_delay_s": 5.0, "drain_timeout_s": 2.0},
        "failures": {"backoff_initial_s": 0.1, "backoff_max_s": 1.0, "max_consecutive": 20},
        "metrics": {"enabled": False},
        "log": {"format": "json", "level": "info"},
        "meters": meters,
        "keepers": keepers,
    }
    (directory / "gateway.json").write_text(json.dumps(document, indent=2) + "\n")
    return DemoGatewaySettings(**document)


def build_gateways(root: Path, seed: int, households: list[Household], accounts: list[str], operator: str,
                   rpc_url: str, chain_id: int, ledger: str, start: int,
                   capacity_wh: int, charge_efficiency_bps: int, market: str | None) -> list[Gateway]:
    """Household gateways of up to six meters each, then the battery's gateway (which
    also clears call-auction rounds when `market` is a call auction)."""
    root.mkdir(parents=True, exist_ok=True)
    passphrase = root / "passphrase"
    passphrase.write_text(DEMO_PASSPHRASE + "\n")
    passphrase.chmod(0o600)
    gateways = []
    groups = gateway_groups(households)
    for number, group in enumerate(groups, start=1):
        name = f"gateway-{number}"
        directory = root / name
        directory.mkdir()
        clock = SteppedClock(start)
        sender_key = demo_key(seed, name)
        entries, meters, specs = [], {}, []
        for household in group:
            profile = household.profile
            entries.append({
                "id": household.meter_id, "kind": "household", "interval_s": POLL_INTERVAL_S,
                "source": {"type": "simulated_household", "seed": profile.seed, "pv_peak_w": profile.pv_peak_w,
                           "daily_load_wh": profile.daily_load_wh, "origin_timestamp": start},
            })
            meters[household.meter_id] = PinnedMeter(SimulatedHousehold(profile, clock, origin=start), clock)
            specs.append(MeterSpec(household.meter_id, "household", accounts[household.index],
                                   Account.from_key(sender_key).address, HOUSEHOLD_RATED_POWER_W))
        settings = _settings(directory, _keystore(directory, "sender", sender_key), rpc_url, chain_id, ledger,
                             entries, [])
        gateways.append(Gateway(name, directory, Account.from_key(sender_key).address, settings, clock, meters,
                                specs=specs))

    name = "battery-gateway"
    directory = root / name
    directory.mkdir()
    clock = SteppedClock(start)
    sender_key = demo_key(seed, name)
    profiles = [h.profile for h in households]
    battery = SimulatedBattery(profiles, clock, capacity_wh=capacity_wh, charge_efficiency_bps=charge_efficiency_bps,
                               origin=start)
    entry = {
        "id": BATTERY_METER_ID, "kind": "battery", "interval_s": POLL_INTERVAL_S,
        "source": {"type": "simulated_battery", "capacity_wh": capacity_wh,
                   "charge_efficiency_bps": charge_efficiency_bps, "origin_timestamp": start,
                   "households": [{"type": "simulated_household", "seed": p.seed, "pv_peak_w": p.pv_peak_w,
                                   "daily_load_wh": p.daily_load_wh} for p in profiles]},
    }
    keepers = ([{"type": "auction_clearing", "market_address": market, "interval_s": 0.05, "max_steps_per_tx": 200}]
               if market else [])
    settings = _settings(directory, _keystore(directory, "sender", sender_key), rpc_url, chain_id, ledger,
                         [entry], keepers)
    rated = max(50_000, BATTERY_RATED_POWER_PER_HOUSEHOLD_W * len(households))
    spec = MeterSpec(BATTERY_METER_ID, "battery", operator, Account.from_key(sender_key).address, rated)
    gateways.append(Gateway(name, directory, Account.from_key(sender_key).address, settings, clock,
                            {BATTERY_METER_ID: PinnedMeter(battery, clock)}, specs=[spec]))
    return gateways

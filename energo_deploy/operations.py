"""Operator commands (register meters, fund households, pause, tariffs), shared by
``ape run ops`` and the demo. Each checks the sender's role and the network first, so a
missing right is a clear refusal instead of a reverted transaction."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from web3 import Web3

from energo.constants import TSL
from energo.deployments import DeploymentError, Deployments
from energo.facts import DEFAULT_ADMIN_ROLE, METER_KINDS, REGISTRAR_ROLE
from energo_deploy.engine import Backend, code_matches


class OperationRefused(DeploymentError):
    """The sender lacks the role, or the deployments do not match the connected chain."""


#: Initial registers this far below what the meter read are refused: the first reading
#: would credit the difference at once (a meter registered at 0: its whole lifetime).
MAX_REGISTER_GAP_WH = 1_000
#: A probe older than this is too old to check against: probe the meter again.
MAX_PROBE_AGE_S = 7 * 24 * 3600
PROBE_FORMAT = "energo-meter-probe/1"  # written by `energo-oracle probe --out FILE`


@dataclass(frozen=True)
class MeterProbe:
    """What `energo-oracle probe` read from a meter (oracle/meters/probe.py)."""

    meter_id: int
    import_wh: int
    export_wh: int
    read_at: int
    signer: str | None = None
    chain_id: int | None = None

    @classmethod
    def load(cls, path: Path | str) -> MeterProbe:
        try:
            document = json.loads(Path(path).read_text())
            if document.get("format") != PROBE_FORMAT:
                raise ValueError(f"format is {document.get('format')!r}, not {PROBE_FORMAT!r}")
            return cls(int(document["meter_id"]), int(document["import_wh"]), int(document["export_wh"]),
                       int(document["read_at"]), document.get("signer"), document.get("chain_id"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OperationRefused(f"{path} is not a meter probe (energo-oracle probe --out FILE): {exc}") from None


def initial_registers(import_wh: int | None, export_wh: int | None, probe: MeterProbe | None,
                      new_meter: bool = False) -> tuple[int, int]:
    """The registers to register a meter with, as `ape run ops register-meter` decides
    them: given ones, else the probe's; without a probe, 0 only for a meter declared new.
    There is no silent default: a meter registered at 0 that has counted for years would
    have its whole lifetime credited by its first reading."""
    if probe is not None:
        return (probe.import_wh if import_wh is None else import_wh,
                probe.export_wh if export_wh is None else export_wh)
    if new_meter:
        if import_wh or export_wh:
            raise OperationRefused("--new-meter registers at 0 Wh: leave out --import-wh/--export-wh, or drop "
                                   "--new-meter")
        return 0, 0
    if import_wh is None or export_wh is None:
        raise OperationRefused(
            "the meter's registers are needed: read them with `energo-oracle probe --config gateway.toml "
            "--meter-id N --out probe.json` and pass --probe-json probe.json, or give --import-wh and "
            "--export-wh as the meter shows them (--new-meter for a new meter that reads 0)")
    if import_wh == 0 and export_wh == 0:
        raise OperationRefused(
            "--import-wh 0 --export-wh 0 without a probe: unless the meter is new, its first reading would "
            "credit everything it ever counted. Pass --probe-json (energo-oracle probe --out FILE), or "
            "--new-meter if it really reads 0")
    return import_wh, export_wh


def check_against_probe(meter_id: int, signer: str, rated_power_w: int, import_wh: int, export_wh: int,
                        probe: MeterProbe, now: float | None = None, max_gap_wh: int = MAX_REGISTER_GAP_WH,
                        chain_id: int | None = None) -> None:
    """Refuses initial registers far below what the meter reported (the difference would
    be credited at once), or above what it can have reached since (every reading would
    be refused until it catches up), or a probe of another meter, key or chain."""
    now = time.time() if now is None else now
    if probe.meter_id != meter_id:
        raise OperationRefused(f"the probe read meter {probe.meter_id}, not meter {meter_id}")
    if probe.signer and Web3.to_checksum_address(probe.signer) != Web3.to_checksum_address(signer):
        raise OperationRefused(f"the probe read meter {meter_id} with signer {probe.signer}, not {signer}")
    if chain_id is not None and probe.chain_id is not None and probe.chain_id != chain_id:
        raise OperationRefused(f"the probe was taken by a gateway of chain {probe.chain_id}, not {chain_id}")
    age = now - probe.read_at
    if age > MAX_PROBE_AGE_S:
        raise OperationRefused(f"the probe is {age / 86400:.1f} days old: probe the meter again")
    # What the meter can have counted since the probe, at its rated power.
    since = max(age, 0) * rated_power_w / 3600
    for label, given, probed in (("import", import_wh, probe.import_wh), ("export", export_wh, probe.export_wh)):
        if given < probed - max_gap_wh:
            raise OperationRefused(
                f"--{label}-wh {given} is {probed - given:,} Wh below what meter {meter_id} reported "
                f"({probed:,} Wh): its first reading would credit that at once. Register it with "
                f"--{label}-wh {probed} (the probe's figure)")
        if given > probed + since + max_gap_wh:
            raise OperationRefused(
                f"--{label}-wh {given} is above what meter {meter_id} can read now ({probed:,} Wh when probed, "
                f"{age:.0f} s ago at most {rated_power_w} W): every reading would be refused until it got there")


@dataclass
class Operations:
    backend: Backend
    deployments: Deployments

    @classmethod
    def connect(cls, backend: Backend, deployments_path) -> Operations:
        deployments = Deployments.load(deployments_path, backend.chain_id)
        if not deployments.contracts:
            raise OperationRefused(f"{deployments_path} records no contracts for chain {backend.chain_id}: deploy first")
        ops = cls(backend, deployments)
        for name in ("SharedBattery", "MeterLedger"):
            address = ops.address(name)
            if not code_matches(name, backend.code_at(address)):
                raise OperationRefused(
                    f"{name} at {address} (from {deployments_path}) is not on this chain: wrong network?"
                )
        return ops

    def address(self, name: str) -> str:
        try:
            return self.deployments.contracts[name]
        except KeyError:
            raise OperationRefused(f"{self.deployments.path} records no {name}") from None

    def require_role(self, contract: str, role: bytes, label: str) -> str:
        address = self.address(contract)
        if not self.backend.call(contract, address, "hasRole", [role, self.backend.sender]):
            raise OperationRefused(
                f"{self.backend.sender} lacks {label} on {contract} at {address}: refusing to send"
            )
        return address

    # ------------------------------------------------------------ meters

    def register_meter(self, meter_id: int, signer: str, account: str, kind: str, rated_power_w: int,
                       import_wh: int = 0, export_wh: int = 0, probe: MeterProbe | None = None,
                       max_gap_wh: int = MAX_REGISTER_GAP_WH) -> None:
        """Registers with the given initial registers; with a `probe` (what the meter read,
        `energo-oracle probe`), refuses registers far from it (check_against_probe). The
        operator command (scripts/ops.py) decides the registers with initial_registers."""
        if kind not in METER_KINDS:
            raise OperationRefused(f"meter kind must be one of {sorted(METER_KINDS)}, not {kind!r}")
        if probe is not None:
            check_against_probe(meter_id, signer, rated_power_w, import_wh, export_wh, probe,
                                max_gap_wh=max_gap_wh, chain_id=self.backend.chain_id)
        ledger = self.require_role("MeterLedger", REGISTRAR_ROLE, "REGISTRAR_ROLE")
        self.backend.transact("MeterLedger", ledger, "registerMeter", [
            meter_id, Web3.to_checksum_address(signer), Web3.to_checksum_address(account),
            METER_KINDS[kind], rated_power_w, import_wh, export_wh,
        ])

    def revoke_meter(self, meter_id: int) -> None:
        ledger = self.require_role("MeterLedger", REGISTRAR_ROLE, "REGISTRAR_ROLE")
        self.backend.transact("MeterLedger", ledger, "revokeMeter", [meter_id])

    # ------------------------------------------------------------ money

    def fund_household(self, household: str, amount_tsl: Decimal) -> None:
        """Sends TSL from the treasury (the sender) to a household's wallet."""
        tsl = self.address("TslToken")
        amount = int(Decimal(amount_tsl) * TSL)
        balance = self.backend.call("TslToken", tsl, "balanceOf", [self.backend.sender])
        if balance < amount:
            raise OperationRefused(
                f"{self.backend.sender} holds {Decimal(balance) / TSL} TSL, less than {amount_tsl}: "
                "fund households from the treasury account"
            )
        self.backend.transact("TslToken", tsl, "transfer", [Web3.to_checksum_address(household), amount])

    # ------------------------------------------------------------ admin

    def _admin_contracts(self) -> list[str]:
        # Pausing the battery also stops every market's hooks (markets have no admin).
        return ["SharedBattery", "MeterLedger"]

    def pause(self) -> list[str]:
        return self._set_paused(True)

    def unpause(self) -> list[str]:
        return self._set_paused(False)

    def _set_paused(self, paused: bool) -> list[str]:
        changed = []
        for name in self._admin_contracts():
            address = self.require_role(name, DEFAULT_ADMIN_ROLE, "DEFAULT_ADMIN_ROLE")
            if self.backend.call(name, address, "paused", []) != paused:
                self.backend.transact(name, address, "pause" if paused else "unpause", [])
                changed.append(name)
        return changed

    def accept_admin(self) -> None:
        """The battery's new admin (the sender) accepts the transfer the deployer began,
        once the battery's admin delay has passed (AccessControlDefaultAdminRules)."""
        battery = self.address("SharedBattery")
        pending, schedule = self.backend.call("SharedBattery", battery, "pendingDefaultAdmin", [])
        if Web3.to_checksum_address(pending) != Web3.to_checksum_address(self.backend.sender):
            raise OperationRefused(f"{self.backend.sender} is not the battery's pending admin ({pending})")
        self.backend.transact("SharedBattery", battery, "acceptDefaultAdminTransfer", [])

    def set_rent_rate(self, tsl_per_kwh_day: Decimal) -> None:
        battery = self.require_role("SharedBattery", DEFAULT_ADMIN_ROLE, "DEFAULT_ADMIN_ROLE")
        self.backend.transact("SharedBattery", battery, "setRentRate", [int(Decimal(tsl_per_kwh_day) * TSL)])

    def set_utility_price(self, tsl_per_kwh: Decimal) -> None:
        battery = self.require_role("SharedBattery", DEFAULT_ADMIN_ROLE, "DEFAULT_ADMIN_ROLE")
        self.backend.transact("SharedBattery", battery, "setUtilityPrice", [int(Decimal(tsl_per_kwh) * TSL)])

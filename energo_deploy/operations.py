"""Operator commands (register meters, fund households, pause, tariffs), shared by
``ape run ops`` and the demo. Each checks the sender's role and the network first, so a
missing right is a clear refusal instead of a reverted transaction."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from web3 import Web3

from energo.constants import TSL
from energo.deployments import DeploymentError, Deployments
from energo.facts import DEFAULT_ADMIN_ROLE, METER_KINDS, REGISTRAR_ROLE
from energo_deploy.engine import Backend, code_matches


class OperationRefused(DeploymentError):
    """The sender lacks the role, or the deployments do not match the connected chain."""


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
                       import_wh: int = 0, export_wh: int = 0) -> None:
        if kind not in METER_KINDS:
            raise OperationRefused(f"meter kind must be one of {sorted(METER_KINDS)}, not {kind!r}")
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

    def set_rent_rate(self, tsl_per_kwh_day: Decimal) -> None:
        battery = self.require_role("SharedBattery", DEFAULT_ADMIN_ROLE, "DEFAULT_ADMIN_ROLE")
        self.backend.transact("SharedBattery", battery, "setRentRate", [int(Decimal(tsl_per_kwh_day) * TSL)])

    def set_utility_price(self, tsl_per_kwh: Decimal) -> None:
        battery = self.require_role("SharedBattery", DEFAULT_ADMIN_ROLE, "DEFAULT_ADMIN_ROLE")
        self.backend.transact("SharedBattery", battery, "setUtilityPrice", [int(Decimal(tsl_per_kwh) * TSL)])

"""Deploying and wiring the Energo contracts with web3.py (tests, demo, benchmarks).

The operator's deploy command (scripts/, with Ape) deploys the same contracts with the
same wiring; both read parameters from ``SystemConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from web3 import Web3
from web3.contract import Contract

from energo.constants import TSL, WATT
from energo.tx import Sender

#: The reference system's rent: 617.9 TSL keeps 2018.23 kWh stored for 88 days
#: (mission.md), in TSL base units per WATT per day: 617.9e18 / (2018.23 * 88).
REFERENCE_RENT_PER_WATT_DAY = 6179 * 10**19 // 17_760_424

REGISTRAR_ROLE = Web3.keccak(text="REGISTRAR_ROLE")
MARKET_ROLE = Web3.keccak(text="MARKET_ROLE")
PAUSER_ROLE = Web3.keccak(text="PAUSER_ROLE")
DEFAULT_ADMIN_ROLE = b"\x00" * 32


@dataclass(frozen=True)
class SystemConfig:
    tsl_supply: int = 1_000_000_000 * TSL
    capacity_wh: int = 500_000  # 500 kWh community battery
    charge_efficiency_bps: int = 9_500
    rent_per_watt_day: int = REFERENCE_RENT_PER_WATT_DAY
    utility_price: int = 6 * TSL // 10  # 0.60 TSL per kWh
    reserve_tolerance_wh: int = 2_000
    max_clock_skew_s: int = 120


@dataclass(frozen=True)
class Roles:
    """Addresses (unlocked dev accounts or local keys) by role."""

    admin: Sender
    treasury: Sender
    operator: Sender
    registrar: Sender


@dataclass
class EnergoSystem:
    w3: Web3
    config: SystemConfig
    roles: Roles
    tsl: Contract
    battery: Contract
    ledger: Contract
    markets: dict[str, Contract] = field(default_factory=dict)

    def addresses(self) -> dict[str, str]:
        out = {"TslToken": self.tsl.address, "SharedBattery": self.battery.address, "MeterLedger": self.ledger.address}
        out.update({name: m.address for name, m in self.markets.items()})
        return out


def deploy_system(w3: Web3, roles: Roles, config: SystemConfig = SystemConfig()) -> EnergoSystem:
    admin = roles.admin
    tsl = admin.deploy("TslToken", roles.treasury.address, config.tsl_supply)
    battery = admin.deploy(
        "SharedBattery",
        admin.address,
        tsl.address,
        roles.operator.address,
        config.capacity_wh,
        config.charge_efficiency_bps,
        config.rent_per_watt_day,
        config.utility_price,
        config.reserve_tolerance_wh,
    )
    ledger = admin.deploy("MeterLedger", admin.address, battery.address, config.max_clock_skew_s)
    admin.transact(battery.functions.bindLedger(ledger.address))
    admin.transact(ledger.functions.grantRole(REGISTRAR_ROLE, roles.registrar.address))
    return EnergoSystem(w3=w3, config=config, roles=roles, tsl=tsl, battery=battery, ledger=ledger)


def watt_to_wh(amount: int) -> int:
    return amount * 1000 // WATT

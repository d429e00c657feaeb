"""The deployed system as web3.py contract objects, for tests, the demo and benchmarks.

Deployment itself is energo_deploy.engine's (the same one `ape run deploy` uses);
this module names the role holders and hands back contract objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from web3 import Web3
from web3.contract import Contract

from energo.deployments import Deployments
from energo.facts import MARKET_CONTRACTS
from energo.tx import Sender, contract_at
from energo_deploy.config import DeployConfig
from energo_deploy.engine import Deployer, Web3Backend

#: The system's parameters are the deploy configuration's (base units).
SystemConfig = DeployConfig


@dataclass(frozen=True)
class Roles:
    """Senders (unlocked dev accounts or local keys) by role."""

    admin: Sender
    treasury: Sender
    operator: Sender
    registrar: Sender


@dataclass
class EnergoSystem:
    w3: Web3
    config: DeployConfig
    roles: Roles
    tsl: Contract
    battery: Contract
    ledger: Contract
    markets: dict[str, Contract] = field(default_factory=dict)

    def addresses(self) -> dict[str, str]:
        out = {"TslToken": self.tsl.address, "SharedBattery": self.battery.address, "MeterLedger": self.ledger.address}
        out.update({name: m.address for name, m in self.markets.items()})
        return out


def deploy_system(w3: Web3, roles: Roles, config: DeployConfig | None = None, with_market: bool = False,
                  log=lambda *_: None) -> EnergoSystem:
    """Deploys with the engine from the admin's account; the market only if asked (market
    tests and the demo deploy the mode they need)."""
    from dataclasses import replace

    config = replace(config or DeployConfig(), treasury=roles.treasury.address, operator=roles.operator.address,
                     registrar=roles.registrar.address, admin=None)
    backend = Web3Backend(roles.admin)
    deployments = Deployments(path=None, chain_id=backend.chain_id)
    Deployer(backend, config, deployments, log=log, with_market=with_market).run()
    contracts = deployments.contracts
    system = EnergoSystem(
        w3=w3, config=config, roles=roles,
        tsl=contract_at(w3, "TslToken", contracts["TslToken"]),
        battery=contract_at(w3, "SharedBattery", contracts["SharedBattery"]),
        ledger=contract_at(w3, "MeterLedger", contracts["MeterLedger"]),
    )
    modes = {contract: mode for mode, contract in MARKET_CONTRACTS.items()}
    for name, address in contracts.items():
        if name in modes:
            system.markets[modes[name]] = contract_at(w3, name, address)
    return system

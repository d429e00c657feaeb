"""The one deployment engine: deploys and wires Energo from a configuration file,
idempotently, recording addresses per chain id in a deployments file.

Backends send the transactions: web3.py with a local or node account (tests, the demo),
Ape accounts (``ape run deploy``), and a Qtum UTXO wallet. A re-run skips what the
deployments file records, after checking that the code at each recorded address is the
code that contract should have; a mismatch is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from web3 import Web3

from energo import artifacts
from energo.deployments import DeploymentError, Deployments
from energo.facts import DEFAULT_ADMIN_ROLE, MARKET_ROLE, PAUSER_ROLE, REGISTRAR_ROLE
from energo.tx import Sender, contract_at
from energo_deploy.config import DeployConfig


class DeploymentMismatch(DeploymentError):
    """The code at a recorded address is not the code the contract should have."""


class Backend(Protocol):
    """What the engine needs from whoever signs and sends. `call` returns decoded
    values, addresses as checksummed hex strings."""

    chain_id: int
    #: The address the chain sees as msg.sender for this backend's transactions.
    sender: str

    def deploy(self, name: str, args: list) -> str: ...

    def transact(self, name: str, address: str, fn: str, args: list) -> None: ...

    def call(self, name: str, address: str, fn: str, args: list) -> Any: ...

    def code_at(self, address: str) -> bytes: ...


# ---------------------------------------------------------------- code checks


def _masked(code: bytes, immutable_refs: list[dict]) -> bytes:
    out = bytearray(code)
    for ref in immutable_refs:
        out[ref["start"]: ref["start"] + ref["length"]] = b"\x00" * ref["length"]
    return bytes(out)


def code_matches(name: str, code: bytes) -> bool:
    """True when `code` is the runtime code of artifact `name` (immutables masked)."""
    art = artifacts.load(name)
    expected = bytes.fromhex(art["deployedBytecode"][2:])
    if len(code) != len(expected):
        return False
    refs = art.get("immutableReferences", [])
    return _masked(code, refs) == _masked(expected, refs)


# ---------------------------------------------------------------- the engine


@dataclass
class DeployResult:
    chain_id: int
    contracts: dict[str, str]
    deployed: list[str]
    skipped: list[str]
    actions: list[str]


class Deployer:
    def __init__(self, backend: Backend, config: DeployConfig, deployments: Deployments, log=print,
                 with_market: bool = True):
        self.with_market = with_market
        self.backend = backend
        self.config = config
        self.deployments = deployments
        self.log = log
        self.result = DeployResult(backend.chain_id, deployments.contracts, [], [], [])

    def _role_holder(self, configured: str | None) -> str:
        return Web3.to_checksum_address(configured) if configured else self.backend.sender

    def _ensure(self, name: str, args: list) -> str:
        recorded = self.deployments.contracts.get(name)
        if recorded:
            code = self.backend.code_at(recorded)
            if not code_matches(name, code):
                raise DeploymentMismatch(
                    f"{name} is recorded at {recorded} in {self.deployments.path}, but the code there "
                    f"({len(code)} bytes) is not {name}'s: refusing to continue. Check the network, or "
                    "remove the entry to deploy anew."
                )
            self.result.skipped.append(name)
            self.log(f"  {name:20s} {recorded}  (recorded; code verified)")
            return recorded
        address = self.backend.deploy(name, args)
        self.deployments.record(name, address)
        self.result.deployed.append(name)
        self.log(f"  {name:20s} {address}  (deployed)")
        return Web3.to_checksum_address(address)

    def _ensure_role(self, contract: str, address: str, role: bytes, holder: str, label: str) -> None:
        if not self.backend.call(contract, address, "hasRole", [role, holder]):
            self.backend.transact(contract, address, "grantRole", [role, holder])
            self.result.actions.append(f"granted {label} on {contract} to {holder}")

    def run(self) -> DeployResult:
        cfg = self.config
        deployer = self.backend.sender
        treasury = self._role_holder(cfg.treasury)
        operator = self._role_holder(cfg.operator)
        registrar = self._role_holder(cfg.registrar)
        admin = self._role_holder(cfg.admin)

        tsl = self._ensure("TslToken", [treasury, cfg.tsl_supply])
        battery = self._ensure("SharedBattery", [
            deployer, tsl, operator, cfg.capacity_wh, cfg.charge_efficiency_bps,
            cfg.rent_per_watt_day, cfg.utility_price, cfg.reserve_tolerance_wh, cfg.battery_limits(),
        ])
        ledger = self._ensure("MeterLedger", [deployer, battery, cfg.max_clock_skew_s])

        bound = self.backend.call("SharedBattery", battery, "ledger", [])
        if int(bound, 16) == 0:
            self.backend.transact("SharedBattery", battery, "bindLedger", [ledger])
            self.result.actions.append("bound the ledger to the battery")
        elif Web3.to_checksum_address(bound) != ledger:
            raise DeploymentMismatch(f"SharedBattery at {battery} is bound to ledger {bound}, not {ledger}")
        self._ensure_role("MeterLedger", ledger, REGISTRAR_ROLE, registrar, "REGISTRAR_ROLE")

        if self.with_market:
            market_name, market_args = market_constructor(cfg, battery)
            market = self._ensure(market_name, market_args)
            self._ensure_role("SharedBattery", battery, MARKET_ROLE, market, "MARKET_ROLE")

        # Markets have no admin: their configuration is immutable and the battery's
        # pause stops their hooks. The admin and pauser roles live on the battery and the
        # ledger, and both go to the configured admin: the deployer keeps neither.
        if admin != deployer:
            self._hand_over(admin, deployer)
        return self.result

    def _hand_over(self, admin: str, deployer: str) -> None:
        """PAUSER_ROLE and admin to `admin` on every contract that has them. The ledger's
        admin moves at once; the battery's is OpenZeppelin's two-step transfer, begun here
        and accepted by the admin after the battery's admin delay (accept_admin)."""
        for name in ("SharedBattery", "MeterLedger"):
            address = self.deployments.contracts[name]
            self._ensure_role(name, address, PAUSER_ROLE, admin, "PAUSER_ROLE")
            self._renounce(name, address, PAUSER_ROLE, deployer, "PAUSER_ROLE")
        ledger = self.deployments.contracts["MeterLedger"]
        self._ensure_role("MeterLedger", ledger, DEFAULT_ADMIN_ROLE, admin, "DEFAULT_ADMIN_ROLE")
        self._renounce("MeterLedger", ledger, DEFAULT_ADMIN_ROLE, deployer, "admin")
        battery = self.deployments.contracts["SharedBattery"]
        pending, _ = self.backend.call("SharedBattery", battery, "pendingDefaultAdmin", [])
        current = self.backend.call("SharedBattery", battery, "defaultAdmin", [])
        if Web3.to_checksum_address(current) == deployer and Web3.to_checksum_address(pending) != admin:
            self.backend.transact("SharedBattery", battery, "beginDefaultAdminTransfer", [admin])
            self.result.actions.append(f"began the admin transfer of SharedBattery to {admin} (it accepts)")

    def _renounce(self, contract: str, address: str, role: bytes, holder: str, label: str) -> None:
        if self.backend.call(contract, address, "hasRole", [role, holder]):
            self.backend.transact(contract, address, "renounceRole", [role, holder])
            self.result.actions.append(f"deployer renounced {label} on {contract}")


def market_constructor(cfg: DeployConfig, battery: str) -> tuple[str, list]:
    """The market contract for the configured mode and its constructor arguments
    (IMarket.MarketSettings; the call auction adds its round length)."""
    return cfg.market.contract, cfg.market.constructor_args(battery)


def deploy(backend: Backend, config: DeployConfig, deployments_path: Path, log=print) -> DeployResult:
    deployments = Deployments.load(deployments_path, backend.chain_id)
    return Deployer(backend, config, deployments, log).run()


class Web3Backend:
    """Sends through energo.tx.Sender: a node's unlocked account or a local key."""

    def __init__(self, sender: Sender):
        self._sender = sender
        self.w3 = sender.w3
        self.chain_id = self.w3.eth.chain_id
        self.sender = Web3.to_checksum_address(sender.address)

    def _contract(self, name: str, address: str):
        return contract_at(self.w3, name, address)

    def deploy(self, name: str, args: list) -> str:
        return self._sender.deploy(name, *args).address

    def transact(self, name: str, address: str, fn: str, args: list) -> None:
        self._sender.transact(getattr(self._contract(name, address).functions, fn)(*args))

    def call(self, name: str, address: str, fn: str, args: list) -> Any:
        return getattr(self._contract(name, address).functions, fn)(*args).call()

    def code_at(self, address: str) -> bytes:
        return bytes(self.w3.eth.get_code(Web3.to_checksum_address(address)))

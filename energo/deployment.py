"""The one deployment engine: deploys and wires Energo from a configuration file,
idempotently, recording addresses per chain id in a deployments file.

Backends send the transactions: web3.py with a local or node account (tests, the demo),
Ape accounts (``ape run deploy``), and a Qtum UTXO wallet. A re-run skips what the
deployments file records, after checking that the code at each recorded address is the
code that contract should have; a mismatch is refused.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from web3 import Web3

from energo import artifacts
from energo.constants import TSL, WATT

DEFAULT_ADMIN_ROLE = b"\x00" * 32
REGISTRAR_ROLE = Web3.keccak(text="REGISTRAR_ROLE")
MARKET_ROLE = Web3.keccak(text="MARKET_ROLE")

#: The reference system's rent: 617.9 TSL keeps 2018.23 kWh stored for 88 days.
REFERENCE_RENT_PER_WATT_DAY = 6179 * 10**19 // 17_760_424


class DeploymentError(RuntimeError):
    """A deployment cannot go on; the message says what to fix."""


class DeploymentMismatch(DeploymentError):
    """The code at a recorded address is not the code the contract should have."""


@dataclass(frozen=True)
class MarketSettings:
    mode: str = "continuous"  # or "auction" (periodic call auction)
    tick_size: int = TSL // 1000  # 0.001 TSL per kWh
    min_size_wh: int = 100  # 0.1 kWh
    round_length_s: int = 900
    fee_bps: int = 0
    fee_recipient: str | None = None
    price_cap: bool = False


@dataclass(frozen=True)
class DeployConfig:
    """Parameters in base units (TSL base units, Wh); `from_toml` reads human units."""

    tsl_supply: int = 1_000_000_000 * TSL
    capacity_wh: int = 500_000
    charge_efficiency_bps: int = 9_500
    rent_per_watt_day: int = REFERENCE_RENT_PER_WATT_DAY
    utility_price: int = 6 * TSL // 10
    reserve_tolerance_wh: int = 2_000
    max_clock_skew_s: int = 120
    market: MarketSettings = field(default_factory=MarketSettings)
    #: Role holders; None means the deployer.
    admin: str | None = None
    treasury: str | None = None
    operator: str | None = None
    registrar: str | None = None

    @classmethod
    def from_toml(cls, path: Path) -> DeployConfig:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DeploymentError(f"cannot read deploy config {path}: {exc}") from exc
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict, source: str = "config") -> DeployConfig:
        def tsl(key: str, section: dict, default: int) -> int:
            return _to_base(section[key], TSL, f"{source}: {key}") if key in section else default

        battery = data.get("battery", {})
        rent = data.get("rent", {})
        market = data.get("market", {})
        roles = data.get("roles", {})
        known = {"battery", "rent", "market", "roles", "token"}
        unknown = set(data) - known
        if unknown:
            raise DeploymentError(f"{source}: unknown section(s) {sorted(unknown)}; expected {sorted(known)}")
        mode = market.get("mode", "continuous")
        if mode not in ("continuous", "auction"):
            raise DeploymentError(f"{source}: market.mode must be 'continuous' or 'auction', not {mode!r}")
        defaults = cls()
        return cls(
            tsl_supply=tsl("supply_tsl", data.get("token", {}), defaults.tsl_supply),
            capacity_wh=_to_base(battery.get("capacity_kwh", 500), 1000, f"{source}: battery.capacity_kwh"),
            charge_efficiency_bps=int(Decimal(str(battery.get("charge_efficiency_percent", 95))) * 100),
            reserve_tolerance_wh=_to_base(battery.get("reserve_tolerance_kwh", 2), 1000,
                                          f"{source}: battery.reserve_tolerance_kwh"),
            rent_per_watt_day=tsl("tsl_per_kwh_day", rent, defaults.rent_per_watt_day),
            utility_price=tsl("utility_price_tsl_per_kwh", rent, defaults.utility_price),
            max_clock_skew_s=int(data.get("battery", {}).get("max_clock_skew_s", 120)),
            market=MarketSettings(
                mode=mode,
                tick_size=tsl("tick_tsl_per_kwh", market, MarketSettings.tick_size),
                min_size_wh=_to_base(market.get("min_size_kwh", "0.1"), 1000, f"{source}: market.min_size_kwh"),
                round_length_s=int(market.get("round_length_s", 900)),
                fee_bps=int(market.get("fee_bps", 0)),
                fee_recipient=market.get("fee_recipient"),
                price_cap=bool(market.get("price_cap", False)),
            ),
            admin=roles.get("admin"),
            treasury=roles.get("treasury"),
            operator=roles.get("operator"),
            registrar=roles.get("registrar"),
        )


def _to_base(value: Any, scale: int, what: str) -> int:
    try:
        amount = Decimal(str(value)) * scale
    except ArithmeticError as exc:
        raise DeploymentError(f"{what}: {value!r} is not a number") from exc
    if amount < 0 or amount != amount.to_integral_value():
        raise DeploymentError(f"{what}: {value!r} must be non-negative with at most the unit's precision")
    return int(amount)


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


# ---------------------------------------------------------------- deployments file


@dataclass
class Deployments:
    """Addresses recorded per chain id; written after every step so a failed run resumes."""

    path: Path | None  # None: kept in memory only (tests)
    chain_id: int
    contracts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, chain_id: int) -> Deployments:
        path = Path(path)
        if not path.exists():
            return cls(path=path, chain_id=chain_id)
        data = json.loads(path.read_text())
        if data.get("chainId") != chain_id:
            raise DeploymentError(
                f"{path} records chain id {data.get('chainId')}, but the connected chain is {chain_id}: "
                "wrong network or wrong deployments file"
            )
        return cls(path=path, chain_id=chain_id, contracts=dict(data.get("contracts", {})))

    def record(self, name: str, address: str) -> None:
        self.contracts[name] = Web3.to_checksum_address(address)
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"chainId": self.chain_id, "contracts": self.contracts}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)


def default_deployments_path(chain_id: int, root: Path | None = None) -> Path:
    return (root or Path.cwd()) / "deployments" / f"{chain_id}.json"


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
            cfg.rent_per_watt_day, cfg.utility_price, cfg.reserve_tolerance_wh,
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
        # pause stops their hooks. The admin role lives on the battery and the ledger.
        if admin != deployer:
            for name in ("SharedBattery", "MeterLedger"):
                address = self.deployments.contracts[name]
                self._ensure_role(name, address, DEFAULT_ADMIN_ROLE, admin, "DEFAULT_ADMIN_ROLE")
                if self.backend.call(name, address, "hasRole", [DEFAULT_ADMIN_ROLE, deployer]):
                    self.backend.transact(name, address, "renounceRole", [DEFAULT_ADMIN_ROLE, deployer])
                    self.result.actions.append(f"deployer renounced admin on {name}")
        return self.result


MARKET_CONTRACTS = {"continuous": "ContinuousMarket", "auction": "CallAuctionMarket"}
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def market_constructor(cfg: DeployConfig, battery: str) -> tuple[str, list]:
    """The market contract for the configured mode and its constructor arguments
    (IMarket.MarketConfig; the call auction adds its round length)."""
    m = cfg.market
    market_config = (m.tick_size, m.min_size_wh, m.fee_bps, m.fee_recipient or ZERO_ADDRESS, m.price_cap)
    name = MARKET_CONTRACTS[m.mode]
    args: list = [battery, market_config]
    if m.mode == "auction":
        args.append(m.round_length_s)
    return name, args


def deploy(backend: Backend, config: DeployConfig, deployments_path: Path, log=print) -> DeployResult:
    deployments = Deployments.load(deployments_path, backend.chain_id)
    return Deployer(backend, config, deployments, log).run()


def config_as_dict(config: DeployConfig) -> dict:
    return asdict(config)


def watt_to_kwh(amount: int) -> Decimal:
    return Decimal(amount) / WATT


class Web3Backend:
    """Sends through energo.tx.Sender: a node's unlocked account or a local key."""

    def __init__(self, sender):
        self._sender = sender
        self.w3 = sender.w3
        self.chain_id = self.w3.eth.chain_id
        self.sender = Web3.to_checksum_address(sender.address)

    def _contract(self, name: str, address: str):
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifacts.abi(name))

    def deploy(self, name: str, args: list) -> str:
        return self._sender.deploy(name, *args).address

    def transact(self, name: str, address: str, fn: str, args: list) -> None:
        self._sender.transact(getattr(self._contract(name, address).functions, fn)(*args))

    def call(self, name: str, address: str, fn: str, args: list) -> Any:
        return getattr(self._contract(name, address).functions, fn)(*args).call()

    def code_at(self, address: str) -> bytes:
        return bytes(self.w3.eth.get_code(Web3.to_checksum_address(address)))

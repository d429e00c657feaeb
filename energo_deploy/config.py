"""The deploy configuration: a TOML file in human units, checked by pydantic models.

Every section and every key is known: a misspelt one is refused with its name, never
silently replaced by the default. ``DeployConfig`` holds the result in base units (TSL
base units, Wh), the shape the engine, the tests and the demo use.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from energo.constants import TSL
from energo.deployments import DeploymentError
from energo.facts import MARKET_MODES, REFERENCE_RENT_PER_WATT_DAY, MarketSettings


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
    #: Bounds fixed at deploy (ISharedBattery.Limits). The nameplate caps setCapacity;
    #: None means the configured capacity (no headroom).
    nameplate_wh: int | None = None
    min_utility_price: int = TSL // 100
    max_utility_price: int = 10 * TSL
    #: Rent per kWh-day at most this share of the utility price, in basis points.
    max_rent_bps_of_price: int = 2_000
    #: The wait of the battery's two-step admin transfer, in seconds.
    admin_delay_s: int = 0
    market: MarketSettings = field(default_factory=MarketSettings)
    #: Role holders; None means the deployer.
    admin: str | None = None
    treasury: str | None = None
    operator: str | None = None
    registrar: str | None = None

    @classmethod
    def from_toml(cls, path: Path | str) -> DeployConfig:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DeploymentError(f"cannot read deploy config {path}: {exc}") from exc
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict, source: str = "config") -> DeployConfig:
        known = set(DeployFile.model_fields)
        unknown = set(data) - known
        if unknown:
            raise DeploymentError(f"{source}: unknown section(s) {sorted(unknown)}; expected {sorted(known)}")
        try:
            parsed = DeployFile.model_validate(data)
        except ValidationError as exc:
            raise DeploymentError(_describe(exc, source)) from None
        return parsed.to_config()

    def as_dict(self) -> dict:
        return asdict(self)

    def battery_limits(self) -> tuple[int, int, int, int, int]:
        """SharedBattery's `Limits` constructor argument, as web3.py encodes a tuple."""
        nameplate = self.capacity_wh if self.nameplate_wh is None else self.nameplate_wh
        return (self.admin_delay_s, nameplate, self.min_utility_price, self.max_utility_price,
                self.max_rent_bps_of_price)


# ------------------------------------------------------------------ the file's sections


def _to_base(value: Any, scale: int, what: str) -> int:
    try:
        amount = Decimal(str(value)) * scale
    except ArithmeticError as exc:
        raise ValueError(f"{what}: {value!r} is not a number") from exc
    if amount < 0 or amount != amount.to_integral_value():
        raise ValueError(f"{what}: {value!r} must be non-negative with at most the unit's precision")
    return int(amount)


Amount = int | float | str


#: Each amount key and its unit's scale, per section (the rest are plain ints, strings, flags).
SCALES = {
    "token": {"supply_tsl": TSL},
    "battery": {"capacity_kwh": 1000, "reserve_tolerance_kwh": 1000, "charge_efficiency_percent": 100},
    "rent": {"tsl_per_kwh_day": TSL, "utility_price_tsl_per_kwh": TSL, "min_utility_price_tsl_per_kwh": TSL,
             "max_utility_price_tsl_per_kwh": TSL, "max_rent_percent_of_price_per_day": 100},
    "market": {"tick_tsl_per_kwh": TSL, "min_size_kwh": 1000},
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    section: ClassVar[str] = ""

    @model_validator(mode="after")
    def check_amounts(self):
        for key in SCALES.get(self.section, {}):
            self.base(key)
        return self

    def base(self, key: str) -> int:
        """The key's value in base units."""
        return _to_base(getattr(self, key), SCALES[self.section][key], f"{self.section}.{key}")


class TokenSection(_Section):
    section: ClassVar[str] = "token"
    supply_tsl: Amount = 1_000_000_000


class BatterySection(_Section):
    section: ClassVar[str] = "battery"
    capacity_kwh: Amount = 500
    charge_efficiency_percent: Amount = 95
    reserve_tolerance_kwh: Amount = 2
    max_clock_skew_s: int = 120
    #: The most capacity the admin may ever set; unset: the capacity.
    nameplate_kwh: Amount | None = None

    @model_validator(mode="after")
    def check_nameplate(self):
        self.nameplate_wh()
        return self

    def nameplate_wh(self) -> int | None:
        return None if self.nameplate_kwh is None else _to_base(self.nameplate_kwh, 1000, "battery.nameplate_kwh")


class RentSection(_Section):
    section: ClassVar[str] = "rent"
    tsl_per_kwh_day: Amount = str(Decimal(REFERENCE_RENT_PER_WATT_DAY) / TSL)
    utility_price_tsl_per_kwh: Amount = "0.6"
    min_utility_price_tsl_per_kwh: Amount = "0.01"
    max_utility_price_tsl_per_kwh: Amount = 10
    max_rent_percent_of_price_per_day: Amount = 20


class MarketSection(_Section):
    section: ClassVar[str] = "market"
    mode: str = "continuous"
    tick_tsl_per_kwh: Amount = "0.001"
    min_size_kwh: Amount = "0.1"
    round_length_s: int = MarketSettings.round_length_s
    fee_bps: int = 0
    fee_recipient: str | None = None
    price_cap: bool = False

    @field_validator("mode")
    @classmethod
    def known_mode(cls, value: str) -> str:
        if value not in MARKET_MODES:
            raise ValueError(f"market.mode must be 'continuous' or 'auction', not {value!r}")
        return value


class RolesSection(_Section):
    section: ClassVar[str] = "roles"
    admin: str | None = None
    treasury: str | None = None
    operator: str | None = None
    registrar: str | None = None
    #: Seconds a handed-over battery admin waits before it can accept.
    admin_delay_s: int = 0


class DeployFile(BaseModel):
    """A deploy configuration file (deploy/*.toml), section by section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: TokenSection = TokenSection()
    battery: BatterySection = BatterySection()
    rent: RentSection = RentSection()
    market: MarketSection = MarketSection()
    roles: RolesSection = RolesSection()

    def to_config(self) -> DeployConfig:
        b, r, m = self.battery, self.rent, self.market
        return DeployConfig(
            tsl_supply=self.token.base("supply_tsl"),
            capacity_wh=b.base("capacity_kwh"),
            charge_efficiency_bps=b.base("charge_efficiency_percent"),
            reserve_tolerance_wh=b.base("reserve_tolerance_kwh"),
            rent_per_watt_day=r.base("tsl_per_kwh_day"),
            utility_price=r.base("utility_price_tsl_per_kwh"),
            max_clock_skew_s=b.max_clock_skew_s,
            nameplate_wh=b.nameplate_wh(),
            min_utility_price=r.base("min_utility_price_tsl_per_kwh"),
            max_utility_price=r.base("max_utility_price_tsl_per_kwh"),
            max_rent_bps_of_price=r.base("max_rent_percent_of_price_per_day"),
            admin_delay_s=self.roles.admin_delay_s,
            market=MarketSettings(
                mode=m.mode,
                tick_size=m.base("tick_tsl_per_kwh"),
                min_size_wh=m.base("min_size_kwh"),
                round_length_s=m.round_length_s,
                fee_bps=m.fee_bps,
                fee_recipient=m.fee_recipient,
                price_cap=m.price_cap,
            ),
            admin=self.roles.admin,
            treasury=self.roles.treasury,
            operator=self.roles.operator,
            registrar=self.roles.registrar,
        )


def _describe(exc: ValidationError, source: str) -> str:
    """One line per problem, naming the key: ``deploy/local.toml: battery.capcity_kwh: unknown key``."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            section = error["loc"][0]
            fields = sorted(DeployFile.model_fields[str(section)].annotation.model_fields)  # type: ignore[union-attr]
            message = f"{where}: unknown key; {section} takes {fields}"
        elif not message.startswith(where.split(".")[0] + "."):
            message = f"{where}: {message}"
        lines.append(f"{source}: {message}")
    return "\n".join(lines)

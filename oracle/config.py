"""Gateway configuration: a TOML file plus ENERGO_ORACLE_* environment variables.

Every field is documented in docs/oracle-config.md. Environment variables override the
file; nested fields use a double underscore (ENERGO_ORACLE_CHAIN__RPC_URL). Secrets are
never configuration: keystores name a passphrase *file* or *environment variable*.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from eth_utils import is_address, to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from energo.constants import QTUM_MIN_GAS_PRICE_WEI
from oracle.errors import ConfigError

DEFAULT_PASSPHRASE_ENV = "ENERGO_ORACLE_KEY_PASSPHRASE"


class _Section(BaseModel):
    # A misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _checksum(value: str) -> str:
    if not is_address(value):
        raise ValueError(f"{value!r} is not a 20-byte hex address")
    return to_checksum_address(value)


Address = Annotated[str, AfterValidator(_checksum)]


class KeyRef(_Section):
    """An encrypted keystore and where its passphrase comes from."""

    keystore: Path
    passphrase_file: Path | None = None
    passphrase_env: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KeyRef:
        if self.passphrase_file and self.passphrase_env:
            raise ValueError("give passphrase_file or passphrase_env, not both")
        return self


class ChainSettings(_Section):
    transport: Literal["evm", "qtum"] = "evm"
    #: For transport = "qtum": the network whose address and WIF versions the sender uses.
    qtum_network: Literal["mainnet", "testnet", "regtest"] = "regtest"
    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int = Field(gt=0)
    ledger_address: Address
    confirmations: int = Field(default=10, ge=1, le=1000)
    gas_price_wei: int = Field(default=QTUM_MIN_GAS_PRICE_WEI, gt=0)
    gas_margin: float = Field(default=1.25, ge=1.0, le=3.0)
    rpc_timeout_s: float = Field(default=10.0, gt=0)
    poll_interval_s: float = Field(default=2.0, gt=0)
    resend_after_s: float = Field(default=120.0, ge=0)
    #: The gateway refuses to sign while its clock is this far behind the chain head's
    #: timestamp, or this far from a meter's own clock (when its adapter reports one).
    max_clock_skew_s: float = Field(default=300.0, gt=0)



class BatchSettings(_Section):
    max_readings: int = Field(default=50, ge=1, le=2000)
    max_delay_s: float = Field(default=30.0, ge=0)
    max_in_flight: int = Field(default=1, ge=1, le=64)
    drain_timeout_s: float = Field(default=30.0, ge=0)


class OutboxSettings(_Section):
    path: Path = Path("/var/lib/energo/outbox.sqlite")
    keep_confirmed_days: float = Field(default=30.0, gt=0)
    #: New readings are committed together at most this long after the first (SD-card
    #: wear); None: the shorter of 20 s and the shortest meter interval. 0: each at once.
    commit_interval_s: float | None = Field(default=None, ge=0, le=300)


class FailureSettings(_Section):
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    max_consecutive: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> FailureSettings:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be at least backoff_initial_s")
        return self


class MetricsSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9102, ge=0, le=65535)


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


# ---------------------------------------------------------------------------- meter sources


class DsmrSource(_Section):
    """A DSMR P1 port: a serial device or a TCP socket (e.g. ser2net)."""

    type: Literal["dsmr"]
    url: str | None = None  # tcp://host:port
    serial_port: str | None = None
    baudrate: int = 115200
    #: A telegram layout of dsmr_parser, by its name in lower case (oracle.meters.dsmr.SPECIFICATIONS).
    dsmr_version: Literal["v2_2", "v3", "v4", "v5", "belgium_fluvius", "luxembourg_smarty", "msn", "sweden", "q3d",
                          "sagemcom_t210_d_r", "austria_energienetze_steiermark", "iskra_ie", "eon_hungary"] = "v5"
    timeout_s: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _one_link(self) -> DsmrSource:
        if (self.url is None) == (self.serial_port is None):
            raise ValueError("give exactly one of url (tcp://host:port) or serial_port")
        if self.url is not None and not self.url.startswith("tcp://"):
            raise ValueError(f"url must look like tcp://host:port, got {self.url!r}")
        return self


class SunSpecSource(_Section):
    """A Modbus TCP or RTU device with SunSpec models."""

    type: Literal["sunspec"]
    profile: Literal["pv_inverter", "meter", "battery"]
    host: str | None = None
    port: int = 502
    serial_port: str | None = None
    baudrate: int = 9600
    unit_id: int = Field(default=1, ge=0, le=247)
    base_address: int = 40000
    timeout_s: float = Field(default=3.0, gt=0)
    #: Battery capacity when the device reports SoC only in percent (model 124 without 802).
    capacity_wh: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_link(self) -> SunSpecSource:
        if (self.host is None) == (self.serial_port is None):
            raise ValueError("give exactly one of host (Modbus TCP) or serial_port (Modbus RTU)")
        return self


class DlmsSource(_Section):
    """A DLMS/COSEM meter: TCP (IP wrapper, port 4059) or a serial HDLC line (optical probe, RS-485)."""

    type: Literal["dlms"]
    host: str | None = None
    port: int = 4059
    serial_port: str | None = None
    baudrate: int = 9600
    client_logical_address: int = 16  # the public client
    server_logical_address: int = 1  # the management logical device
    server_physical_address: int = 17  # HDLC only
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_link(self) -> DlmsSource:
        if (self.host is None) == (self.serial_port is None):
            raise ValueError("give exactly one of host (TCP) or serial_port (HDLC)")
        return self


class SimulatedHouseholdSource(_Section):
    """Registers count from `origin_timestamp` (default: the gateway's first start, kept
    in the outbox), so they continue across restarts like a real meter's."""

    type: Literal["simulated_household"]
    seed: int = 0
    origin_timestamp: int | None = None
    pv_peak_w: int = Field(default=4000, ge=0)
    daily_load_wh: int = Field(default=9000, ge=0)
    start_import_wh: int = Field(default=0, ge=0)
    start_export_wh: int = Field(default=0, ge=0)


class SimulatedBatterySource(_Section):
    """A battery whose charge follows the simulated households of the community."""

    type: Literal["simulated_battery"]
    capacity_wh: int = Field(default=500_000, gt=0)
    charge_efficiency_bps: int = Field(default=9500, gt=0, le=10000)
    initial_soc_wh: int = Field(default=0, ge=0)
    origin_timestamp: int | None = None
    households: list[SimulatedHouseholdSource] = Field(default_factory=list)


MeterSource = Annotated[
    DsmrSource | SunSpecSource | DlmsSource | SimulatedHouseholdSource | SimulatedBatterySource,
    Field(discriminator="type"),
]


class MeterSettings(_Section):
    id: int = Field(gt=0, le=2**32 - 1)
    kind: Literal["household", "battery"] = "household"
    #: The meter's own signing key. None (the default): the gateway's key (`[sender]`)
    #: signs its readings, and batches of such meters carry one signature for all
    #: (`submitBatch`, a fifth of the gas per reading); register the meter with the
    #: sender's signing address as its signer.
    key: KeyRef | None = None
    interval_s: float = Field(default=10.0, gt=0)
    source: MeterSource


class SimulationSettings(_Section):
    """The clock of simulated meters and of reading timestamps (demo: accelerated days)."""

    start_timestamp: int | None = None  # None: real time
    speed: float = Field(default=1.0, gt=0)


class AuctionClearingSettings(_Section):
    type: Literal["auction_clearing"]
    market_address: Address
    interval_s: float = Field(default=15.0, gt=0)
    max_steps_per_tx: int = Field(default=200, ge=1)
    #: Spreads several gateways' attempts over this many seconds after a round closes.
    stagger_s: float = Field(default=0.0, ge=0)



KeeperTaskSettings = Annotated[AuctionClearingSettings, Field(discriminator="type")]


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ENERGO_ORACLE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )
    # The TOML path is chosen at run time (--config); see load_settings.
    _toml_file: ClassVar[Path | None] = None

    chain: ChainSettings
    sender: KeyRef
    outbox: OutboxSettings = OutboxSettings()
    batch: BatchSettings = BatchSettings()
    failures: FailureSettings = FailureSettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()
    simulation: SimulationSettings = SimulationSettings()
    meters: list[MeterSettings] = Field(default_factory=list)
    keepers: list[KeeperTaskSettings] = Field(default_factory=list)
    # [[meters]] entries that failed validation, by position: (their id if readable, why).
    # load_settings leaves them out of `meters` so one bad entry parks only that meter.
    _invalid_meters: dict[int, tuple[int | None, str]] = PrivateAttr(default_factory=dict)

    @property
    def invalid_meters(self) -> dict[int, tuple[int | None, str]]:
        return self._invalid_meters

    @model_validator(mode="after")
    def _unique_meters(self) -> GatewaySettings:
        ids = [m.id for m in self.meters]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"meter ids must be unique, repeated: {duplicates}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)


def _describe(error: ErrorDetails) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field (misspelt? secrets such as passphrases never go in the config)"
    given = error.get("input")
    shown = "" if error["type"] in ("missing", "extra_forbidden") or isinstance(given, dict) else f" (got {given!r})"
    return f"{field}: {message}{shown}"


def _bad_meter_entries(errors: list[ErrorDetails]) -> dict[int, list[str]] | None:
    """Errors by [[meters]] entry, if every error lies inside one entry; else None."""
    found: dict[int, list[str]] = {}
    for error in errors:
        loc = error["loc"]
        if len(loc) < 2 or loc[0] != "meters" or not isinstance(loc[1], int):
            return None
        found.setdefault(loc[1], []).append(_describe({**error, "loc": loc[2:]}))
    return found


def _raw_meters(toml_file: Path | None, overrides: dict[str, Any]) -> list[Any] | None:
    """The [[meters]] entries as given, from the source that wins (arguments, environment, file)."""
    if "meters" in overrides:
        return list(overrides["meters"])
    for name, value in os.environ.items():
        if name.upper() == "ENERGO_ORACLE_METERS":
            try:
                loaded = json.loads(value)
            except ValueError:
                return None
            return loaded if isinstance(loaded, list) else None
    if toml_file is None:
        return None
    try:
        meters = tomllib.loads(toml_file.read_text()).get("meters")
    except (OSError, ValueError):
        return None
    return meters if isinstance(meters, list) else None


def load_settings(path: Path | str | None = None, **overrides: Any) -> GatewaySettings:
    """Reads and validates the configuration; raises ConfigError naming each bad field.

    A [[meters]] entry that is invalid on its own is left out, and named in
    ``settings.invalid_meters``: the daemon parks that meter alone and runs the others."""
    toml_file = None if path is None else Path(path)
    if toml_file is not None and not toml_file.is_file():
        raise ConfigError(f"config file {toml_file} does not exist")

    class _FromFile(GatewaySettings):
        _toml_file: ClassVar[Path | None] = toml_file

    where = f" in {toml_file}" if toml_file else ""
    invalid: dict[int, tuple[int | None, str]] = {}
    try:
        try:
            settings = _FromFile(**overrides)
        except ValidationError as exc:
            bad = _bad_meter_entries(exc.errors())
            entries = None if bad is None else _raw_meters(toml_file, overrides)
            if bad is None or entries is None or max(bad) >= len(entries):
                raise
            for index, problems in sorted(bad.items()):
                entry = entries[index]
                given = entry.get("id") if isinstance(entry, dict) else None
                meter_id = given if isinstance(given, int) and not isinstance(given, bool) and given > 0 else None
                invalid[index] = (meter_id, f"meters[{index}] is invalid{where}: " + "; ".join(problems))
            settings = _FromFile(**{**overrides, "meters": [e for i, e in enumerate(entries) if i not in bad]})
    except ValidationError as exc:
        lines = "\n  ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid configuration{where}:\n  {lines}") from None
    except ValueError as exc:  # TOML syntax errors
        raise ConfigError(f"cannot read configuration {toml_file}: {exc}") from None
    settings._invalid_meters = invalid
    return settings

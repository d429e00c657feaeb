"""Modbus (TCP or RTU) devices that speak SunSpec: PV inverters, AC meters, batteries.

The device's register map is discovered, not configured: "SunS" at the base address
(40000), then model blocks (id, length, body) until the end marker 0xFFFF. Point offsets,
types and scale factors come from pysunspec2's model definitions, so no register address
is hard-coded here. pymodbus does the Modbus transport.

Profiles (the first model of each list that the device has is used):
- pv_inverter: export register = inverter model 101/102/103 (integer with scale factor)
               or 111/112/113 (float, Fronius's default) point WH (energy produced), else
               DER model 701 TotWhInj (energy injected).
- meter:       import = TotWhImp, export = TotWhExp of AC meter model 201-204 or float
               model 211-214, else DER model 701 TotWhAbs / TotWhInj.
- battery:     import (charged) / export (discharged) as for `meter`, and the state of
               charge from battery model 802 (SoC % x WHRtg), DER storage capacity model
               713 (SoC % x WHRtg) or storage model 124 (ChaState % x the configured capacity).
"""

from __future__ import annotations

import json
import math
import socket
import struct
from decimal import ROUND_FLOOR, Decimal
from functools import cache
from pathlib import Path

import sunspec2
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

from oracle.meters.base import MeterReadError, Registers
from oracle.meters.links import Backoff, set_keepalive

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL = 0xFFFF
MAX_REGISTERS_PER_READ = 125  # Modbus limit for function 0x03
INVERTER_MODELS = (101, 102, 103, 111, 112, 113)
METER_MODELS = (201, 202, 203, 204, 211, 212, 213, 214)
DER_MODEL = 701  # IEEE 1547 DER AC measurement: TotWhInj (export), TotWhAbs (import)
_MODEL_DIR = Path(sunspec2.__file__).parent / "models" / "json"

# SunSpec's "not implemented" values per type.
_NOT_IMPLEMENTED = {
    "uint16": 0xFFFF,
    "enum16": 0xFFFF,
    "int16": -0x8000,
    "sunssf": -0x8000,
    "uint32": 0xFFFFFFFF,
    "uint64": 0xFFFFFFFFFFFFFFFF,
    "int64": -0x8000000000000000,
    # acc32/acc64's "not implemented" is 0 too, but a new meter's register is legitimately 0;
    # float32's is NaN (checked apart: NaN equals nothing).
}
_SIZE = {"uint16": 1, "int16": 1, "sunssf": 1, "enum16": 1, "bitfield16": 1, "pad": 1, "count": 1,
         "uint32": 2, "int32": 2, "acc32": 2, "enum32": 2, "bitfield32": 2, "float32": 2,
         "uint64": 4, "int64": 4, "acc64": 4}


@cache
def point_layout(model_id: int) -> dict[str, tuple[int, str, str | None]]:
    """name -> (offset from the model's ID register, type, scale-factor point) for
    the model's fixed (non-repeating) points, from the SunSpec definition."""
    try:
        definition = json.loads((_MODEL_DIR / f"model_{model_id}.json").read_text())
    except FileNotFoundError:
        raise MeterReadError("unknown_model", f"no SunSpec definition for model {model_id}") from None
    layout = {}
    offset = 0
    for point in definition["group"]["points"]:
        kind = point["type"]
        layout[point["name"]] = (offset, kind, point.get("sf"))
        offset += int(point.get("size") or _SIZE[kind])
    return layout


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


class SunSpecDevice:
    """Reads named SunSpec points from one Modbus device."""

    def __init__(self, client, unit_id: int = 1, base_address: int = 40000, backoff: Backoff | None = None):
        self._client = client
        self._unit_id = unit_id
        self._base = base_address
        self.models: dict[int, tuple[int, int]] | None = None  # model id -> (address, length)
        #: Spaces reconnections after failures; each request's deadline is the client's timeout.
        self.backoff = backoff or Backoff()

    def _connect(self) -> None:
        self.backoff.check(f"Modbus device at {self._describe()}")
        if not self._client.connect():
            delay = self.backoff.failed()
            raise MeterReadError("unreachable", f"Modbus device at {self._describe()} does not answer; "
                                                f"next attempt in {delay:.1f}s")
        sock = getattr(self._client, "socket", None)
        if isinstance(sock, socket.socket):  # Modbus TCP: find a half-open connection
            set_keepalive(sock)

    def _read(self, address: int, count: int) -> list[int]:
        registers: list[int] = []
        try:
            if not self._client.connected:
                self._connect()
            while count > 0:
                chunk = min(count, MAX_REGISTERS_PER_READ)
                response = self._client.read_holding_registers(address, count=chunk, device_id=self._unit_id)
                if response.isError():
                    raise MeterReadError("modbus_error", f"{self._describe()} register {address}: {response}")
                registers.extend(response.registers)
                address += chunk
                count -= chunk
        except ModbusException as exc:  # no answer within the timeout (half-open), reset, garbage
            self._client.close()
            delay = self.backoff.failed()
            raise MeterReadError("no_answer", f"{self._describe()}: {exc}; reconnecting "
                                              f"{'now' if not delay else f'in {delay:.1f}s'}") from None
        self.backoff.succeeded()
        return registers

    def _describe(self) -> str:
        params = getattr(self._client, "comm_params", None)
        host = getattr(params, "host", None)
        return f"{host}:{getattr(params, 'port', '')} unit {self._unit_id}" if host else f"unit {self._unit_id}"

    def scan(self) -> dict[int, tuple[int, int]]:
        if tuple(self._read(self._base, 2)) != SUNS_MARKER:
            raise MeterReadError("not_sunspec", f"no 'SunS' marker at {self._base} on {self._describe()}")
        models: dict[int, tuple[int, int]] = {}
        address = self._base + 2
        for _ in range(64):  # a real device has a handful of models; bound the walk
            model_id, length = self._read(address, 2)
            if model_id == END_MODEL:
                self.models = models
                return models
            models.setdefault(model_id, (address, length))
            address += 2 + length
            if address > 0xFFFF:
                break
        raise MeterReadError("bad_model_chain", f"no end model (0xFFFF) after {self._base} on {self._describe()}")

    def points(self, model_id: int, names: list[str]) -> dict[str, Decimal]:
        """Scaled values of `names` in `model_id`, read in one block."""
        if self.models is None:
            self.scan()
        assert self.models is not None
        if model_id not in self.models:
            raise MeterReadError("model_missing", f"device has no model {model_id} (has {sorted(self.models)})")
        address, length = self.models[model_id]
        layout = point_layout(model_id)
        block = self._read(address, 2 + length)
        values = {}
        for name in names:
            offset, kind, scale_point = layout[name]
            raw = self._raw(block, offset, kind)
            if raw == _NOT_IMPLEMENTED.get(kind) or (isinstance(raw, float) and not math.isfinite(raw)):
                raise MeterReadError("not_implemented", f"model {model_id} point {name} is not implemented")
            if isinstance(raw, float):  # float models carry no scale factor
                values[name] = Decimal(raw)
                continue
            scale = 0
            if scale_point is not None:
                scale_offset, scale_kind, _ = layout[scale_point]
                scale = int(self._raw(block, scale_offset, scale_kind))
                if scale == _NOT_IMPLEMENTED["sunssf"] or not -10 <= scale <= 10:
                    raise MeterReadError("bad_scale_factor", f"model {model_id} {scale_point}={scale}")
            values[name] = Decimal(raw).scaleb(scale)
        return values

    @staticmethod
    def _raw(block: list[int], offset: int, kind: str) -> int | float:
        size = _SIZE.get(kind, 1)
        if offset + size > len(block):
            raise MeterReadError("short_model", f"model block of {len(block)} registers lacks offset {offset}")
        value = 0
        for register in block[offset:offset + size]:  # big-endian words, as SunSpec sends them
            value = (value << 16) | register
        if kind == "float32":
            return float(struct.unpack(">f", value.to_bytes(4, "big"))[0])
        if kind in ("int16", "sunssf", "int32", "int64"):
            return _signed(value, 16 * size)
        return value

    def close(self) -> None:
        self._client.close()


def _whole_wh(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


class SunSpecMeter:
    def __init__(self, device: SunSpecDevice, profile: str, capacity_wh: int | None = None):
        if profile not in ("pv_inverter", "meter", "battery"):
            raise ValueError(f"unknown SunSpec profile {profile!r}")
        self.device = device
        self.profile = profile
        self.capacity_wh = capacity_wh

    def _first_model(self, candidates: tuple[int, ...]) -> int:
        models = self.device.models if self.device.models is not None else self.device.scan()
        for model_id in candidates:
            if model_id in models:
                return model_id
        raise MeterReadError("model_missing", f"device has none of models {candidates} (has {sorted(models)})")

    def _ac_meter(self) -> tuple[int, int]:
        model = self._first_model((*METER_MODELS, DER_MODEL))
        if model == DER_MODEL:
            values = self.device.points(DER_MODEL, ["TotWhAbs", "TotWhInj"])
            return _whole_wh(values["TotWhAbs"]), _whole_wh(values["TotWhInj"])
        values = self.device.points(model, ["TotWhImp", "TotWhExp"])
        return _whole_wh(values["TotWhImp"]), _whole_wh(values["TotWhExp"])

    def _state_of_charge(self) -> int:
        models = self.device.models or self.device.scan()
        for model_id in (802, 713):  # battery base model, DER storage capacity
            if model_id in models:
                values = self.device.points(model_id, ["SoC", "WHRtg"])
                return _whole_wh(values["SoC"] * values["WHRtg"] / 100)
        if 124 in models:
            if self.capacity_wh is None:
                raise MeterReadError("no_capacity", "model 124 reports SoC in percent: configure capacity_wh")
            percent = self.device.points(124, ["ChaState"])["ChaState"]
            return _whole_wh(percent * self.capacity_wh / 100)
        raise MeterReadError("model_missing", f"no battery model 802, 713 or 124 (has {sorted(models)})")

    def read(self) -> Registers:
        try:
            if self.profile == "pv_inverter":
                model = self._first_model((*INVERTER_MODELS, DER_MODEL))
                point = "TotWhInj" if model == DER_MODEL else "WH"
                return Registers(0, _whole_wh(self.device.points(model, [point])[point]))
            imported, exported = self._ac_meter()
            if self.profile == "meter":
                return Registers(imported, exported)
            return Registers(imported, exported, self._state_of_charge())
        except MeterReadError as exc:
            # The map may have changed (firmware update, other device on the address).
            if exc.reason in ("model_missing", "not_sunspec", "short_model"):
                self.device.models = None
            raise

    def close(self) -> None:
        self.device.close()


def tcp_client(host: str, port: int, timeout_s: float) -> ModbusTcpClient:
    # No pymodbus retries: the daemon's poll interval is the retry.
    return ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)


def rtu_client(serial_port: str, baudrate: int, timeout_s: float) -> ModbusSerialClient:
    return ModbusSerialClient(serial_port, baudrate=baudrate, timeout=timeout_s, retries=0)

"""Modbus/SunSpec adapter against a real pymodbus TCP server on 127.0.0.1.

The register images are written here by hand from the SunSpec model tables (offsets
counted from each model's ID register), independently of the definitions the adapter
reads, so a wrong offset in either shows up.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path

import pytest
import sunspec2
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from sunspec2 import device as sunspec_device

from oracle.meters.base import MeterReadError, Registers
from oracle.meters.sunspec import SunSpecDevice, SunSpecMeter, tcp_client

BASE = 40000


def _u32(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


def _sf(exponent: int) -> int:
    return exponent & 0xFFFF


def common_model() -> list[int]:
    body = [0] * 66
    for offset, text in ((0, "Energo"), (16, "TestDevice")):
        padded = text.encode().ljust(32, b"\0")
        body[offset:offset + 16] = [int.from_bytes(padded[i:i + 2], "big") for i in range(0, 32, 2)]
    return [1, 66, *body]


def inverter_101(wh: int, wh_sf: int = 0) -> list[int]:
    model = [0] * 52
    model[0:2] = [101, 50]
    model[24:26] = _u32(wh)  # WH, acc32
    model[26] = _sf(wh_sf)  # WH_SF
    return model


def meter_203(import_wh: int, export_wh: int, sf: int = 0) -> list[int]:
    model = [0] * 107
    model[0:2] = [203, 105]
    model[38:40] = _u32(export_wh)  # TotWhExp
    model[46:48] = _u32(import_wh)  # TotWhImp
    model[54] = _sf(sf)  # TotWh_SF
    return model


def battery_802(soc_percent_scaled: int, soc_sf: int, wh_rating: int, wh_rating_sf: int) -> list[int]:
    model = [0] * 64
    model[0:2] = [802, 62]
    model[3] = wh_rating  # WHRtg
    model[11] = soc_percent_scaled  # SoC
    model[53] = _sf(wh_rating_sf)  # WHRtg_SF
    model[56] = _sf(soc_sf)  # SoC_SF
    return model


def storage_124(charge_percent_scaled: int, sf: int) -> list[int]:
    model = [0] * 26
    model[0:2] = [124, 24]
    model[8] = charge_percent_scaled  # ChaState
    model[22] = _sf(sf)  # ChaState_SF
    return model


def image(*models: list[int], marker=(0x5375, 0x6E53)) -> list[int]:
    registers = [*marker]
    for model in models:
        registers += model
    return registers + [0xFFFF, 0]


class SunSpecServer:
    def __init__(self, registers: list[int], unit_id: int = 1):
        device = SimDevice(id=unit_id, simdata=[SimData(address=BASE, values=registers,
                                                        datatype=DataType.REGISTERS)])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._server = None
        started = threading.Event()

        def serve():
            asyncio.set_event_loop(self._loop)

            async def main():
                self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
                await self._server.serve_forever(background=True)
                started.set()

            self._loop.run_until_complete(main())
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert started.wait(10), "Modbus server did not start"

    def close(self):
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def serve():
    servers = []

    def start(registers, unit_id=1):
        server = SunSpecServer(registers, unit_id)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _meter(server, profile, capacity_wh=None, unit_id=1):
    device = SunSpecDevice(tcp_client("127.0.0.1", server.port, 2.0), unit_id, BASE)
    return SunSpecMeter(device, profile, capacity_wh)


def test_model_chain_is_discovered(serve):
    server = serve(image(common_model(), inverter_101(12_345), meter_203(1, 2)))
    device = SunSpecDevice(tcp_client("127.0.0.1", server.port, 2.0), 1, BASE)
    models = device.scan()
    assert models == {1: (BASE + 2, 66), 101: (BASE + 70, 50), 203: (BASE + 122, 105)}
    device.close()


def test_pv_inverter_energy_is_the_export_register_with_its_scale_factor(serve):
    server = serve(image(common_model(), inverter_101(123_456, wh_sf=1)))
    meter = _meter(server, "pv_inverter")
    assert meter.read() == Registers(0, 1_234_560)
    meter.close()


def test_ac_meter_gives_import_and_export(serve):
    server = serve(image(common_model(), meter_203(import_wh=987_654, export_wh=4_321, sf=0)))
    meter = _meter(server, "meter")
    assert meter.read() == Registers(987_654, 4_321)
    meter.close()


def test_battery_soc_from_model_802(serve):
    # SoC 57.3 % (573, SF -1) of 200 kWh (20000, SF 1) = 114,600 Wh
    server = serve(image(common_model(), meter_203(50_000, 30_000), battery_802(573, -1, 20_000, 1)))
    meter = _meter(server, "battery")
    assert meter.read() == Registers(50_000, 30_000, 114_600)
    meter.close()


def test_battery_soc_from_model_124_needs_the_capacity(serve):
    server = serve(image(common_model(), meter_203(10, 20), storage_124(4_250, -2)))
    assert _meter(server, "battery", capacity_wh=100_000).read() == Registers(10, 20, 42_500)
    with pytest.raises(MeterReadError) as error:
        _meter(server, "battery").read()
    assert error.value.reason == "no_capacity"


def test_device_without_the_needed_model_is_a_read_error(serve):
    server = serve(image(common_model(), inverter_101(5)))
    with pytest.raises(MeterReadError) as error:
        _meter(server, "meter").read()
    assert error.value.reason == "model_missing"


def test_device_without_sunspec_marker_is_refused(serve):
    server = serve(image(common_model(), marker=(0x1234, 0x5678)))
    with pytest.raises(MeterReadError) as error:
        _meter(server, "meter").read()
    assert error.value.reason == "not_sunspec"


def test_not_implemented_scale_factor_is_refused(serve):
    model = meter_203(10, 20)
    model[54] = 0x8000
    server = serve(image(common_model(), model))
    with pytest.raises(MeterReadError) as error:
        _meter(server, "meter").read()
    assert error.value.reason == "bad_scale_factor"


def test_device_that_does_not_answer_is_a_read_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    device = SunSpecDevice(tcp_client("127.0.0.1", port, 0.5), 1, BASE)
    with pytest.raises(MeterReadError) as error:
        SunSpecMeter(device, "meter").read()
    assert error.value.reason in ("unreachable", "no_answer")


def test_wrong_unit_id_gets_no_registers(serve):
    server = serve(image(common_model(), meter_203(1, 2)), unit_id=1)
    with pytest.raises(MeterReadError):
        _meter(server, "meter", unit_id=7).read()


# ---------------------------------------------------------------------------- images encoded by pysunspec2
# Every model the adapter claims, encoded by pysunspec2 from its own model definitions
# (points not set read "not implemented", as on a real device), and pysunspec2's own
# example device (tests/test_data/device_1547.json: IEEE 1547 DER models 701-713).

PYSUNSPEC2_DATA = Path(sunspec2.__file__).parent / "tests" / "test_data"


def encoded(model_id: int, data: dict | None = None, **values) -> list[int]:
    model = sunspec_device.Model(model_id=model_id, data=data)
    for name, value in values.items():
        model.points[name].set_value(value)
    raw = model.get_mb()
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def example_device(name: str) -> list[int]:
    document = json.loads((PYSUNSPEC2_DATA / name).read_text())
    return image(*(encoded(m["ID"], data=m) for m in document["models"] if m["ID"] != 0xFFFF))


CLAIMED = [
    *[("pv_inverter", [encoded(mid, WH=123_456, WH_SF=1)], None, Registers(0, 1_234_560)) for mid in (101, 102, 103)],
    *[("pv_inverter", [encoded(mid, WH=98_765.75)], None, Registers(0, 98_765)) for mid in (111, 112, 113)],
    ("pv_inverter", [encoded(701, TotWhInj=150, TotWh_SF=3)], None, Registers(0, 150_000)),
    *[("meter", [encoded(mid, TotWhImp=987_654, TotWhExp=4_321, TotWh_SF=0)], None, Registers(987_654, 4_321))
      for mid in (201, 202, 203, 204)],
    *[("meter", [encoded(mid, TotWhImp=5_555.9, TotWhExp=12.5)], None, Registers(5_555, 12))
      for mid in (211, 212, 213, 214)],
    ("meter", [encoded(701, TotWhAbs=7, TotWhInj=9, TotWh_SF=2)], None, Registers(700, 900)),
    ("battery", [encoded(213, TotWhImp=50_000.0, TotWhExp=30_000.0),
                 encoded(802, SoC=573, SoC_SF=-1, WHRtg=20_000, WHRtg_SF=1)], None, Registers(50_000, 30_000, 114_600)),
    ("battery", [encoded(701, TotWhAbs=40, TotWhInj=20, TotWh_SF=3),
                 encoded(713, SoC=50, Pct_SF=0, WHRtg=1_000, WH_SF=1)], None, Registers(40_000, 20_000, 5_000)),
    ("battery", [encoded(203, TotWhImp=10, TotWhExp=20, TotWh_SF=0),
                 encoded(124, ChaState=4_250, ChaState_SF=-2)], 100_000, Registers(10, 20, 42_500)),
]


@pytest.mark.parametrize(("profile", "models", "capacity_wh", "expected"), CLAIMED,
                         ids=[f"{c[0]}-{'+'.join(str(m[0]) for m in c[1])}" for c in CLAIMED])
def test_every_claimed_model_as_pysunspec2_encodes_it(serve, profile, models, capacity_wh, expected):
    server = serve(image(encoded(1), *models))
    meter = _meter(server, profile, capacity_wh)
    assert meter.read() == expected
    meter.close()


def test_pysunspec2_example_der_device_gives_its_energy(serve):
    # device_1547.json: 701 TotWhInj 150 with TotWh_SF 3, TotWhAbs 0
    server = serve(example_device("device_1547.json"))
    assert _meter(server, "pv_inverter").read() == Registers(0, 150_000)
    assert _meter(server, "meter").read() == Registers(0, 150_000)


def test_pysunspec2_example_device_without_an_energy_model_is_model_missing(serve):
    server = serve(example_device("inverter_123.json"))  # common model and 129 only
    with pytest.raises(MeterReadError) as error:
        _meter(server, "pv_inverter").read()
    assert error.value.reason == "model_missing"


def test_float_point_not_implemented_is_refused(serve):
    server = serve(image(encoded(1), encoded(113)))  # WH left NaN
    with pytest.raises(MeterReadError) as error:
        _meter(server, "pv_inverter").read()
    assert error.value.reason == "not_implemented"

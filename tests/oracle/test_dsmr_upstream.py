"""Meter coverage of the DSMR adapter: dsmr_parser's own test telegrams served over TCP
as a P1-to-Ethernet adapter would, every layout the installed dsmr_parser specifies,
more than two tariffs, Wh and any precision, lenient CRC case and line ends, and a log
line for every telegram refused."""

from __future__ import annotations

import json
import threading
import typing
from pathlib import Path

import pytest
from dsmr_parser import telegram_specifications
from dsmr_telegrams import P1Server, telegram, with_crc

from oracle.config import DsmrSource
from oracle.meters.base import MeterReadError, Registers
from oracle.meters.dsmr import SPECIFICATIONS, DsmrMeter, TcpLink

UPSTREAM = json.loads((Path(__file__).parent / "data" / "dsmr_parser_telegrams.json").read_text())
ELECTRICITY = [t for t in UPSTREAM["telegrams"] if t["electricity"]]


class Log:
    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def warning(self, event, **fields):
        self.events.append((event, fields))

    def named(self, event: str) -> list[dict]:
        return [fields for name, fields in self.events if name == event]


@pytest.fixture
def p1():
    server = P1Server()
    yield server
    server.close()


def _read(p1, payload: bytes, version: str, log=None, timeout_s: float = 2.0) -> Registers:
    meter = DsmrMeter(TcpLink("127.0.0.1", p1.port), version, timeout_s=timeout_s, log=log)
    threading.Timer(0.02, p1.send, [payload]).start()
    try:
        return meter.read()
    finally:
        meter.close()


@pytest.mark.parametrize("upstream", ELECTRICITY, ids=[t["name"] for t in ELECTRICITY])
def test_upstream_telegram_over_tcp_gives_its_registers(p1, upstream):
    log = Log()
    registers = _read(p1, upstream["telegram"].encode("latin-1"), upstream["dsmr_version"], log)
    assert registers == Registers(upstream["import_wh"], upstream["export_wh"])
    assert log.events == []  # no rejection, and the 1.8.0/2.8.0 totals agree where sent


def test_upstream_heat_meter_telegram_is_refused_with_a_log_line(p1):
    (heat,) = [t for t in UPSTREAM["telegrams"] if not t["electricity"]]
    log = Log()
    with pytest.raises(MeterReadError) as error:
        _read(p1, heat["telegram"].encode("latin-1"), heat["dsmr_version"], log, timeout_s=0.5)
    assert error.value.reason == "no_valid_telegram"
    assert [e["reason"] for e in log.named("meter.telegram_rejected")] == ["missing_register"]


def test_every_layout_dsmr_parser_specifies_is_configurable_and_read():
    specified = {name.lower() for name, value in vars(telegram_specifications).items()
                 if name.isupper() and isinstance(value, dict) and "objects" in value}
    configurable = set(typing.get_args(DsmrSource.model_fields["dsmr_version"].annotation))
    assert specified == set(SPECIFICATIONS) == configurable
    v5 = next(t for t in ELECTRICITY if t["name"] == "TELEGRAM_V5")["telegram"]
    for version in sorted(specified):  # a DSMR 5 telegram (with its CRC) reads under every layout
        meter = DsmrMeter(_Buffered(v5.encode()), version, timeout_s=0.1)
        assert meter.read() == Registers(6825, 2444), version


class _Buffered:
    """Bytes already received (the link itself is tested over TCP above)."""

    def __init__(self, data: bytes):
        self._data = data

    def receive(self, timeout: float) -> bytes:
        data, self._data = self._data, b""
        return data

    def reset(self, reason: str) -> None:
        pass

    def close(self) -> None:
        pass


def _lines(*registers: str, header: str = "/ISK5\\2M550E-1012", line_end: str = "\r\n") -> str:
    return line_end.join([header, "", "1-3:0.2.8(50)", "0-0:1.0.0(231126143005W)", *registers, "!"])


def test_all_tariffs_are_summed_and_checked_against_the_total(p1):
    four = ["1-0:1.8.0(000040.000*kWh)", "1-0:1.8.1(000010.000*kWh)", "1-0:1.8.2(000010.000*kWh)",
            "1-0:1.8.3(000010.000*kWh)", "1-0:1.8.4(000010.000*kWh)",
            "1-0:2.8.1(000001.000*kWh)", "1-0:2.8.2(000000.500*kWh)", "1-0:2.8.3(000000.250*kWh)"]
    log = Log()
    assert _read(p1, with_crc(_lines(*four)), "v5", log) == Registers(40_000, 1_750)
    assert log.events == []


def test_a_total_rounded_coarser_than_its_tariffs_is_no_mismatch(p1):
    registers = ["1-0:1.8.0(000040.00*kWh)", *[f"1-0:1.8.{t}(000010.001*kWh)" for t in (1, 2, 3, 4)]]
    log = Log()
    assert _read(p1, with_crc(_lines(*registers)), "v5", log) == Registers(40_004, 0)
    assert log.events == []


def test_a_total_that_disagrees_with_the_tariffs_is_logged(p1):
    # 1.8.0 says 50 kWh, the tariffs add up to 40: a tariff register we were not sent
    registers = ["1-0:1.8.0(000050.000*kWh)", "1-0:1.8.1(000020.000*kWh)", "1-0:1.8.2(000020.000*kWh)",
                 "1-0:2.8.1(000000.000*kWh)"]
    log = Log()
    assert _read(p1, with_crc(_lines(*registers)), "eon_hungary", log) == Registers(40_000, 0)
    (mismatch,) = log.named("meter.register_mismatch")
    assert mismatch["register"] == "1.8.0" and mismatch["total_wh"] == 50_000 and mismatch["tariff_sum_wh"] == 40_000


def test_totals_only_wh_registers_and_any_precision_are_floored_to_whole_wh(p1):
    registers = ["1-0:1.8.0(00012345.6789999*kWh)", "1-0:2.8.0(000000777.9*Wh)"]
    assert _read(p1, with_crc(_lines(*registers)), "sweden") == Registers(12_345_678, 777)


def test_lower_case_crc_and_lf_only_line_ends_are_accepted(p1):
    lines = ["1-0:1.8.1(000001.234*kWh)", "1-0:1.8.2(000002.000*kWh)", "1-0:2.8.1(000000.010*kWh)"]
    assert _read(p1, with_crc(_lines(*lines), lower=True), "v5") == Registers(3_234, 10)
    # LF-only with the CRC over what was sent, and over the CR LF original (a converter stripped the CRs)
    lf = _lines(*lines, line_end="\n")
    assert _read(p1, with_crc(lf, line_end="\n"), "v5") == Registers(3_234, 10)
    crlf_crc = with_crc(_lines(*lines)).decode()[-6:-2]
    assert _read(p1, (lf + crlf_crc + "\n").encode(), "v5") == Registers(3_234, 10)


def test_eon_telegram_reads_under_the_fluvius_layout(p1):
    eon = next(t for t in ELECTRICITY if t["name"] == "TELEGRAM_V5_EON_HU")
    assert _read(p1, eon["telegram"].encode(), "belgium_fluvius") == Registers(173_640, 627_177)


def test_every_refused_telegram_has_a_log_line(p1):
    good = telegram(1000, 0, 0, 0)
    no_crc = _lines("1-0:1.8.1(000009.000*kWh)").encode() + b"\r\n"  # DSMR 5 requires one
    bad_crc = with_crc(_lines("1-0:1.8.1(000009.000*kWh)"))[:-6] + b"0000\r\n"
    cut_off = good[: len(good) // 2]  # the dongle rebooted mid-telegram
    wrong_unit = with_crc(_lines("1-0:1.8.1(000009.000*MWh)"))
    not_a_number = with_crc(_lines("1-0:1.8.1(NaN*kWh)"))
    log = Log()
    burst = no_crc + bad_crc + cut_off + wrong_unit + not_a_number + telegram(2000, 0, 0, 0)
    assert _read(p1, burst, "v5", log) == Registers(2000, 0)
    reasons = [e["reason"] for e in log.named("meter.telegram_rejected")]
    assert sorted(reasons) == ["bad_crc", "bad_unit", "bad_value", "missing_crc", "truncated"]

"""The per-meter poller: bad input is logged with meter and reason, never signed."""

from __future__ import annotations

import pytest

from energo.readings import ReadingDomain, ReadingSigner, SignedReading
from oracle.ledger import OnChainMeter
from oracle.meters.base import ManualClock, MeterReadError, Registers
from oracle.metrics import Metrics
from oracle.outbox import Outbox
from oracle.reader import MeterPoller

DOMAIN = ReadingDomain(8890, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
KEY = b"\x05" * 32


class ScriptedMeter:
    def __init__(self, *results):
        self.results = list(results)

    def read(self):
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def close(self):
        pass


class RecordingLog:
    def __init__(self):
        self.lines = []

    def bind(self, **fields):
        self.fields = fields
        return self

    def _log(self, level, event, **fields):
        self.lines.append((level, event, {**self.fields, **fields}))

    def info(self, event, **fields):
        self._log("info", event, **fields)

    def warning(self, event, **fields):
        self._log("warning", event, **fields)

    def error(self, event, **fields):
        self._log("error", event, **fields)

    def debug(self, event, **fields):
        self._log("debug", event, **fields)


@pytest.fixture
def setup(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite")
    clock = ManualClock(1_800_000_000)
    log = RecordingLog()

    def poller(meter, kind="household"):
        p = MeterPoller(42, kind, meter, ReadingSigner(KEY, DOMAIN), outbox, clock, Metrics(), log, 1.0)
        p.adopt_chain_state(OnChainMeter(42, "0x" + "11" * 20, "0x" + "22" * 20, 0, True, 9000, 0,
                                         1_799_999_000, 1000, 0))
        return p

    yield poller, outbox, clock, log
    outbox.close()


def test_good_readings_are_signed_in_sequence(setup):
    poller, outbox, clock, _ = setup
    p = poller(ScriptedMeter(Registers(1100, 5), Registers(1200, 9)))
    clock.advance(10)
    first = p.poll_once()
    clock.advance(10)
    second = p.poll_once()
    assert (first.seq, second.seq) == (1, 2)
    stored = outbox.readings_of(42)
    assert [SignedReading.from_record(r.record).recover_signer(DOMAIN) for r in stored] == [
        ReadingSigner(KEY, DOMAIN).address] * 2


def test_register_going_down_is_refused_and_logged(setup):
    poller, outbox, clock, log = setup
    p = poller(ScriptedMeter(Registers(1100, 5), Registers(1090, 5), Registers(1150, 6)))
    for _ in range(3):
        clock.advance(10)
        p.poll_once()
    assert [(r.seq, r.import_wh) for r in outbox.readings_of(42)] == [(1, 1100), (2, 1150)]
    refused = [line for line in log.lines if line[1] == "meter.reading_refused"]
    assert refused[0][2]["reason"] == "register_decreased" and refused[0][2]["meter_id"] == 42


def test_below_the_registered_registers_is_refused(setup):
    poller, outbox, clock, log = setup
    p = poller(ScriptedMeter(Registers(999, 0)))  # registered at 1000 Wh import
    clock.advance(10)
    assert p.poll_once() is None and outbox.readings_of(42) == []


def test_silent_device_and_adapter_bug_do_not_stop_the_poller(setup):
    poller, outbox, clock, log = setup
    p = poller(ScriptedMeter(MeterReadError("no_answer", "timeout"), ZeroDivisionError("bug"), Registers(1001, 0)))
    for _ in range(3):
        clock.advance(10)
        p.poll_once()
    reasons = [line[2]["reason"] for line in log.lines if line[1] == "meter.reading_refused"]
    assert reasons == ["no_answer", "adapter_error"]
    assert [r.seq for r in outbox.readings_of(42)] == [1]


def test_clock_must_move_forward(setup):
    poller, outbox, clock, log = setup
    p = poller(ScriptedMeter(Registers(1001, 0), Registers(1002, 0), Registers(1003, 0)))
    clock.advance(10)
    p.poll_once()
    assert p.poll_once() is None  # same second: nothing new to sign
    clock.advance(-100)
    assert p.poll_once() is None
    assert [line[2]["reason"] for line in log.lines if line[1] == "meter.reading_refused"] == [
        "clock_behind_last_reading"]


def test_household_meters_send_no_state_of_charge(setup):
    poller, outbox, clock, _ = setup
    p = poller(ScriptedMeter(Registers(1001, 0, 777)))
    clock.advance(10)
    assert p.poll_once().state_of_charge_wh == 0


def test_without_a_stored_reading_the_poller_waits_for_the_chain(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite")
    p = MeterPoller(1, "household", ScriptedMeter(Registers(5, 5)), ReadingSigner(KEY, DOMAIN), outbox,
                    ManualClock(1_800_000_000), Metrics(), RecordingLog(), 1.0)
    assert not p.ready and p.poll_once() is None
    p.adopt_chain_state(OnChainMeter(1, "0x" + "11" * 20, "0x" + "22" * 20, 0, True, 9000, 17, 1_700_000_000,
                                     0, 0))
    assert p.poll_once().seq == 18, "continues after what the ledger already has"
    outbox.close()

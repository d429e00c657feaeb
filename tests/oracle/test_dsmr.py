"""DSMR P1 adapter against telegrams served over a real TCP socket."""

from __future__ import annotations

import socket
import threading

import pytest
from dsmr_telegrams import P1Server, corrupted, crc16_arc, telegram
from oracle_helpers import wait_for

from oracle.meters.base import MeterReadError, Registers
from oracle.meters.dsmr import DsmrMeter, TcpLink


@pytest.fixture
def p1():
    server = P1Server()
    yield server
    server.close()


def _meter(p1, timeout_s=2.0, log=None):
    return DsmrMeter(TcpLink("127.0.0.1", p1.port), "v5", timeout_s=timeout_s, log=log)


def test_crc_helper_matches_a_published_dsmr_telegram():
    # The DSMR 5 example of dsmr-parser's test suite is not ours to copy; instead the
    # parser itself must accept our telegrams' CRC, and reject a changed byte.
    from dsmr_parser.parsers import TelegramParser

    good = telegram(1_581_123, 1_435_706, 0, 12)
    TelegramParser.validate_checksum(good.decode())
    assert crc16_arc(b"123456789") == 0xBB3D  # the CRC-16/ARC check value


def test_registers_are_the_sum_of_both_tariffs_in_wh(p1):
    meter = _meter(p1)
    threading.Timer(0.05, p1.send, [telegram(1_581_123, 1_435_706, 2_001, 12_345)]).start()
    assert meter.read() == Registers(1_581_123 + 1_435_706, 2_001 + 12_345)
    meter.close()


def test_newest_valid_telegram_wins_and_corrupted_ones_are_logged(p1):
    events = []

    class Log:
        def warning(self, event, **fields):
            events.append((event, fields))

    meter = _meter(p1, log=Log())
    threading.Timer(0.05, p1.send, [telegram(1000, 0, 0, 0)]).start()
    assert meter.read() == Registers(1000, 0)
    # A burst since the last read: one good, one corrupted in transit, one newer good.
    p1.send(telegram(1100, 0, 0, 0) + corrupted(telegram(1150, 0, 0, 0)) + telegram(1200, 0, 5, 0))
    # Normally one read gets the whole burst; should TCP split it, the next read does.
    assert wait_for(lambda: meter.read() == Registers(1200, 5), 5, "the newest telegram")
    assert [e for e, _ in events] == ["meter.telegram_rejected"]
    assert events[0][1]["reason"] == "bad_crc"
    meter.close()


def test_only_corrupted_telegrams_is_a_read_error_not_a_value(p1):
    meter = _meter(p1, timeout_s=0.5)
    threading.Timer(0.05, p1.send, [corrupted(telegram(5000, 0, 0, 0)) + b"/garbage\r\n!ZZZZ\r\n"]).start()
    with pytest.raises(MeterReadError) as error:
        meter.read()
    assert error.value.reason == "no_valid_telegram"
    assert meter.telegrams_rejected == 1
    meter.close()


def test_telegram_without_export_registers_is_a_consumption_only_meter(p1):
    lines = telegram(5000, 0, 0, 0).decode().split("\r\n")
    body = "\r\n".join(line for line in lines[:-2] if not line.startswith("1-0:2.8.")) + "\r\n!"
    text = (body + f"{crc16_arc(body.encode()):04X}\r\n").encode()
    meter = _meter(p1, timeout_s=2.0)
    threading.Timer(0.05, p1.send, [text]).start()
    assert meter.read() == Registers(5000, 0)
    assert meter.telegrams_rejected == 0
    meter.close()


def test_silent_and_unreachable_ports_are_read_errors(p1):
    meter = _meter(p1, timeout_s=0.3)
    with pytest.raises(MeterReadError) as silent:
        meter.read()
    assert silent.value.reason == "link_timeout"  # not a byte: the read deadline resets the link
    meter.close()
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(MeterReadError) as unreachable:
        DsmrMeter(TcpLink("127.0.0.1", port), timeout_s=0.3).read()
    assert unreachable.value.reason == "unreachable"


def test_reconnects_after_the_far_end_closes(p1):
    meter = _meter(p1)
    threading.Timer(0.05, p1.send, [telegram(1000, 0, 0, 0)]).start()
    assert meter.read() == Registers(1000, 0)
    p1.drop_client()
    with pytest.raises(MeterReadError) as closed:
        meter.read()
    assert closed.value.reason == "link_closed"
    threading.Timer(0.1, p1.send, [telegram(2000, 0, 0, 0)]).start()
    assert meter.read() == Registers(2000, 0)
    meter.close()


def test_partial_telegram_before_connecting_is_skipped(p1):
    meter = _meter(p1)
    tail = telegram(999, 0, 0, 0)[40:]  # we joined mid-telegram
    threading.Timer(0.05, p1.send, [tail + telegram(3000, 0, 0, 0)]).start()
    assert meter.read() == Registers(3000, 0)
    meter.close()

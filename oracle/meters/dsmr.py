"""DSMR P1 smart meters: telegrams over a serial port or a TCP socket (ser2net and the like).

A DSMR 5 meter pushes a telegram every second: "/"header, OBIS lines, "!"CRC16. Each
read drains what the link has buffered, keeps the newest telegram whose CRC is right and
returns its registers. Import is OBIS 1.8.1 + 1.8.2 (tariff 1 and 2), export 2.8.1 +
2.8.2, in kWh with three decimals, so exactly whole Wh.
"""

from __future__ import annotations

import re
import socket
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

import structlog
from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import TelegramParser

from oracle.meters.base import MeterReadError, Registers

if TYPE_CHECKING:  # loaded at run time only by a SerialLink that is used
    import serial

SPECIFICATIONS = {
    "v4": telegram_specifications.V4,
    "v5": telegram_specifications.V5,
    "belgium_fluvius": telegram_specifications.BELGIUM_FLUVIUS,
}
IMPORT_REGISTERS = ("ELECTRICITY_USED_TARIFF_1", "ELECTRICITY_USED_TARIFF_2")
EXPORT_REGISTERS = ("ELECTRICITY_DELIVERED_TARIFF_1", "ELECTRICITY_DELIVERED_TARIFF_2")
# A telegram is under 2 kB; a buffer far beyond that means we are reading noise.
MAX_BUFFER_CHARS = 64 * 1024
# "/" up to the first "!" and its CRC: a telegram. Text before a "/" is a partial
# telegram from before we connected and is dropped.
_TELEGRAM = re.compile(r"/[^/]+?![A-F0-9]{0,4}\0?\r\n", re.DOTALL)


class TelegramFramer:
    """Cuts a character stream into whole telegrams."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        self._pending += text
        telegrams = []
        end = 0
        for match in _TELEGRAM.finditer(self._pending):
            telegrams.append(match.group(0))
            end = match.end()
        self._pending = self._pending[end:]
        if len(self._pending) > MAX_BUFFER_CHARS:
            self._pending = self._pending[-MAX_BUFFER_CHARS // 2 :]
        return telegrams


class ByteLink(Protocol):
    def receive(self, timeout: float) -> bytes:
        """Up to a few kB; b"" if nothing arrived within `timeout` seconds."""

    def close(self) -> None: ...


class TcpLink:
    """A P1 port behind a TCP socket; reconnects on the next read after a failure."""

    def __init__(self, host: str, port: int, connect_timeout: float = 5.0):
        self.host, self.port, self.connect_timeout = host, port, connect_timeout
        self._socket: socket.socket | None = None

    @classmethod
    def from_url(cls, url: str) -> TcpLink:
        host, _, port = url.removeprefix("tcp://").rpartition(":")
        return cls(host.strip("[]"), int(port))

    def receive(self, timeout: float) -> bytes:
        if self._socket is None:
            try:
                self._socket = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            except OSError as exc:
                raise MeterReadError("unreachable", f"tcp://{self.host}:{self.port}: {exc}") from None
        self._socket.settimeout(max(timeout, 0.0))
        try:
            data = self._socket.recv(8192)
        except (TimeoutError, BlockingIOError):
            return b""
        except OSError as exc:
            self.close()
            raise MeterReadError("link_error", f"tcp://{self.host}:{self.port}: {exc}") from None
        if not data:  # the far end closed: reconnect next time
            self.close()
            raise MeterReadError("link_closed", f"tcp://{self.host}:{self.port} closed the connection")
        return data

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class SerialLink:
    """A P1 port on a serial adapter (DSMR 4/5: 115200 baud, 8N1)."""

    def __init__(self, port: str, baudrate: int = 115200):
        self.port, self.baudrate = port, baudrate
        self._serial: serial.Serial | None = None

    def receive(self, timeout: float) -> bytes:
        import serial  # only gateways with a serial P1 cable need pyserial loaded

        try:
            if self._serial is None:
                self._serial = serial.Serial(self.port, self.baudrate, bytesize=8, parity="N", stopbits=1)
            self._serial.timeout = max(timeout, 0.0)
            first = self._serial.read(1)
            return first + self._serial.read(self._serial.in_waiting) if first else b""
        except serial.SerialException as exc:
            self.close()
            raise MeterReadError("link_error", f"{self.port}: {exc}") from None

    def close(self) -> None:
        if self._serial is not None:
            self._serial.close()
            self._serial = None


def kwh_to_wh(value: Decimal, unit: str | None, register: str) -> int:
    if unit is not None and unit.lower() != "kwh":
        raise MeterReadError("bad_unit", f"{register} is in {unit!r}, expected kWh")
    wh = Decimal(value) * 1000
    if wh != wh.to_integral_value() or wh < 0:
        raise MeterReadError("bad_value", f"{register}={value} kWh is not a whole, non-negative Wh count")
    return int(wh)


class DsmrMeter:
    def __init__(self, link: ByteLink, dsmr_version: str = "v5", timeout_s: float = 15.0, log=None):
        self._link = link
        self._parser = TelegramParser(SPECIFICATIONS[dsmr_version])
        self._framer = TelegramFramer()
        self._timeout_s = timeout_s
        self._log = log or structlog.get_logger("oracle.meters.dsmr")
        self.telegrams_rejected = 0

    def _registers(self, telegram_text: str) -> Registers | None:
        try:
            telegram = self._parser.parse(telegram_text, throw_ex=True)
            imported = sum(
                kwh_to_wh(getattr(telegram, name).value, getattr(telegram, name).unit, name)
                for name in IMPORT_REGISTERS
            )
            exported = sum(
                kwh_to_wh(getattr(telegram, name).value, getattr(telegram, name).unit, name)
                for name in EXPORT_REGISTERS
            )
            return Registers(imported, exported)
        except InvalidChecksumError as exc:
            reason, detail = "bad_crc", str(exc)
        except ParseError as exc:
            reason, detail = "unparsable", str(exc)
        except AttributeError as exc:  # the telegram lacks a register line
            reason, detail = "missing_register", str(exc)
        except MeterReadError as exc:
            reason, detail = exc.reason, exc.detail
        except Exception as exc:  # dsmr-parser raises bare errors on some garbage
            reason, detail = "unparsable", f"{type(exc).__name__}: {exc}"
        self.telegrams_rejected += 1
        self._log.warning("meter.telegram_rejected", reason=reason, detail=detail[:200])
        return None

    def _feed(self, data: bytes) -> Registers | None:
        # P1 is ASCII; anything else is line noise, kept visible so the CRC fails.
        newest = None
        for text in self._framer.feed(data.decode("ascii", errors="replace")):
            registers = self._registers(text)
            if registers is not None:
                newest = registers
        return newest

    def read(self) -> Registers:
        deadline = time.monotonic() + self._timeout_s
        newest = None
        # First what is already buffered (the telegrams sent since our last read)...
        while data := self._link.receive(0.0):
            newest = self._feed(data) or newest
        # ...then, if none of those was valid, wait for the next good one.
        while newest is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MeterReadError("no_valid_telegram", f"no valid telegram within {self._timeout_s:g}s")
            data = self._link.receive(min(remaining, 1.0))
            if data:
                newest = self._feed(data)
                while more := self._link.receive(0.0):
                    newest = self._feed(more) or newest
        return newest

    def close(self) -> None:
        self._link.close()

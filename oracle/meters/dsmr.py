"""DSMR P1 smart meters: telegrams over a serial port or a TCP socket (ser2net and the like).

A DSMR meter pushes a telegram every second (DSMR 5) or ten (2.2 to 4): "/"header, OBIS
lines, "!" and, from DSMR 4 on, a CRC16. Each read drains what the link has buffered,
keeps the newest valid telegram and returns its registers.

Every telegram layout that the installed dsmr_parser specifies is accepted (`dsmr_version`
names one: DSMR 2.2 to 5, Belgium (Fluvius), Luxembourg, Sweden, EasyMeter Q3D, Sagemcom
T210-D-r, Iskra (Ireland), E.ON (Hungary)...). The layout decides whether a CRC is
required; the registers are read the same way for all of them, with dsmr_parser's own
line parser, and nothing else in the telegram can make it refused:

- import = the sum of every tariff register 1.8.1 .. 1.8.9, export = 2.8.1 .. 2.8.9;
  a meter that sends only the total (1.8.0 / 2.8.0) gives the total. When both are
  sent, the sum is checked against the total and a mismatch is logged
  (`meter.register_mismatch`); the sum is what is signed.
- no 2.8.x line at all: a consumption-only meter, export 0 (should a two-way meter
  drop its export lines, its export would go down and the reader refuses the reading).
- kWh or Wh at any precision, floored to whole Wh: registers only go up, so flooring
  never credits energy that was not measured.
- the CRC is checked whenever one is sent, in upper or lower case, over the telegram as
  received or with its line ends as CR LF (LF-only links). Every telegram refused is
  logged (`meter.telegram_rejected`, with the reason).
"""

from __future__ import annotations

import dataclasses
import re
import socket
import time
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import ParseError
from dsmr_parser.parsers import CosemParser, TelegramParser, ValueParser
from dsmr_parser.value_types import timestamp as dsmr_timestamp

from oracle.meters.base import MeterReadError, Registers
from oracle.meters.links import Backoff, set_keepalive

if TYPE_CHECKING:  # loaded at run time only by a SerialLink that is used
    import serial


def _specifications() -> dict[str, dict[str, Any]]:
    """dsmr_parser's telegram specifications by lower-case name. The gateway reads the
    plaintext telegram: for the layouts that dsmr_parser also knows encrypted (Sagemcom
    T210-D-r, Luxembourg MSN), the dongle or P1 reader in front of it decrypts."""
    return {name.lower(): value for name, value in vars(telegram_specifications).items()
            if name.isupper() and isinstance(value, dict) and isinstance(value.get("objects"), list)}


SPECIFICATIONS = _specifications()
TARIFFS = range(1, 10)  # 1.8.1 .. 1.8.9; 1.8.0 is the total
# A telegram is under 2 kB (4 kB for the chattiest Belgian ones); a buffer far beyond
# that means we are reading noise.
MAX_BUFFER_CHARS = 64 * 1024
# "/" up to the first "!", its CRC (if any, either case) and the line end (CR LF or LF).
# Text before a "/" is a partial telegram from before we connected and is dropped.
_TELEGRAM = re.compile(r"/[^/]+?!([0-9A-Fa-f]{0,4})\0?\r?\n", re.DOTALL)
_LINE_END = re.compile(r"\r?\n")


def _register_reference(quantity: int, tariff: int) -> str:
    # Electricity (medium 1) on any channel, with or without Q3D's "*255"; never 1.8.10.
    return rf"^1-\d:{quantity}\.8\.{tariff}(?=[*(]).+?\r\n"


_ENERGY_NAMES = {(quantity, tariff): f"ENERGY_{quantity}_8_{tariff}" for quantity in (1, 2) for tariff in range(10)}
_TIMESTAMP_REFERENCE = r"^0-0:1\.0\.0.+?\r\n"


def _energy_specification() -> dict[str, Any]:
    objects: list[dict[str, Any]] = [
        {"obis_reference": _register_reference(quantity, tariff),
         "value_parser": CosemParser(ValueParser(Decimal)), "value_name": name}
        for (quantity, tariff), name in _ENERGY_NAMES.items()
    ]
    return {"checksum_support": False, "objects": objects}


_ENERGY_PARSER = TelegramParser(_energy_specification(), apply_checksum_validation=False)
_TIMESTAMP_PARSER = TelegramParser(
    {"checksum_support": False, "objects": [{"obis_reference": _TIMESTAMP_REFERENCE,
                                             "value_parser": CosemParser(ValueParser(dsmr_timestamp)),
                                             "value_name": "P1_MESSAGE_TIMESTAMP"}]},
    apply_checksum_validation=False)


class TelegramRejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class TelegramFramer:
    """Cuts a character stream into whole telegrams; says what it had to throw away."""

    def __init__(self) -> None:
        self._pending = ""
        #: (reason, detail) of text dropped since the last feed: a telegram that never
        #: ended, or a buffer overflowing with noise.
        self.dropped: list[tuple[str, str]] = []

    def feed(self, text: str) -> list[str]:
        self._pending += text
        telegrams = []
        end = 0
        for match in _TELEGRAM.finditer(self._pending):
            skipped = self._pending[end:match.start()]
            if "/" in skipped:  # a telegram started and was cut off by the next one
                self.dropped.append(("truncated", skipped[skipped.index("/"):][:80]))
            telegrams.append(match.group(0))
            end = match.end()
        self._pending = self._pending[end:]
        if len(self._pending) > MAX_BUFFER_CHARS:
            self.dropped.append(("too_long", f"{len(self._pending)} characters without a complete telegram"))
            self._pending = self._pending[-MAX_BUFFER_CHARS // 2 :]
        return telegrams


def to_wh(value: Decimal, unit: str | None, register: str) -> int:
    """A register in kWh or Wh, at any precision, floored to whole Wh."""
    scale = {"kwh": 1000, "wh": 1}.get((unit or "").lower())
    if scale is None:
        raise TelegramRejected("bad_unit", f"{register} is in {unit!r}, expected kWh or Wh")
    if not Decimal(value).is_finite() or value < 0:
        raise TelegramRejected("bad_value", f"{register}={value} {unit} is not a count of energy")
    return int((Decimal(value) * scale).to_integral_value(rounding=ROUND_FLOOR))


def _check_crc(text: str, required: bool) -> None:
    bang = text.index("!")
    sent = re.match(r"[0-9A-Fa-f]{1,4}", text[bang + 1:])
    if sent is None:
        if required:
            raise TelegramRejected("missing_crc", "this DSMR version ends each telegram with a CRC; none was sent")
        return
    expected = int(sent.group(0), 16)
    body = text[:bang + 1]
    if TelegramParser.crc16(body) == expected:
        return
    if TelegramParser.crc16(_LINE_END.sub("\r\n", body)) == expected:  # LF-only link, CRC over CR LF
        return
    raise TelegramRejected("bad_crc", f"CRC {sent.group(0)} does not match the telegram "
                                      f"({TelegramParser.crc16(body):04X})")


class TelegramDecoder:
    """Registers from one telegram text of a given dsmr_parser layout."""

    def __init__(self, dsmr_version: str = "v5"):
        try:
            specification = SPECIFICATIONS[dsmr_version]
        except KeyError:
            raise ValueError(f"unknown dsmr_version {dsmr_version!r}; dsmr_parser specifies "
                             f"{sorted(SPECIFICATIONS)}") from None
        self.dsmr_version = dsmr_version
        self.crc_required = bool(specification.get("checksum_support"))

    def decode(self, text: str) -> tuple[Registers, list[dict[str, Any]]]:
        """(registers, warnings); raises TelegramRejected."""
        _check_crc(text, self.crc_required)
        lines = _LINE_END.sub("\r\n", text)
        try:
            telegram = _ENERGY_PARSER.parse(lines, throw_ex=True)
        except ParseError as exc:
            raise TelegramRejected("unparsable", str(exc)) from None
        except Exception as exc:  # dsmr_parser raises bare errors on some garbage
            raise TelegramRejected("unparsable", f"{type(exc).__name__}: {exc}") from None
        warnings: list[dict[str, Any]] = []
        imported = self._quantity(telegram, 1, warnings)
        if imported is None:
            raise TelegramRejected("missing_register", "no import register (1.8.0 or 1.8.1 .. 1.8.9)")
        exported = self._quantity(telegram, 2, warnings)
        return Registers(imported, 0 if exported is None else exported), warnings

    @staticmethod
    def _quantity(telegram, quantity: int, warnings: list[dict[str, Any]]) -> int | None:
        registers = {}  # tariff -> (whole Wh, the register's resolution in Wh)
        for tariff in range(10):
            found = getattr(telegram, _ENERGY_NAMES[(quantity, tariff)], None)
            if found is not None:
                wh = to_wh(found.value, found.unit, f"{quantity}.8.{tariff}")
                exponent = Decimal(found.value).as_tuple().exponent
                step = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
                registers[tariff] = (wh, step * (1000 if (found.unit or "").lower() == "kwh" else 1))
        tariffs = [wh for tariff, (wh, _) in registers.items() if tariff != 0]
        if not tariffs:
            return registers[0][0] if 0 in registers else None
        summed = sum(tariffs)
        if 0 in registers:
            # Each register is rounded on its own: allow one step of each, and a Wh each for flooring.
            total, total_step = registers[0]
            slack = len(tariffs) + total_step + sum(step for tariff, (_, step) in registers.items() if tariff)
            if abs(total - summed) > slack:
                warnings.append({"register": f"{quantity}.8.0", "total_wh": total, "tariff_sum_wh": summed,
                                 "tariffs": len(tariffs)})
        return summed

    @staticmethod
    def telegram_time(text: str) -> datetime | None:
        """The meter's own clock (0-0:1.0.0), if the telegram has a readable one."""
        try:
            found = getattr(_TIMESTAMP_PARSER.parse(_LINE_END.sub("\r\n", text)), "P1_MESSAGE_TIMESTAMP", None)
        except Exception:
            return None
        value = None if found is None else found.value
        return value if isinstance(value, datetime) else None


class ByteLink(Protocol):
    def receive(self, timeout: float) -> bytes:
        """Up to a few kB; b"" if nothing arrived within `timeout` seconds."""

    def reset(self, reason: str) -> None:
        """The link went silent: drop it, so the next receive opens it afresh."""

    def close(self) -> None: ...


class TcpLink:
    """A P1 port behind a TCP socket (ser2net, a P1 Wi-Fi or Ethernet dongle).

    The socket has TCP keepalive. After a failure (refused connection, reset, the far
    end closing, or `reset` after a read deadline passed in silence) the link is closed
    and reopened on a later read, no sooner than the backoff allows.
    """

    def __init__(self, host: str, port: int, connect_timeout: float = 5.0, backoff: Backoff | None = None):
        self.host, self.port, self.connect_timeout = host, port, connect_timeout
        self.backoff = backoff or Backoff()
        self._socket: socket.socket | None = None
        self.connects = 0  # connections opened so far (visible in tests and the probe)

    @classmethod
    def from_url(cls, url: str, connect_timeout: float = 5.0) -> TcpLink:
        host, _, port = url.removeprefix("tcp://").rpartition(":")
        return cls(host.strip("[]"), int(port), connect_timeout)

    def _describe(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def _fail(self, reason: str, detail: str) -> MeterReadError:
        self.close()
        delay = self.backoff.failed()
        return MeterReadError(reason, f"{self._describe()}: {detail}; next attempt in {delay:.1f}s")

    def receive(self, timeout: float) -> bytes:
        if self._socket is None:
            self.backoff.check(self._describe())
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            except OSError as exc:
                raise self._fail("unreachable", str(exc)) from None
            set_keepalive(sock)
            self._socket = sock
            self.connects += 1
        self._socket.settimeout(max(timeout, 0.0))
        try:
            data = self._socket.recv(8192)
        except (TimeoutError, BlockingIOError):
            return b""
        except OSError as exc:  # reset, or keepalive found the far end gone
            raise self._fail("link_error", str(exc)) from None
        if not data:  # the far end closed: reconnect next time
            raise self._fail("link_closed", "the far end closed the connection")
        self.backoff.succeeded()
        return data

    def reset(self, reason: str) -> None:
        if self._socket is not None:
            self.close()
            self.backoff.failed()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


_SEVEN_BITS = bytes(b & 0x7F for b in range(256))


class SerialLink:
    """A P1 port on a serial adapter (DSMR 4/5: 115200 baud 8N1; DSMR 2.2/3: 9600 baud 7E1)."""

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
            data = first + self._serial.read(self._serial.in_waiting) if first else b""
            # DSMR 2.2/3 ports send 7E1: read as 8N1 the parity lands in the 8th bit.
            # P1 is 7-bit ASCII either way, so dropping that bit serves both.
            return data.translate(_SEVEN_BITS)
        except serial.SerialException as exc:
            self.close()
            raise MeterReadError("link_error", f"{self.port}: {exc}") from None

    def reset(self, reason: str) -> None:
        self.close()  # a USB adapter that was replugged needs opening again

    def close(self) -> None:
        if self._serial is not None:
            self._serial.close()
            self._serial = None


class DsmrMeter:
    """Reads one P1 port. A read that sees no byte at all within `timeout_s` (the read
    deadline) resets the link: the connection is half-open or the cable is out."""

    def __init__(self, link: ByteLink, dsmr_version: str = "v5", timeout_s: float = 15.0, log=None):
        self._link = link
        self._decoder = TelegramDecoder(dsmr_version)
        self._framer = TelegramFramer()
        self._timeout_s = timeout_s
        self._log = log or structlog.get_logger("oracle.meters.dsmr")
        self.telegrams_rejected = 0
        #: The meter's own clock in the newest valid telegram, when it sends one (0-0:1.0.0).
        self.telegram_time: datetime | None = None

    def _reject(self, reason: str, detail: str) -> None:
        self.telegrams_rejected += 1
        self._log.warning("meter.telegram_rejected", reason=reason, detail=detail[:200])

    def _feed(self, data: bytes) -> tuple[Registers, str] | None:
        # P1 is ASCII; anything else is line noise, kept visible so the CRC fails.
        newest = None
        telegrams = self._framer.feed(data.decode("ascii", errors="replace"))
        for reason, detail in self._framer.dropped:
            self._reject(reason, detail)
        self._framer.dropped.clear()
        for text in telegrams:
            try:
                registers, warnings = self._decoder.decode(text)
            except TelegramRejected as exc:
                self._reject(exc.reason, exc.detail)
                continue
            newest = (registers, warnings, text)
        if newest is None:
            return None
        registers, warnings, text = newest
        for warning in warnings:  # only the telegram that is used: one line per read at most
            self._log.warning("meter.register_mismatch", **warning,
                              detail="the tariff registers do not add up to the total; signing their sum")
        return registers, text

    def read(self) -> Registers:
        deadline = time.monotonic() + self._timeout_s
        newest = None
        heard = False
        # First what is already buffered (the telegrams sent since our last read)...
        while data := self._link.receive(0.0):
            heard = True
            newest = self._feed(data) or newest
        # ...then, if none of those was valid, wait for the next good one.
        while newest is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if not heard:
                    self._link.reset("silent")
                    raise MeterReadError("link_timeout", f"not a byte within {self._timeout_s:g}s: the link is "
                                                         "half-open or the meter is off; reconnecting")
                raise MeterReadError("no_valid_telegram", f"no valid telegram within {self._timeout_s:g}s")
            data = self._link.receive(min(remaining, 1.0))
            if data:
                heard = True
                newest = self._feed(data)
                while more := self._link.receive(0.0):
                    newest = self._feed(more) or newest
        registers, text = newest
        self.telegram_time = self._decoder.telegram_time(text)
        if self.telegram_time is None:
            return registers
        return dataclasses.replace(registers, meter_time=self.telegram_time.timestamp())

    def close(self) -> None:
        self._link.close()

"""Realistic DSMR 5.0.2 P1 telegrams (as a Dutch ISKRA/Landis meter sends them), with
their CRC16 computed here independently of dsmr-parser."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0), the checksum DSMR 4+ puts after "!"."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _kwh(wh: int) -> str:
    return f"{wh // 1000:06d}.{wh % 1000:03d}"


def dsmr_stamp(timestamp: float | None = None) -> str:
    """A time as a Dutch meter's clock sends it (0-0:1.0.0): local time, S(ummer) or W(inter)."""
    local = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, ZoneInfo("Europe/Amsterdam"))
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def telegram(import_t1_wh: int, import_t2_wh: int, export_t1_wh: int, export_t2_wh: int,
             stamp: str | None = None, power_w: int = 1432, crc: int | None = None) -> bytes:
    """A telegram stamped with the meter's clock at `stamp` (default: now)."""
    stamp = stamp or dsmr_stamp()
    body = "\r\n".join([
        "/ISK5\\2M550E-1012",
        "",
        "1-3:0.2.8(50)",
        f"0-0:1.0.0({stamp})",
        "0-0:96.1.1(4530303433303036393938363537373137)",
        f"1-0:1.8.1({_kwh(import_t1_wh)}*kWh)",
        f"1-0:1.8.2({_kwh(import_t2_wh)}*kWh)",
        f"1-0:2.8.1({_kwh(export_t1_wh)}*kWh)",
        f"1-0:2.8.2({_kwh(export_t2_wh)}*kWh)",
        "0-0:96.14.0(0002)",
        f"1-0:1.7.0({power_w // 1000:02d}.{power_w % 1000:03d}*kW)",
        "1-0:2.7.0(00.000*kW)",
        "0-0:96.7.21(00011)",
        "0-0:96.7.9(00004)",
        "1-0:99.97.0(2)(0-0:96.7.19)(190911154150S)(0000000312*s)(210319094815W)(0000004118*s)",
        "1-0:32.32.0(00004)",
        "1-0:32.36.0(00001)",
        "0-0:96.13.0()",
        "1-0:32.7.0(229.8*V)",
        "1-0:31.7.0(006*A)",
        f"1-0:21.7.0({power_w // 1000:02d}.{power_w % 1000:03d}*kW)",
        "1-0:22.7.0(00.000*kW)",
        "0-1:24.1.0(003)",
        "0-1:96.1.0(4730303339303031393336393930363139)",
        "0-1:24.2.1(231126143000W)(01893.262*m3)",
        "!",
    ])
    checksum = crc16_arc(body.encode("ascii")) if crc is None else crc
    return (body + f"{checksum:04X}\r\n").encode("ascii")


def corrupted(good: bytes) -> bytes:
    """The same telegram with one digit flipped in transit: the CRC no longer matches."""
    index = good.index(b"1-0:1.8.1(") + len(b"1-0:1.8.1(") + 3
    flipped = b"7" if good[index:index + 1] != b"7" else b"3"
    return good[:index] + flipped + good[index + 1:]


def with_crc(body: str, line_end: str = "\r\n", lower: bool = False) -> bytes:
    """`body` (lines up to and including "!") with its CRC and the final line end."""
    crc = f"{crc16_arc(body.encode('latin-1')):04X}"
    return (body + (crc.lower() if lower else crc) + line_end).encode("latin-1")


class P1Server:
    """A ser2net-like TCP server: sends what the test queues, to one client at a time."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._client: socket.socket | None = None
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._client = client
            self._accepted.set()

    def send(self, data: bytes) -> None:
        assert self._accepted.wait(5), "the adapter never connected"
        self._client.sendall(data)

    def drop_client(self) -> None:
        self._accepted.clear()
        self._client.close()

    def close(self):
        self._listener.close()
        if self._client:
            self._client.close()



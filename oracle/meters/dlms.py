"""DLMS/COSEM meters (IEC 62056) over TCP (the IP wrapper) or a serial HDLC line.

Each read opens an association (public client, no security: what most meters offer for
reading energy registers), reads the Register objects 1.0.1.8.0.255 (active energy
import) and 1.0.2.8.0.255 (export): attribute 2 is the value and attribute 3 the
scaler and unit. The unit must be Wh (DLMS unit 30); value x 10^scaler is whole Wh.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from dlms_cosem import cosem, enumerations
from dlms_cosem.dlms_data import DlmsDataParser
from dlms_cosem.exceptions import CommunicationError, LocalDlmsProtocolError

from oracle.meters.base import MeterReadError, Registers

if TYPE_CHECKING:  # loaded at run time only by the factories that build one
    from dlms_cosem.clients.dlms_client import DlmsClient

IMPORT_OBIS = cosem.Obis(1, 0, 1, 8, 0, 255)
EXPORT_OBIS = cosem.Obis(1, 0, 2, 8, 0, 255)
UNIT_WH = 30  # DLMS/COSEM unit enumeration: active energy, Wh
PUBLIC_CLIENT = 16


def _decode_one(data: bytes, what: str):
    try:
        [value] = DlmsDataParser().parse(data, limit=1)
    except Exception as exc:  # the parser raises assorted errors on malformed A-XDR
        raise MeterReadError("bad_data", f"{what}: cannot decode {data.hex()}: {exc}") from None
    return value.to_python()


class DlmsMeter:
    def __init__(self, client_factory: Callable[[], DlmsClient], describe: str):
        """`client_factory` returns a fresh dlms_cosem DlmsClient for each read."""
        self._client_factory = client_factory
        self._describe = describe

    def _register_wh(self, client, obis: cosem.Obis) -> int:
        value_attribute = cosem.CosemAttribute(enumerations.CosemInterface.REGISTER, obis, 2)
        scaler_attribute = cosem.CosemAttribute(enumerations.CosemInterface.REGISTER, obis, 3)
        name = obis.to_string()
        value = _decode_one(client.get(value_attribute), f"{name} value")
        scaler_unit = _decode_one(client.get(scaler_attribute), f"{name} scaler_unit")
        if not isinstance(value, int) or value < 0:
            raise MeterReadError("bad_value", f"{name} = {value!r} is not a non-negative integer")
        try:
            scaler, unit = scaler_unit
        except (TypeError, ValueError):
            raise MeterReadError("bad_data", f"{name} scaler_unit {scaler_unit!r} is not (scaler, unit)") from None
        if int(unit) != UNIT_WH:
            raise MeterReadError("bad_unit", f"{name} unit is {unit}, expected {UNIT_WH} (Wh)")
        return int((Decimal(value).scaleb(int(scaler))).to_integral_value(rounding=ROUND_FLOOR))

    def read(self) -> Registers:
        client = self._client_factory()
        try:
            with client.session() as session:
                return Registers(self._register_wh(session, IMPORT_OBIS), self._register_wh(session, EXPORT_OBIS))
        except MeterReadError:
            raise
        except (CommunicationError, OSError, TimeoutError) as exc:
            raise MeterReadError("no_answer", f"{self._describe}: {exc}") from None
        except (LocalDlmsProtocolError, Exception) as exc:  # a refused association or GET
            raise MeterReadError("dlms_error", f"{self._describe}: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        pass


def _safe_tcp_transport_class():
    from dlms_cosem.clients.blocking_tcp_transport import BlockingTcpTransport

    class SafeTcpTransport(BlockingTcpTransport):
        """dlms-cosem's TCP transport loops forever, spinning, when the meter closes the
        connection mid-answer (recv() returning b"" is retried). Treat it as the error it is."""

        def _recv_bytes(self, amount: int) -> bytes:
            data = b""
            while len(data) < amount:
                chunk = self.tcp_socket.recv(amount - len(data))
                if not chunk:
                    raise CommunicationError(f"{self.address} closed the connection")
                data += chunk
            return data

    return SafeTcpTransport


def tcp_meter(host: str, port: int, server_logical_address: int = 1, client_logical_address: int = PUBLIC_CLIENT,
              timeout_s: float = 10.0) -> DlmsMeter:
    from dlms_cosem.clients.dlms_client import DlmsClient

    transport_class = _safe_tcp_transport_class()

    def factory():
        transport = transport_class(host=host, port=port, client_logical_address=client_logical_address,
                                    server_logical_address=server_logical_address, timeout=int(max(1, timeout_s)))
        return DlmsClient(client_logical_address=client_logical_address,
                          server_logical_address=server_logical_address, io_interface=transport,
                          timeout=int(max(1, timeout_s)))

    return DlmsMeter(factory, f"dlms tcp://{host}:{port}")


def _safe_hdlc_transport_class():
    from dlms_cosem.clients.hdlc_transport import SerialHdlcTransport

    class SafeHdlcTransport(SerialHdlcTransport):
        """dlms-cosem's HDLC transport keeps waiting, timeout after timeout, for a meter
        that never answers. A read that times out empty ends the session instead."""

        def _read_frame(self) -> bytes:
            frame = super()._read_frame()
            if not frame:
                raise CommunicationError(f"no HDLC frame from {self.serial_port} within {self.timeout}s")
            return frame

    return SafeHdlcTransport


def hdlc_meter(serial_port: str, baudrate: int = 9600, server_logical_address: int = 1,
               server_physical_address: int = 17, client_logical_address: int = PUBLIC_CLIENT,
               timeout_s: float = 10.0) -> DlmsMeter:
    from dlms_cosem.clients.dlms_client import DlmsClient

    transport_class = _safe_hdlc_transport_class()

    def factory():
        transport = transport_class(client_logical_address=client_logical_address,
                                    server_logical_address=server_logical_address, serial_port=serial_port,
                                    serial_baud_rate=baudrate, server_physical_address=server_physical_address,
                                    timeout=int(max(1, timeout_s)))
        return DlmsClient(client_logical_address=client_logical_address,
                          server_logical_address=server_logical_address, io_interface=transport,
                          timeout=int(max(1, timeout_s)))

    return DlmsMeter(factory, f"dlms hdlc {serial_port}")

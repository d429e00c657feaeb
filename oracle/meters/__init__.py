"""Meter adapters: DSMR P1, Modbus/SunSpec, DLMS/COSEM and simulated meters, behind one interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oracle.config import (
    DlmsSource,
    DsmrSource,
    MeterSettings,
    SimulatedBatterySource,
    SimulatedHouseholdSource,
    SunSpecSource,
)
from oracle.meters.base import Clock, Meter, MeterReadError, Registers

if TYPE_CHECKING:  # the protocol libraries load only when a meter uses them
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient

    from oracle.meters.dsmr import ByteLink

__all__ = ["Clock", "Meter", "MeterReadError", "Registers", "build_meter"]


def build_meter(settings: MeterSettings, clock: Clock, log=None, origin: float | None = None) -> Meter:
    """The adapter for one configured meter; protocol libraries load only when used.

    `origin`: when simulated registers start counting, unless the source sets its own.
    """
    # Each source's validator lets through exactly one link: a URL or host, else a serial port.
    source = settings.source
    if isinstance(source, DsmrSource):
        from oracle.meters.dsmr import DsmrMeter, SerialLink, TcpLink

        if source.url:
            link: ByteLink = TcpLink.from_url(source.url)
        else:
            assert source.serial_port is not None
            link = SerialLink(source.serial_port, source.baudrate)
        return DsmrMeter(link, source.dsmr_version, source.timeout_s, log=log)
    if isinstance(source, SunSpecSource):
        from oracle.meters.sunspec import SunSpecDevice, SunSpecMeter, rtu_client, tcp_client

        client: ModbusTcpClient | ModbusSerialClient
        if source.host:
            client = tcp_client(source.host, source.port, source.timeout_s)
        else:
            assert source.serial_port is not None
            client = rtu_client(source.serial_port, source.baudrate, source.timeout_s)
        return SunSpecMeter(SunSpecDevice(client, source.unit_id, source.base_address), source.profile,
                            source.capacity_wh)
    if isinstance(source, DlmsSource):
        from oracle.meters.dlms import hdlc_meter, tcp_meter

        if source.host:
            return tcp_meter(source.host, source.port, source.server_logical_address, source.client_logical_address,
                             source.timeout_s)
        assert source.serial_port is not None
        return hdlc_meter(source.serial_port, source.baudrate, source.server_logical_address,
                          source.server_physical_address, source.client_logical_address, source.timeout_s)
    from oracle.meters.simulated import HouseholdProfile, SimulatedBattery, SimulatedHousehold

    def profile(household: SimulatedHouseholdSource) -> HouseholdProfile:
        return HouseholdProfile(household.seed, household.pv_peak_w, household.daily_load_wh)

    if isinstance(source, SimulatedHouseholdSource):
        return SimulatedHousehold(profile(source), clock, source.start_import_wh, source.start_export_wh,
                                  source.origin_timestamp or origin)
    if isinstance(source, SimulatedBatterySource):
        return SimulatedBattery([profile(h) for h in source.households], clock, source.capacity_wh,
                                source.charge_efficiency_bps, source.initial_soc_wh, source.origin_timestamp or origin)
    raise TypeError(f"no adapter for meter source {type(source).__name__}")

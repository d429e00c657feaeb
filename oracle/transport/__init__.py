"""Chain access behind one interface (see base.py); pick one with ``build_transport``."""

from __future__ import annotations

from oracle.transport.base import (
    Broadcast,
    CallReverted,
    Log,
    PreparedTx,
    Transport,
    TransportError,
    TransportUnavailable,
    TxOutcome,
)

__all__ = ["Broadcast", "CallReverted", "Log", "PreparedTx", "Transport", "TransportError",
           "TransportUnavailable", "TxOutcome", "build_transport"]


def build_transport(chain_settings, sender_key: bytes) -> Transport:
    if chain_settings.transport == "evm":
        from oracle.transport.evm import EvmTransport

        return EvmTransport(
            chain_settings.rpc_url,
            sender_key,
            chain_id=chain_settings.chain_id,
            gas_price_wei=chain_settings.gas_price_wei,
            gas_margin=chain_settings.gas_margin,
            timeout_s=chain_settings.rpc_timeout_s,
        )
    if chain_settings.transport == "qtum":
        from oracle.transport.qtum import QtumTransport

        return QtumTransport(
            chain_settings.rpc_url,
            sender_key,
            network=chain_settings.qtum_network,
            # Janus quotes gas prices in wei-like units: 1 satoshi = 10**10.
            gas_price_sat=chain_settings.gas_price_wei // 10**10,
            gas_margin=chain_settings.gas_margin - 1.0,
            timeout_s=chain_settings.rpc_timeout_s,
        )
    raise ValueError(f"unknown transport {chain_settings.transport!r}")

"""`energo-oracle probe`: read one configured meter for the installer, and say how to
register it with the registers it reads today.

A meter registered with registers below what it reads would have the difference
credited by its first reading (the whole lifetime of a meter registered at 0), so the
registration command printed here carries the probe's figures, and `--probe-json` lets
`ape run ops register-meter` check them (energo_deploy/operations.py).

The probe's JSON (`--out FILE`), read by `ape run ops register-meter --probe-json FILE`:
`{"format": "energo-meter-probe/1", "meter_id", "kind", "source", "signer",
"import_wh", "export_wh", "state_of_charge_wh", "read_at", "chain_id", "ledger_address", "network"}`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from oracle.config import GatewaySettings, MeterSettings
from oracle.errors import ConfigError, OracleError
from oracle.meters import build_meter
from oracle.meters.base import MeterReadError, SystemClock

PROBE_FORMAT = "energo-meter-probe/1"
#: Network names of scripts/ops.py (ape-config.yaml) by chain id.
APE_NETWORKS = {81: "qtum:mainnet", 8889: "qtum:testnet", 8890: "qtum:local"}


def _meter_settings(settings: GatewaySettings, meter_id: int) -> MeterSettings:
    for meter in settings.meters:
        if meter.id == meter_id:
            return meter
    raise ConfigError(f"no meter {meter_id} in the configuration (it has {[m.id for m in settings.meters]})")


def keystore_address(path: Path) -> str | None:
    """The address a keystore file records (no passphrase needed); None if unreadable."""
    try:
        return to_checksum_address(json.loads(path.read_text())["address"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def probe(settings: GatewaySettings, meter_id: int, attempts: int = 3, log=None) -> dict[str, Any]:
    """Reads the meter (up to `attempts` times, each within its source's timeout)."""
    meter_settings = _meter_settings(settings, meter_id)
    meter = build_meter(meter_settings, SystemClock(), log=log)
    errors = []
    try:
        for _ in range(attempts):
            try:
                registers = meter.read()
                break
            except MeterReadError as exc:
                errors.append(f"{exc.reason}: {exc.detail}")
        else:
            raise OracleError(f"meter {meter_id} gave no reading in {attempts} attempts: " + "; ".join(errors))
    finally:
        meter.close()
    return {
        "format": PROBE_FORMAT,
        "meter_id": meter_id,
        "kind": meter_settings.kind,
        "source": meter_settings.source.type,
        "signer": keystore_address((meter_settings.key or settings.sender).keystore),
        "import_wh": registers.import_wh,
        "export_wh": registers.export_wh,
        "state_of_charge_wh": registers.state_of_charge_wh if meter_settings.kind == "battery" else 0,
        "read_at": int(time.time()),
        "chain_id": settings.chain.chain_id,
        "ledger_address": settings.chain.ledger_address,
        "network": _ape_network(settings),
    }


def _ape_network(settings: GatewaySettings) -> str:
    if settings.chain.transport == "qtum":  # real Qtum (or its regtest) through Janus
        return f"qtum:{settings.chain.qtum_network}"
    return APE_NETWORKS.get(settings.chain.chain_id, "NETWORK")


def registration_command(result: dict[str, Any], probe_file: Path | None = None) -> str:
    """`ape run ops register-meter ...` with the probed registers; what the gateway
    cannot know (the household, the rated power, the registrar's account) in capitals."""
    network = result.get("network") or APE_NETWORKS.get(result["chain_id"], "NETWORK")
    parts = [
        "ape run ops register-meter", f"--network {network}", "--account REGISTRAR_ACCOUNT",
        f"--meter-id {result['meter_id']}", f"--signer {result['signer'] or 'METER_SIGNER_ADDRESS'}",
        "--household HOUSEHOLD_ADDRESS", f"--kind {result['kind']}", "--rated-power-w RATED_POWER_W",
        f"--import-wh {result['import_wh']}", f"--export-wh {result['export_wh']}",
    ]
    if probe_file is not None:
        parts.append(f"--probe-json {probe_file}")
    return " \\\n    ".join(parts)

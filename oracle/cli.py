"""`energo-oracle` / `python -m oracle`: run the gateway, manage its keys, show its state."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import click

from oracle.config import DEFAULT_PASSPHRASE_ENV, load_settings
from oracle.errors import ConfigError, OracleError
from oracle.keys import GATEWAY_SCRYPT_N, new_key, write_keystore


def _fail(exc: OracleError) -> None:
    click.echo(f"error: {exc.user_message}", err=True)
    sys.exit(exc.exit_code)


@click.group()
def main() -> None:
    """Energo meter gateway: reads meters, signs readings, puts them on-chain."""


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help="gateway.toml")
def run(config_path: Path) -> None:
    """Run the daemon until SIGTERM/SIGINT (then drain and exit 0)."""
    from oracle.daemon import Daemon
    from oracle.logs import configure_logging

    try:
        settings = load_settings(config_path)
    except OracleError as exc:
        _fail(exc)
    configure_logging(settings.log.format, settings.log.level)
    daemon = Daemon(settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: daemon.stop())
    code = daemon.run()
    if code:
        click.echo(f"energo-oracle: stopped with exit code {code} (see the last log line for why)", err=True)
    sys.exit(code)


# ---------------------------------------------------------------------------- keys


def _passphrase(passphrase_file: Path | None, confirm: bool) -> str:
    if passphrase_file is not None:
        return passphrase_file.read_text().rstrip("\r\n")
    if DEFAULT_PASSPHRASE_ENV in os.environ:
        return os.environ[DEFAULT_PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise OracleError(f"no passphrase: give --passphrase-file or set {DEFAULT_PASSPHRASE_ENV}")
    return click.prompt("Keystore passphrase", hide_input=True, confirmation_prompt=confirm)


@main.group()
def keys() -> None:
    """Create and import meter or sender keys (encrypted keystore files)."""


_out = click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="keystore file to create")
_passfile = click.option("--passphrase-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
                         help=f"file holding the passphrase (default: ${DEFAULT_PASSPHRASE_ENV}, else a prompt)")
_cost = click.option("--scrypt-n", type=int, default=GATEWAY_SCRYPT_N, show_default=True,
                     help="scrypt cost: the default needs 16 MiB to open; 262144 (eth-account's) needs "
                          "256 MiB and resists passphrase guessing 16 times longer")


@keys.command("new")
@_out
@_passfile
@_cost
def keys_new(out: Path, passphrase_file: Path | None, scrypt_n: int) -> None:
    """Create a new key; prints the address to register (the meter's signer)."""
    try:
        address = write_keystore(out, new_key(), _passphrase(passphrase_file, confirm=True), scrypt_n)
    except OracleError as exc:
        _fail(exc)
    click.echo(address)


@keys.command("import")
@_out
@click.option("--private-key-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="file with the hex private key (default: read from standard input)")
@_passfile
@_cost
def keys_import(out: Path, private_key_file: Path | None, passphrase_file: Path | None, scrypt_n: int) -> None:
    """Encrypt an existing private key into a keystore; prints its address."""
    text = private_key_file.read_text() if private_key_file else click.get_text_stream("stdin").readline()
    try:
        key = bytes.fromhex(text.strip().removeprefix("0x"))
        if len(key) != 32:
            raise ValueError
    except ValueError:
        _fail(OracleError("the private key must be 32 bytes of hex"))
    try:
        address = write_keystore(out, key, _passphrase(passphrase_file, confirm=True), scrypt_n)
    except OracleError as exc:
        _fail(exc)
    click.echo(address)


@keys.command("address")
@click.argument("keystore", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def keys_address(keystore: Path) -> None:
    """Print the address a keystore file records (no passphrase needed)."""
    from eth_utils import to_checksum_address

    document = json.loads(keystore.read_text())
    click.echo(to_checksum_address(document["address"]))


# ---------------------------------------------------------------------------- status


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(config_path: Path, as_json: bool) -> None:
    """Backlog, last confirmed reading per meter and the chain head."""
    from oracle.outbox import Outbox
    from oracle.transport.evm import EvmTransport

    try:
        settings = load_settings(config_path)
    except OracleError as exc:
        _fail(exc)
    path = settings.outbox.path
    report: dict = {"outbox": str(path)}
    if path.exists():
        outbox = Outbox(path, read_only=True)
        counts = outbox.counts()
        report["backlog"] = counts.get("pending", 0) + counts.get("batched", 0)
        report["readings"] = counts
        report["open_batches"] = [
            {"batch_id": b.id, "tx_hash": b.tx_id, "status": b.status, "readings": b.size, "block": b.block_number}
            for b in outbox.open_batches()
        ]
        now = time.time()
        report["last_confirmed"] = {
            str(meter_id): {"seq": r.seq, "timestamp": r.timestamp, "age_s": round(now - r.timestamp),
                            "import_wh": r.import_wh, "export_wh": r.export_wh}
            for meter_id, r in sorted(outbox.last_confirmed().items())
        }
        outbox.close()
    else:
        report["backlog"] = None
    # Reads only: a throwaway key, never the sender's (which would need its passphrase).
    transport = EvmTransport(settings.chain.rpc_url, b"\x01" * 32, chain_id=settings.chain.chain_id,
                             gas_price_wei=settings.chain.gas_price_wei, timeout_s=settings.chain.rpc_timeout_s)
    try:
        report["chain_head"] = transport.head()
        report["chain_id"] = transport.chain_id()
    except OracleError as exc:
        report["chain_head"] = None
        report["chain_error"] = exc.user_message
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"outbox        {report['outbox']}")
    click.echo(f"backlog       {report['backlog'] if report['backlog'] is not None else 'no outbox yet'}")
    head = report["chain_head"]
    click.echo(f"chain head    {head if head is not None else 'unreachable: ' + report['chain_error']}")
    for batch in report.get("open_batches", []):
        click.echo(f"batch {batch['batch_id']:>6}  {batch['status']:<8} {batch['readings']:>4} readings  "
                   f"{batch['tx_hash']}")
    for meter_id, last in report.get("last_confirmed", {}).items():
        click.echo(f"meter {meter_id:>6}  seq {last['seq']:>8}  import {last['import_wh']:>10} Wh  "
                   f"export {last['export_wh']:>10} Wh  {last['age_s']} s ago")


# ---------------------------------------------------------------------------- probe


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help="gateway.toml")
@click.option("--meter-id", type=int, required=True, help="a meter of the configuration")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False),
              help="also write the figures as JSON, for `ape run ops register-meter --probe-json FILE`")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def probe(config_path: Path, meter_id: int, out: Path | None, as_json: bool) -> None:
    """Read a configured meter now: its registers and the command that registers it.

    Run it before the daemon starts (or stop the daemon): a P1 port or a ser2net link
    serves one reader at a time."""
    from oracle.logs import configure_logging
    from oracle.meters.probe import probe as read_meter
    from oracle.meters.probe import registration_command

    try:
        settings = load_settings(config_path)
        for invalid_id, message in settings.invalid_meters.values():
            if invalid_id == meter_id:  # the daemon would park it: say why
                raise ConfigError(message)
        configure_logging(settings.log.format, "warning", stream=sys.stderr)  # rejected telegrams say why
        result = read_meter(settings, meter_id)
    except OracleError as exc:
        _fail(exc)
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"meter         {result['meter_id']} ({result['kind']}, {result['source']})")
    click.echo(f"signer        {result['signer'] or 'unknown (keystore unreadable)'}")
    click.echo(f"import        {result['import_wh']} Wh")
    click.echo(f"export        {result['export_wh']} Wh")
    if result["kind"] == "battery":
        click.echo(f"charge        {result['state_of_charge_wh']} Wh")
    click.echo("\nRegister it with the registers it reads now (give the operator this command):\n")
    click.echo(registration_command(result, out))

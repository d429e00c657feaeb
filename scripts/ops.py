"""`ape run ops <command>`: operator commands. Each refuses on a missing role or when
the deployments file does not match the connected chain.

    ape run ops register-meter --network qtum:local --account TEST::3 \\
        --meter-id 7 --signer 0x... --household 0x... --kind household --rated-power-w 10000 \\
        --probe-json probe-7.json      # from `energo-oracle probe --meter-id 7 --out probe-7.json`
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand, account_option

from energo.facts import METER_KINDS
from energo_deploy import DeploymentError, default_deployments_path
from energo_deploy.operations import MeterProbe, Operations, initial_registers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ape_backend import choose_backend, with_backend_options  # noqa: E402

deployments_option = click.option(
    "--deployments", "deployments_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="deployments file [default: deployments/<chainId>.json]")


def _ops(account, deployments_path, backend_options: dict) -> Operations:
    backend = choose_backend(account, **backend_options)
    try:
        return Operations.connect(backend, deployments_path or default_deployments_path(backend.chain_id))
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from None


def _run(action, *args):
    try:
        return action(*args)
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def cli():
    """Energo operator commands."""


@cli.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@with_backend_options
@deployments_option
@click.option("--meter-id", type=click.IntRange(1, 2**32 - 1), required=True)
@click.option("--signer", required=True, help="address of the meter's signing key")
@click.option("--household", required=True, help="the account the meter belongs to")
@click.option("--kind", type=click.Choice(sorted(METER_KINDS)), default="household", show_default=True)
@click.option("--rated-power-w", type=click.IntRange(1, 2**32 - 1), required=True)
@click.option("--import-wh", type=click.IntRange(0), default=None,
              help="import register as the meter reads it now [default: the probe's]")
@click.option("--export-wh", type=click.IntRange(0), default=None,
              help="export register as the meter reads it now [default: the probe's]")
@click.option("--probe-json", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="what `energo-oracle probe --out FILE` read from the meter; registers far below it are refused")
@click.option("--new-meter", is_flag=True, help="a new meter whose registers read 0 (no probe needed)")
def register_meter(account, deployments_path, meter_id, signer, household, kind, rated_power_w, import_wh, export_wh,
                   probe_json, new_meter, **backend):
    """Register a meter (needs REGISTRAR_ROLE) at the registers it reads now."""
    probe = _run(MeterProbe.load, probe_json) if probe_json else None
    import_wh, export_wh = _run(initial_registers, import_wh, export_wh, probe, new_meter)
    ops = _ops(account, deployments_path, backend)
    _run(ops.register_meter, meter_id, signer, household, kind, rated_power_w, import_wh, export_wh, probe)
    click.echo(f"registered meter {meter_id} for {household} at {import_wh} Wh imported, {export_wh} Wh exported")


@cli.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@with_backend_options
@deployments_option
@click.option("--meter-id", type=click.IntRange(1, 2**32 - 1), required=True)
def revoke_meter(account, deployments_path, meter_id, **backend):
    """Revoke a meter (needs REGISTRAR_ROLE)."""
    _run(_ops(account, deployments_path, backend).revoke_meter, meter_id)
    click.echo(f"revoked meter {meter_id}")


@cli.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@with_backend_options
@deployments_option
@click.option("--household", required=True)
@click.option("--tsl", "amount", type=Decimal, required=True, help="amount of TSL to send")
def fund(account, deployments_path, household, amount, **backend):
    """Send TSL from the treasury (the account) to a household."""
    _run(_ops(account, deployments_path, backend).fund_household, household, amount)
    click.echo(f"sent {amount} TSL to {household}")


@cli.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@with_backend_options
@deployments_option
def pause(account, deployments_path, **backend):
    """Pause the battery, the ledger and the markets (needs the admin role)."""
    changed = _run(_ops(account, deployments_path, backend).pause)
    click.echo(f"paused: {', '.join(changed) or 'nothing (already paused)'}")


@cli.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@with_backend_options
@deployments_option
def unpause(account, deployments_path, **backend):
    """Unpause (needs the admin role)."""
    changed = _run(_ops(account, deployments_path, backend).unpause)
    click.echo(f"unpaused: {', '.join(changed) or 'nothing (not paused)'}")


@cli.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@with_backend_options
@deployments_option
@click.option("--tsl-per-kwh-day", type=Decimal, required=True)
def set_rent(account, deployments_path, tsl_per_kwh_day, **backend):
    """Change the storage rent rate, from now on (needs the admin role)."""
    _run(_ops(account, deployments_path, backend).set_rent_rate, tsl_per_kwh_day)
    click.echo(f"rent is now {tsl_per_kwh_day} TSL per kWh per day")


@cli.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@with_backend_options
@deployments_option
@click.option("--tsl-per-kwh", type=Decimal, required=True)
def set_utility_price(account, deployments_path, tsl_per_kwh, **backend):
    """Change the utility's reference price (needs the admin role)."""
    _run(_ops(account, deployments_path, backend).set_utility_price, tsl_per_kwh)
    click.echo(f"utility price is now {tsl_per_kwh} TSL per kWh")

"""`ape run deploy`: deploy the whole Energo system to the chosen network.

    ape run deploy --network qtum:local --account TEST::0 --config deploy/local.toml --yes

Idempotent: addresses are recorded per chain id in deployments/<chainId>.json; a re-run
skips what is recorded after checking the code at each address. On a live network it
asks before broadcasting; --yes is for automation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand, account_option

from energo_deploy import DeployConfig, DeploymentError, default_deployments_path, deploy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ape_backend import choose_backend, with_backend_options  # noqa: E402


@click.command(cls=ConnectedProviderCommand)
@account_option(prompt=False)
@with_backend_options
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("deploy/local.toml"), show_default=True, help="deploy configuration (TOML)")
@click.option("--deployments", "deployments_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="deployments file [default: deployments/<chainId>.json]")
@click.option("--yes", is_flag=True, help="do not ask before broadcasting on a live network")
def cli(ecosystem, network, provider, account, config_path, deployments_path, yes, **backend_options):
    config = DeployConfig.from_toml(config_path)
    backend = choose_backend(account, **backend_options)
    path = deployments_path or default_deployments_path(backend.chain_id)
    live = not network.is_local
    click.echo(f"Deploying Energo to {ecosystem.name}:{network.name} (chain {backend.chain_id}) "
               f"from {backend.sender}, config {config_path}, recording in {path}")
    if live and not yes:
        click.confirm("This broadcasts transactions on a live network. Continue?", abort=True)
    try:
        result = deploy(backend, config, path, log=click.echo)
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from None
    for action in result.actions:
        click.echo(f"  {action}")
    click.echo(f"Done: {len(result.deployed)} deployed, {len(result.skipped)} already there. "
               f"Addresses in {path}")

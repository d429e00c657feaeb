"""Adapts Ape accounts to energo.deployment's Backend (files starting with _ are not
scripts for `ape run`). The contracts come from energo/artifacts, the same compiled
code the runtime packages use, so there is one source of truth for bytecode."""

from __future__ import annotations

from typing import Any

import click
from ape import chain
from ape.contracts import ContractContainer, ContractInstance
from ethpm_types import ContractType
from hexbytes import HexBytes

from energo import artifacts
from energo.constants import CHAIN_IDS


def contract_type(name: str) -> ContractType:
    art = artifacts.load(name)
    return ContractType.model_validate({
        "contractName": name,
        "abi": art["abi"],
        "deploymentBytecode": {"bytecode": art["bytecode"]},
        "runtimeBytecode": {"bytecode": art["deployedBytecode"]},
    })


def _plain(value: Any) -> Any:
    if isinstance(value, HexBytes | bytes):
        return bytes(value)
    return value


class ApeBackend:
    def __init__(self, account, confirm_each: bool = False):
        self.account = account
        self.chain_id = chain.chain_id
        self.sender = account.address
        self.confirm_each = confirm_each

    def _instance(self, name: str, address: str) -> ContractInstance:
        return ContractInstance(address, contract_type=contract_type(name))

    def deploy(self, name: str, args: list) -> str:
        if self.confirm_each:
            click.confirm(f"Deploy {name}?", abort=True)
        instance = self.account.deploy(ContractContainer(contract_type(name)), *args)
        return instance.address

    def transact(self, name: str, address: str, fn: str, args: list) -> None:
        getattr(self._instance(name, address), fn)(*args, sender=self.account)

    def call(self, name: str, address: str, fn: str, args: list) -> Any:
        return _plain(getattr(self._instance(name, address), fn)(*args))

    def code_at(self, address: str) -> bytes:
        return bytes(chain.provider.get_code(address))


# ---------------------------------------------------------------- choosing a backend

QTUM_NETWORKS = {chain_id: name.removeprefix("qtum-") for name, chain_id in CHAIN_IDS.items()}

backend_options = [
    click.option("--janus-account", default=None,
                 help="Qtum: send with eth_sendTransaction, signed by qtumd's wallet behind Janus "
                      "(the account's hex address)"),
    click.option("--qtum-keystore", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="Qtum: sign Qtum transactions locally with this encrypted keystore (no qtumd wallet)"),
    click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="the keystore's passphrase (else $ENERGO_KEYSTORE_PASSPHRASE)"),
]


def with_backend_options(fn):
    for option in reversed(backend_options):
        fn = option(fn)
    return fn


def choose_backend(account, janus_account=None, qtum_keystore=None, passphrase_file=None):
    """Ape account (local chain), qtumd's wallet through Janus, or a local Qtum key."""
    import os

    from energo.tx import Sender
    from energo_deploy import Web3Backend

    if qtum_keystore:
        from eth_account import Account

        from energo_deploy.qtum_backend import QtumBackend
        from energo_qtum import JanusClient, QtumSigner

        if passphrase_file:
            passphrase = open(passphrase_file).read().strip()
        elif "ENERGO_KEYSTORE_PASSPHRASE" in os.environ:
            passphrase = os.environ["ENERGO_KEYSTORE_PASSPHRASE"]
        else:
            raise click.ClickException("give --passphrase-file or set ENERGO_KEYSTORE_PASSPHRASE")
        try:
            key = Account.decrypt(open(qtum_keystore).read(), passphrase)
        except ValueError as exc:
            raise click.ClickException(f"cannot decrypt {qtum_keystore}: {exc}") from None
        network = QTUM_NETWORKS.get(chain.chain_id)
        if network is None:
            raise click.ClickException(f"chain id {chain.chain_id} is not a Qtum network")
        confirmations = chain.provider.network.required_confirmations or 1
        return QtumBackend(JanusClient(chain.provider.uri), QtumSigner(bytes(key).hex(), network),
                           confirmations=confirmations)
    if janus_account:
        return Web3Backend(Sender(chain.provider.web3, chain.provider.web3.to_checksum_address(janus_account)))
    if account is None:
        raise click.ClickException("give --account (or --janus-account / --qtum-keystore on Qtum)")
    return ApeBackend(account)

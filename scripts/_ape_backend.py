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

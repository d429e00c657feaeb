"""The deployments file: where a deployment's contracts are, per chain id.

``deployments/<chainId>.json`` is ``{"chainId": 8890, "contracts": {name: address}}``.
The deploy engine writes it after every step (so a failed run resumes); the API and the
operator commands read it through this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import to_checksum_address

from energo.errors import EnergoError


class DeploymentError(EnergoError, RuntimeError):
    """A deployment cannot go on, or its record cannot be used; the message says what to fix."""


@dataclass
class Deployments:
    """Addresses recorded per chain id; written after every step so a failed run resumes."""

    path: Path | None  # None: kept in memory only (tests)
    chain_id: int | None  # None: a flat name -> address mapping that names no chain
    contracts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Deployments:
        """The file as it is, whatever chain it records; refuses a missing or malformed file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DeploymentError(f"cannot read deployments file {path}: {exc}") from exc
        if isinstance(data, dict) and isinstance(data.get("contracts"), dict):
            return cls(path=path, chain_id=data.get("chainId"), contracts=dict(data["contracts"]))
        if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
            return cls(path=path, chain_id=None, contracts=dict(data))
        raise DeploymentError(f"{path}: expected {{'chainId': …, 'contracts': {{name: address}}}}")

    @classmethod
    def load(cls, path: Path, chain_id: int) -> Deployments:
        """The record for ``chain_id``: empty if the file does not exist yet, refused if
        the file records another chain."""
        path = Path(path)
        if not path.exists():
            return cls(path=path, chain_id=chain_id)
        data = json.loads(path.read_text())
        if data.get("chainId") != chain_id:
            raise DeploymentError(
                f"{path} records chain id {data.get('chainId')}, but the connected chain is {chain_id}: "
                "wrong network or wrong deployments file"
            )
        return cls(path=path, chain_id=chain_id, contracts=dict(data.get("contracts", {})))

    def record(self, name: str, address: str) -> None:
        self.contracts[name] = to_checksum_address(address)
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"chainId": self.chain_id, "contracts": self.contracts}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)


def default_deployments_path(chain_id: int, root: Path | None = None) -> Path:
    return (root or Path.cwd()) / "deployments" / f"{chain_id}.json"

"""ABIs and bytecode exported by ``python -m energo.build`` (one source of truth)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils.abi import get_abi_output_types
from web3 import Web3
from web3._utils.abi import map_abi_data  # web3 is pinned; call() decodes results the same way
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.contract import Contract

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@cache
def load(name: str) -> dict:
    path = ARTIFACTS / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no artifact {name!r} in {ARTIFACTS}: run `make compile`")
    return json.loads(path.read_text())


def abi(name: str) -> list:
    return load(name)["abi"]


# ------------------------------------------------------------------ calls by other transports
#
# The one way to call a contract from Python is a web3.py contract object built from these
# artifacts. Where a call travels by another transport (the gateway's Qtum UTXOs, a Janus
# node), the same objects encode the calldata and decode the result, with no node attached.


@cache
def interface(name: str) -> type[Contract]:
    """Artifact ``name`` as a web3.py contract object with no address and no node."""
    return Web3().eth.contract(abi=abi(name))


def calldata(name: str, fn: str, *args: Any) -> bytes:
    """The calldata of ``fn(*args)`` on contract ``name``."""
    return bytes.fromhex(interface(name).encode_abi(fn, args=list(args))[2:])


def decode_result(name: str, fn: str, raw: bytes) -> Any:
    """What ``fn`` on contract ``name`` returned, as web3.py's ``call()`` returns it
    (addresses checksummed; one value unwrapped, several as a tuple)."""
    contract = interface(name)
    types = get_abi_output_types(contract.get_function_by_name(fn).abi)
    values = map_abi_data(BASE_RETURN_NORMALIZERS, types, contract.w3.codec.decode(types, raw))
    return values[0] if len(values) == 1 else tuple(values)

"""Qtum networks: the version bytes of addresses and WIF keys, and chain ids.

One source of truth: every other module looks networks up here (the chain ids are the
kernel's, energo.constants).
"""

from __future__ import annotations

from dataclasses import dataclass

from energo.constants import CHAIN_IDS

from .errors import InvalidSpecError


@dataclass(frozen=True)
class QtumNetwork:
    name: str
    pubkeyhash_version: int  # base58 version byte of P2PKH addresses
    wif_version: int  # base58 version byte of WIF private keys
    chain_id: int  # what CHAINID and eth_chainId return


MAINNET = QtumNetwork("mainnet", pubkeyhash_version=0x3A, wif_version=0x80, chain_id=CHAIN_IDS["qtum-mainnet"])
TESTNET = QtumNetwork("testnet", pubkeyhash_version=0x78, wif_version=0xEF, chain_id=CHAIN_IDS["qtum-testnet"])
REGTEST = QtumNetwork("regtest", pubkeyhash_version=0x78, wif_version=0xEF, chain_id=CHAIN_IDS["qtum-regtest"])

NETWORKS = {network.name: network for network in (MAINNET, TESTNET, REGTEST)}


def get_network(network: str | QtumNetwork) -> QtumNetwork:
    if isinstance(network, QtumNetwork):
        return network
    try:
        return NETWORKS[network]
    except KeyError:
        known = ", ".join(NETWORKS)
        raise InvalidSpecError(f"unknown Qtum network {network!r} (known: {known})") from None

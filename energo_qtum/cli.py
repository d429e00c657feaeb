"""The ``energo-qtum`` command. Every result is one JSON object on stdout; bad input
exits non-zero with a one-line message on stderr, never a traceback."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from .checks import format_qtum
from .encoding import strip_0x
from .errors import InvalidKeyError, InvalidSpecError, QtumError
from .janus import WEI_PER_SATOSHI, JanusClient
from .keys import base58_to_hex, sender_address
from .networks import NETWORKS
from .spec import sign_spec
from .tx import contract_address

EXIT_BAD_INPUT = 1
EXIT_INTERNAL_ERROR = 3


def _emit(result: dict[str, Any]) -> None:
    click.echo(json.dumps(result, sort_keys=True))


def _reports_errors(command: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except QtumError as error:
            click.echo(f"energo-qtum: {error.user_message}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as error:  # a bug, but the contract is one line on stderr
            click.echo(f"energo-qtum: internal error: {type(error).__name__}: {error}", err=True)
            sys.exit(EXIT_INTERNAL_ERROR)

    return wrapper


def _address_to_hex(address: str) -> str:
    """Accept a base58 Qtum address or a 20-byte hex address."""
    hex_text = strip_0x(address)
    if len(hex_text) == 40:
        try:
            bytes.fromhex(hex_text)
            return hex_text.lower()
        except ValueError:
            pass
    return base58_to_hex(address)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Qtum keys, addresses and transaction signing for Energo."""


network_option = click.option("--network", type=click.Choice(sorted(NETWORKS)), default="regtest", show_default=True)


@cli.command()
@click.option("--privkey", default=None, help="Private key: 64 hex digits or WIF.")
@click.option("--keystore", type=click.Path(exists=True, dir_okay=False), default=None,
              help="An encrypted keystore (eth-account's format) instead of --privkey.")
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The keystore's passphrase (else $ENERGO_KEYSTORE_PASSPHRASE).")
@network_option
@_reports_errors
def address(privkey: str | None, keystore: str | None, passphrase_file: str | None, network: str) -> None:
    """Print the Qtum sender address (base58 and hash160 hex) of a key."""
    if keystore is not None and privkey is None:  # click has checked that the keystore file exists
        privkey = _decrypt_keystore(keystore, passphrase_file)
    elif privkey is None or keystore is not None:
        raise InvalidKeyError("give exactly one of --privkey or --keystore")
    _emit(sender_address(privkey, network).as_dict())


def _decrypt_keystore(path: str, passphrase_file: str | None) -> str:
    import os

    from eth_account import Account

    if passphrase_file:
        passphrase = open(passphrase_file).read().strip()
    elif "ENERGO_KEYSTORE_PASSPHRASE" in os.environ:
        passphrase = os.environ["ENERGO_KEYSTORE_PASSPHRASE"]
    else:
        raise InvalidKeyError("give --passphrase-file or set ENERGO_KEYSTORE_PASSPHRASE")
    try:
        return bytes(Account.decrypt(open(path).read(), passphrase)).hex()
    except (ValueError, KeyError) as exc:
        raise InvalidKeyError(f"cannot decrypt {path}: {exc}") from None


@cli.command("contract-address")
@click.option("--txid", required=True, help="Creating transaction id, as displayed.")
@click.option("--vout", required=True, type=click.IntRange(0, 0xFFFFFFFF), help="Index of the OP_CREATE output.")
@_reports_errors
def contract_address_command(txid: str, vout: int) -> None:
    """Print the address of the contract created by output VOUT of TXID."""
    _emit({"address": contract_address(txid, vout)})


@cli.command()
@_reports_errors
def sign() -> None:
    """Sign the transaction spec read as JSON from stdin."""
    text = sys.stdin.read()
    try:
        spec = json.loads(text)
    except ValueError as error:
        raise InvalidSpecError(f"stdin is not valid JSON ({error})") from None
    signed = sign_spec(spec)
    _emit({"raw_hex": signed.raw_hex, "txid": signed.txid})


janus_option = click.option("--janus-url", required=True, envvar="ENERGO_JANUS_URL", help="Janus JSON-RPC URL.")
address_option = click.option("--address", "address_text", required=True, help="Base58 or hash160 hex address.")


@cli.command()
@address_option
@janus_option
@_reports_errors
def balance(address_text: str, janus_url: str) -> None:
    """Print an address' balance and its spendable (mature P2PK/P2PKH) part."""
    address_hex = _address_to_hex(address_text)
    janus = JanusClient(janus_url)
    balance_sat = janus.get_balance_wei(address_hex) // WEI_PER_SATOSHI
    spendable_sat = sum(utxo.value_sat or 0 for utxo in janus.get_utxos(address_hex))  # Janus lists every amount
    _emit(
        {
            "hex": address_hex,
            "balance_sat": balance_sat,
            "balance_qtum": format_qtum(balance_sat),
            "spendable_sat": spendable_sat,
            "spendable_qtum": format_qtum(spendable_sat),
        }
    )


@cli.command()
@address_option
@janus_option
@click.option("--include-immature", is_flag=True, help="Also list immature coinbase/stake outputs.")
@_reports_errors
def utxos(address_text: str, janus_url: str, include_immature: bool) -> None:
    """List an address' P2PK and P2PKH outputs as Janus reports them."""
    address_hex = _address_to_hex(address_text)
    coins = JanusClient(janus_url).get_utxos(address_hex, mature_only=not include_immature)
    _emit(
        {
            "hex": address_hex,
            "utxos": [
                {
                    "txid": coin.txid,
                    "vout": coin.vout,
                    "value_sat": coin.value_sat,
                    "script_pubkey": coin.script_pubkey.hex(),
                    "confirmations": coin.confirmations,
                    "mature": coin.mature,
                }
                for coin in coins
            ],
        }
    )


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="energo-qtum")


__all__ = ["main", "cli"]

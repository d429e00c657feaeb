"""The kernel's contract facts against the Solidity and the ABIs they describe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from eth_utils import keccak

from energo import artifacts, facts

INTERFACES = Path(__file__).resolve().parents[2] / "interfaces"


def solidity_enum(file: str, name: str) -> list[str]:
    source = (INTERFACES / file).read_text()
    body = re.search(rf"enum {name} \{{(.*?)\}}", source, re.S)
    assert body, f"enum {name} not found in {file}"
    members = [re.sub(r"//.*", "", line).strip().rstrip(",") for line in body.group(1).splitlines()]
    return [m for m in members if m]


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@pytest.mark.parametrize(("enum", "file", "name"), [
    (facts.Side, "IMarket.sol", "Side"),
    (facts.RemovalReason, "IMarket.sol", "RemovalReason"),
    (facts.RoundPhase, "IMarketAuction.sol", "RoundPhase"),
    (facts.RejectReason, "IMeterLedger.sol", "RejectReason"),
])
def test_enums_follow_the_solidity_declaration_order(enum, file, name):
    assert [camel(member.name) for member in enum] == solidity_enum(file, name)
    assert [member.value for member in enum] == list(range(len(enum)))


def test_meter_kinds_follow_the_solidity():
    assert [camel(k) for k, _ in sorted(facts.METER_KINDS.items(), key=lambda kv: kv[1])] == \
        solidity_enum("IMeterLedger.sol", "MeterKind")


def test_roles_are_the_contracts_own(deployed):
    # The contracts expose their role ids as public constants: the kernel's are the same bytes.
    contracts = {"SharedBattery": deployed.battery, "MeterLedger": deployed.ledger}
    checked = 0
    for name, contract in contracts.items():
        for item in artifacts.abi(name):
            if item["type"] == "function" and item["name"].endswith("_ROLE") and not item["inputs"]:
                assert getattr(contract.functions, item["name"])().call() == getattr(facts, item["name"]), item["name"]
                checked += 1
    assert checked >= 4  # DEFAULT_ADMIN_ROLE and the ledger's and battery's own roles
    assert facts.MARKET_ROLE == keccak(text="MARKET_ROLE")


def test_market_contracts_exist_for_every_mode():
    assert set(facts.MARKET_CONTRACTS) == set(facts.MARKET_MODES)
    for contract in facts.MARKET_CONTRACTS.values():
        assert artifacts.abi(contract)


def test_order_key_round_trips_the_bit_layout():
    key = facts.OrderKey(book_id=7, side=facts.Side.SELL, tick=facts.MAX_TICK, index=(1 << facts.INDEX_BITS) - 1)
    order_id = key.encode()
    assert facts.OrderKey.decode(order_id) == key
    assert facts.book_of(order_id) == 7


def test_cost_rounds_as_the_market_does_unless_asked_to_round_up():
    assert facts.cost_tsl(1_500, 600 * 10**15) == 900 * 10**15  # on the tick grid: exact either way
    assert facts.cost_tsl(1, 999) == 0  # the markets' _cost rounds down
    assert facts.cost_tsl(1, 999, round_up=True) == 1
    assert facts.cost_tsl(1_500, 600 * 10**15, round_up=True) == 900 * 10**15


def test_market_settings_build_the_constructor_arguments():
    continuous = facts.MarketSettings()
    auction = facts.MarketSettings(mode="auction", round_length_s=600, fee_recipient="0x" + "11" * 20)
    battery = "0x" + "22" * 20
    assert continuous.constructor_args(battery) == [battery, (10**15, 100, 0, facts.ZERO_ADDRESS, False)]
    assert auction.contract == "CallAuctionMarket"
    assert auction.constructor_args(battery) == [battery, (10**15, 100, 0, "0x" + "11" * 20, False), 600]

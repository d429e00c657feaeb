"""The chain cost in the demo's report, and the settlement cadence, on a real anvil.

Small days (4 households) run through the demo's own functions; while the chain is still
up the test reads it again itself, with web3.py (blocks, receipts, logs), and checks the
report's chain-cost section against that: the categories add up to the gas of the day's
blocks, nothing is left out or unclassified, the readings and clearing categories are
exactly the transactions that carried readings and cleared rounds, and the households'
shares add up to the day. A longer settlement cadence submits fewer reading
transactions, every reading is still accepted, and the meters' cumulative registers give
the same energy at the end of the day.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from energo_community import CommunityOptions, start_community
from energo_community.__main__ import parse_args
from energo_community.economics import CATEGORIES, GAS_PRICE_SAT, SAT_PER_QTUM
from energo_community.options import OptionsError
from energo_community.report import format_report
from energo_community.run import finish, run_day

HOUSEHOLDS = 4
SEED = 7
#: (mode, reading interval, settlement cadence): meters read hourly, settled hourly or every 3 h.
RUNS = {"auction-60": ("auction", 60, 60), "auction-180": ("auction", 60, 180),
        "continuous-180": ("continuous", 180, None)}


def _chain_facts(community) -> dict:
    """What the test reads from the chain itself (web3.py, not the demo's code)."""
    w3 = community.w3
    head = w3.eth.block_number
    blocks = [w3.eth.get_block(n, full_transactions=True) for n in range(1, head + 1)]
    gas = {}
    for block in blocks:
        for tx in block["transactions"]:
            gas[tx["hash"].to_0x_hex()] = w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"]

    def txs_with(contract, event: str, first: int) -> set[str]:
        logs = w3.eth.get_logs({"address": contract.address, "fromBlock": first, "toBlock": head,
                                "topics": [contract.events[event]().topic]})
        return {log["transactionHash"].to_0x_hex() for log in logs}

    day_first = community.interval_blocks[0]
    ledger, market = community.ledger, community.market
    return {
        "head": head,
        "day_first": day_first,
        "deploy_block": community.deploy_block,
        "header_gas": {b["number"]: b["gasUsed"] for b in blocks},
        "tx_count": {b["number"]: len(b["transactions"]) for b in blocks},
        "gas": gas,
        "reading_txs": txs_with(ledger, "ReadingAccepted", day_first) | txs_with(ledger, "ReadingRejected", day_first),
        "cleared_txs": txs_with(market, "RoundCleared", day_first) if community.options.mode == "auction" else set(),
        "round_length": community.market.functions.roundLength().call() if community.options.mode == "auction"
        else None,
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    results = {}
    for name, (mode, interval, settlement) in RUNS.items():
        options = CommunityOptions(households=HOUSEHOLDS, mode=mode, seed=SEED, interval_minutes=interval,
                                   settlement_minutes=settlement, out=tmp_path_factory.mktemp(name))
        with start_community(options) as community:
            run_day(community, progress=False)
            report, checks, _chart, _path = finish(community)
            results[name] = (options, report, checks, _chain_facts(community))
    return results


@pytest.fixture(params=list(RUNS))
def run(request, runs):
    return runs[request.param]


def test_the_chain_facts_see_the_readings(runs):
    # guards _chain_facts: had the logs query found nothing, the checks below would be vacuous
    for _options, report, _checks, facts in runs.values():
        assert len(facts["reading_txs"]) == report["community"]["reading_txs"] > 0


def test_categories_add_up_to_the_gas_of_the_days_blocks(run):
    options, report, checks, facts = run
    assert all(c.ok for c in checks)
    cost = report["chain_cost"]
    day = cost["scopes"]["day"]
    day_blocks = range(facts["day_first"], facts["head"] + 1)
    assert day["blocks"] == len(day_blocks)
    assert day["gas"] == sum(facts["header_gas"][n] for n in day_blocks)
    assert day["transactions"] == sum(facts["tx_count"][n] for n in day_blocks)
    assert sum(day["categories"][c]["gas"] for c in CATEGORIES) == day["gas"]
    assert sum(day["categories"][c]["transactions"] for c in CATEGORIES) == day["transactions"]
    assert sum(f["gas"] for f in day["functions"].values()) == day["gas"]
    assert all(f["category"] in CATEGORIES for f in day["functions"].values())
    # every block from the first after genesis is in one scope: nothing missed
    assert sum(cost["scopes"][s]["gas"] for s in ("deployment", "setup", "day")) == sum(facts["header_gas"].values())
    assert cost["scopes"]["setup"]["gas"] == sum(facts["header_gas"][n]
                                                 for n in range(facts["deploy_block"] + 1, facts["day_first"]))
    # every transaction is known: none unclassified, none of the day is a deployment
    for scope in cost["scopes"].values():
        assert scope["categories"]["other"]["transactions"] == 0
    assert day["categories"]["deployment"]["transactions"] == 0
    assert cost["scopes"]["setup"]["categories"]["deposits"]["transactions"] == 2 * HOUSEHOLDS  # approve + deposit


def test_readings_and_clearing_are_the_transactions_that_carried_them(run):
    options, report, _checks, facts = run
    day = report["chain_cost"]["scopes"]["day"]["categories"]
    assert day["readings"]["transactions"] == len(facts["reading_txs"])
    assert day["readings"]["gas"] == sum(facts["gas"][h] for h in facts["reading_txs"])
    if options.mode == "auction":
        assert day["clearing"]["transactions"] == len(facts["cleared_txs"]) > 0
        assert day["clearing"]["gas"] == sum(facts["gas"][h] for h in facts["cleared_txs"])
    assert day["orders"]["transactions"] > 0
    assert day["operator"]["transactions"] >= options.intervals + 1  # settleRent at every settlement


def test_per_household_day_and_qtum(run):
    options, report, _checks, _facts = run
    cost = report["chain_cost"]
    day_gas = cost["scopes"]["day"]["gas"]
    household_days = options.households * options.days
    phd = cost["per_household_day"]
    assert phd["gas"] == day_gas // household_days
    assert phd["qtum"] == pytest.approx(day_gas / household_days * GAS_PRICE_SAT / SAT_PER_QTUM, abs=1e-8)
    assert sum(phd["categories"].values()) <= phd["gas"] < sum(phd["categories"].values()) + len(CATEGORIES)
    shares = [h["chain_cost"] for h in report["households"]]
    assert abs(sum(s["gas"] for s in shares) - day_gas) <= len(shares)
    for share in shares:
        assert abs(share["own_gas"] + share["readings_gas"] + share["shared_gas"] - share["gas"]) <= 2
        assert share["qtum_per_day"] == pytest.approx(share["gas_per_day"] * GAS_PRICE_SAT / SAT_PER_QTUM, abs=1e-6)
    # each household's TSL beside its gas: earnings are its sales, and sales pay for purchases
    assert sum(h["earned_tsl"] for h in report["households"]) == sum(h["paid_tsl"] for h in report["households"])
    text = format_report(report)
    assert "Chain cost" in text and f"{phd['gas']:,}" in text
    for h in report["households"]:
        assert f"{h['chain_cost']['gas_per_day']:,}" in text


def test_a_longer_cadence_submits_fewer_reading_transactions_for_the_same_energy(runs):
    _o60, hourly, _c60, facts60 = runs["auction-60"]
    options, three_hourly, _c180, facts180 = runs["auction-180"]
    gateways = 2  # one household gateway (up to six households) and the battery's
    assert hourly["community"]["reading_txs"] == (24 + 1) * gateways
    assert three_hourly["community"]["reading_txs"] == (8 + 1) * gateways
    assert three_hourly["community"]["readings"] == (8 + 1) * (HOUSEHOLDS + 1)
    # the rules (rated power x elapsed time, registers never decrease ...) accept every reading
    assert hourly["community"]["readings_rejected"] == three_hourly["community"]["readings_rejected"] == 0
    # cumulative registers: the last reading covers the intervals, so the day's energy is the same
    for field in ("generated_wh", "consumed_wh"):
        assert three_hourly["community"][field] == hourly["community"][field]
    cost60 = hourly["chain_cost"]["per_household_day"]["categories"]
    cost180 = three_hourly["chain_cost"]["per_household_day"]["categories"]
    assert cost180["readings"] < cost60["readings"]
    assert cost180["operator"] < cost60["operator"]
    # a call-auction round is one settlement long
    assert facts60["round_length"] == 3_600 and facts180["round_length"] == 10_800
    assert three_hourly["options"]["settlement_minutes"] == 180 and options.intervals == 8


@pytest.mark.parametrize("kwargs", [
    {"settlement_minutes": 20},  # not a multiple of the 15-minute reading interval
    {"settlement_minutes": 0},
    {"settlement_minutes": 45 * 7},  # does not divide a day
    {"interval_minutes": 5, "settlement_minutes": 10, "mode": "auction"},  # auction rounds are multiples of 15 min
])
def test_cadences_that_cannot_settle_are_refused(kwargs):
    with pytest.raises(OptionsError):
        CommunityOptions(**kwargs)


def test_the_default_cadence_is_the_reading_interval():
    options = CommunityOptions()
    assert options.settlement == options.interval_minutes == 15
    assert options.intervals == 96
    hourly = CommunityOptions(settlement_minutes=60)
    assert hourly.intervals == 24 and hourly.interval_start(1) - hourly.interval_start(0) == 3_600
    assert Fraction(hourly.settlement_s, hourly.interval_s) == 4


def test_the_command_line_takes_a_cadence_or_compares_them(capsys):
    options, _progress, _serve, _port, compare = parse_args(["--mode", "auction", "--settlement-minutes", "60"])
    assert options.settlement == 60 and not compare
    options, *_rest, compare = parse_args(["--compare-cadences"])
    assert compare and options.settlement_minutes is None
    for argv in (["--compare-cadences", "--serve"], ["--compare-cadences", "--settlement-minutes", "30"],
                 ["--compare-cadences", "--interval-minutes", "60"], ["--settlement-minutes", "20"]):
        with pytest.raises(SystemExit):
            parse_args(argv)
    assert "--settlement-minutes" in capsys.readouterr().err

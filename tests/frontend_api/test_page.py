"""The web page in real headless Chromium (Debian's), with a test wallet injected: an
EIP-1193 provider whose requests go to the local anvil, where the dev accounts sign
(the browser, the served app and the wallet are conftest.py's `open_page`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def page(open_page):
    return open_page()


def _tokens(amount: int) -> str:
    return f"{amount / 10**18:,.2f}"


def _kwh(wh: int) -> str:
    return f"{wh / 1000:,.3f}".rstrip("0").rstrip(".") + " kWh"


def test_screen_shows_the_households_numbers(page, scenario):
    account = scenario.household.address
    bat = scenario.system.battery.functions
    assert page.text_content("#account-label") == f"{account[:6]}…{account[-4:]}"  # lower case was checksummed
    assert page.text_content("#watt-held") == _tokens(bat.balanceOf(account).call())
    assert page.text_content("#tsl-held") == _tokens(bat.freeTslOf(account).call())
    counters = bat.countersOf(account).call()
    assert page.text_content("#generated") == _kwh(counters[0]) == "3 kWh"
    assert page.text_content("#consumed") == _kwh(counters[2] + counters[3])
    assert page.text_content("#purchased") == _kwh(counters[5])
    assert page.text_content("#sold") == _kwh(counters[6])
    days = bat.daysOfStorage(account).call() // 10**18
    assert f"{days:,}" in page.text_content("#days")
    assert "saved" in page.text_content("#savings")
    assert page.locator("#bids tr.bid").count() >= 1 and page.locator("#asks tr.ask").count() >= 1
    assert page.locator("#chart svg rect").count() >= 48  # 24 hours, two bars each


def test_order_placed_through_the_page_then_cancelled(page, scenario):
    account = scenario.household.address
    bat = scenario.system.battery.functions
    locked_before = bat.lockedWattOf(account).call()
    page.click("label:has(input[value=sell]) span")
    page.fill("#order-price", "0.777")
    page.fill("#order-amount", "0.25")
    page.click("#place-order")
    row = page.locator('#asks tr[data-price="0.777"]')
    row.wait_for(timeout=20_000)
    assert "0.25" in row.text_content()
    mine = page.locator("#my-orders tr", has_text="0.777")
    mine.wait_for()
    order_id = int(mine.get_attribute("data-order-id"))
    on_chain = scenario.market.functions.order(order_id).call()
    assert on_chain[0] == account and on_chain[3] == 250
    assert bat.lockedWattOf(account).call() == locked_before + 250 * 10**15

    mine.locator("button").click()
    page.locator('#asks tr[data-price="0.777"]').wait_for(state="detached", timeout=20_000)
    assert bat.lockedWattOf(account).call() == locked_before
    assert scenario.market.functions.order(order_id).call()[0] == "0x" + "0" * 40


def test_deposit_with_permit_through_the_page(page, scenario):
    account = scenario.household.address
    free = scenario.system.battery.functions.freeTslOf(account).call()
    page.fill("#tsl-amount", "5")
    page.click("#deposit")
    page.wait_for_function("() => document.getElementById('toast').textContent.startsWith('Done')", timeout=20_000)
    assert scenario.system.battery.functions.freeTslOf(account).call() >= free + 4 * 10**18


def test_too_little_balance_is_shown(page):
    page.click("label:has(input[value=sell]) span")
    page.fill("#order-price", "0.5")
    page.fill("#order-amount", "100000")
    page.click("#place-order")
    toast = page.locator("#toast[data-kind=error]")
    toast.wait_for()
    assert "not enough WATT" in toast.text_content()
    page.fill("#tsl-amount", "99999999")
    page.click("#withdraw")
    page.wait_for_function("() => document.getElementById('toast').textContent.includes('free to withdraw')")


def test_a_rejected_transaction_is_shown(page, scenario):
    page.evaluate("() => { window.__testWallet.rejectNext = true; }")
    page.click("label:has(input[value=buy]) span")
    page.fill("#order-price", "0.2")
    page.fill("#order-amount", "0.1")
    page.click("#place-order")
    page.wait_for_function("() => document.getElementById('toast').textContent.includes('rejected')")
    assert page.get_attribute("#toast", "data-kind") == "error"


def test_auction_countdown_counts_the_apis_seconds_left(page, scenario):
    """Broken 4: the countdown added the chain's clock skew to closesAt - now (the scenario's
    chain runs a day ahead of the wall clock, as the demo's does), showing "2882:05"."""
    head = scenario.w3.eth.get_block("latest")["timestamp"]
    text = page.evaluate("""async (closesAt) => {
        const m = await import("/static/app.js");
        m.renderRank({round: {roundId: 5, closesAt, secondsLeft: 125, lengthS: 900}, orders: []});
        const shown = document.getElementById("countdown").textContent;
        m.renderRank(null);
        return shown;
    }""", head + 125)
    assert text in ("2:05", "2:04")


def test_stale_and_degraded_states_are_said_in_words(page):
    shown = page.evaluate("""async () => {
        const m = await import("/static/app.js");
        const base = {status: "degraded", stale: true, chainHead: 41, indexedBlock: 41, indexerLagBlocks: 0,
                      chainHeadAgeS: 1800, readingMaxAgeS: 3600, silentMeters: [], reasons: []};
        const out = {};
        m.renderHealth({...base, reasons: ["node_unreachable", "indexer_error"]});
        out.down = [document.getElementById("health-banner").textContent,
                    document.getElementById("chain-status").className];
        m.renderHealth({...base, reasons: ["chain_halted", "silent_meters"], silentMeters: [3, 4]});
        out.halted = [document.getElementById("health-banner").textContent, document.body.dataset.health];
        m.renderHealth({...base, status: "ok", stale: false});
        out.ok = [document.getElementById("health-banner").classList.contains("hidden"),
                  document.getElementById("chain-status").className];
        return out;
    }""")
    assert "chain node is not answering" in shown["down"][0] and "block 41" in shown["down"][0]
    assert shown["down"][1] == "pill down"
    assert "No new block for 30 min" in shown["halted"][0] and "meters 3, 4" in shown["halted"][0]
    assert shown["halted"][1] == "stale"
    assert shown["ok"] == [True, "pill ok"]

"""Signed place and cancel intents, relayed in batches by anyone (IMarketIntents).

Households here are fresh keys that never send a market transaction themselves: the
relayer sends everything, the signature says who acts."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3.logs import DISCARD

from energo.constants import TSL
from energo.facts import Side
from energo.intents import CancelIntent, MarketDomain, PlaceIntent
from energo.tx import Sender, TxFailed

from .conftest import CONFIG

PRICE = 300 * CONFIG.tick_size  # 0.30 TSL/kWh
REJECTION = ["None", "Expired", "NonceUsed", "BadSignature", "Refused"]


class Household:
    """A key that signs intents; funded (TSL deposited, WATT minted) through its own
    transactions only because deposits by permit are not part of this step."""

    def __init__(self, env, w3, name: str, tsl: int = 100 * TSL, watt_wh: int = 0):
        # A fresh key each time: the package's funder remembers the meters it registered,
        # which each test's snapshot rolls back.
        self.account = Account.create(name)
        self.address = self.account.address
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": self.address, "value": 10**21,
                                 "gasPrice": 400 * 10**9, "type": 0})
        sender = Sender(w3, self.account)
        if tsl:
            env.funder.give_tsl(sender, tsl)
        if watt_wh:
            env.funder.give_watt(self.address, watt_wh)
        self.nonce = 0

    def next_nonce(self) -> int:
        self.nonce += 1
        return self.nonce


def _deadline(w3) -> int:
    return w3.eth.get_block("latest")["timestamp"] + 3600


def _place(household: Household, w3, side=Side.BUY, price=PRICE, amount_wh=500, **options) -> PlaceIntent:
    return PlaceIntent(household.address, side, price, amount_wh, options.pop("nonce", household.next_nonce()),
                       options.pop("deadline", _deadline(w3)), **options)


def _sign(market, w3, household: Household, intent, key=None):
    domain = MarketDomain(w3.eth.chain_id, market.address)
    if key is None:
        return domain.sign(bytes(household.account.key), intent)
    # A forgery: another key over the same typed data (MarketDomain.sign refuses to).
    signed = Account.sign_message(encode_typed_data(full_message=domain.typed_data(intent)), key.key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def _outcomes(market, receipt) -> list[tuple[str, int, str]]:
    """(account, nonce, 'Applied' or the rejection), in log order."""
    out = []
    for log in receipt["logs"]:
        for event in (market.events.IntentApplied, market.events.IntentRejected):
            decoded = event().process_receipt({"logs": [log]}, errors=DISCARD)
            for d in decoded:
                reason = "Applied" if d["event"] == "IntentApplied" else REJECTION[d["args"]["reason"]]
                out.append((d["args"]["account"], d["args"]["nonce"], reason))
    return out


def _relay_places(market, relayer, pairs):
    intents = [intent.as_tuple() for intent, _ in pairs]
    signatures = [signature for _, signature in pairs]
    return relayer.transact(market.functions.placeOrdersFor(intents, signatures))


@pytest.fixture
def alice(env, w3):
    return Household(env, w3, "alice")


@pytest.fixture
def bob(env, w3):
    return Household(env, w3, "bob", tsl=100 * TSL, watt_wh=2_000)


def test_the_contract_and_python_agree_on_the_digests(cda, w3, alice):
    domain = MarketDomain(w3.eth.chain_id, cda.address)
    place = _place(alice, w3, expires_at=0)
    cancel = CancelIntent(alice.address, 12345, 7, _deadline(w3))
    assert cda.functions.placeDigest(place.as_tuple()).call() == domain.digest(place)
    assert cda.functions.cancelDigest(cancel.as_tuple()).call() == domain.digest(cancel)


def test_a_relayed_place_rests_an_order_owned_and_paid_for_by_the_signer(cda, w3, env, alice, relayer):
    free_before = env.system.battery.functions.freeTslOf(alice.address).call()
    intent = _place(alice, w3)
    receipt = _relay_places(cda, relayer, [(intent, _sign(cda, w3, alice, intent))])
    assert _outcomes(cda, receipt) == [(alice.address, intent.nonce, "Applied")]
    [placed] = cda.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
    assert placed["args"]["owner"] == alice.address != relayer.address
    [applied] = cda.events.IntentApplied().process_receipt(receipt, errors=DISCARD)
    assert applied["args"]["orderId"] == placed["args"]["orderId"]
    assert env.system.battery.functions.freeTslOf(alice.address).call() == free_before - 500 * PRICE // 1000
    assert cda.functions.nonceUsed(alice.address, intent.nonce).call()


def test_a_relayed_taker_trades_as_the_signer(cda, w3, alice, bob, relayer):
    ask = _place(bob, w3, side=Side.SELL, amount_wh=400)
    bid = _place(alice, w3, side=Side.BUY, amount_wh=400)
    receipt = _relay_places(cda, relayer, [(ask, _sign(cda, w3, bob, ask)), (bid, _sign(cda, w3, alice, bid))])
    [trade] = cda.events.Traded().process_receipt(receipt, errors=DISCARD)
    assert (trade["args"]["seller"], trade["args"]["buyer"], trade["args"]["amountWh"]) == \
        (bob.address, alice.address, 400)
    applied = cda.events.IntentApplied().process_receipt(receipt, errors=DISCARD)
    assert [a["args"]["filledWh"] for a in applied] == [0, 400]


def test_each_bad_intent_is_rejected_alone_and_the_rest_applies(cda, w3, alice, bob, relayer):
    good = _place(alice, w3)
    expired = _place(alice, w3, deadline=w3.eth.get_block("latest")["timestamp"] - 1)
    forged = _place(alice, w3)  # signed by bob's key for alice's account
    too_small = _place(alice, w3, amount_wh=CONFIG.min_size_wh - 1)
    also_good = _place(bob, w3, side=Side.SELL, price=PRICE * 2)
    replay = good
    pairs = [(good, _sign(cda, w3, alice, good)), (expired, _sign(cda, w3, alice, expired)),
             (forged, _sign(cda, w3, alice, forged, key=bob.account)), (too_small, _sign(cda, w3, alice, too_small)),
             (also_good, _sign(cda, w3, bob, also_good)), (replay, _sign(cda, w3, alice, replay))]
    receipt = _relay_places(cda, relayer, pairs)
    assert [reason for _, _, reason in _outcomes(cda, receipt)] == \
        ["Applied", "Expired", "BadSignature", "Refused", "Applied", "NonceUsed"]
    [refused] = [r for r in cda.events.IntentRejected().process_receipt(receipt, errors=DISCARD)
                 if r["args"]["reason"] == 4]
    assert refused["args"]["detail"][:4] == w3.keccak(text="MarketBelowMinimum(uint256,uint256)")[:4]
    # A refusal uses up the nonce (the intent is final); a failed check does not.
    used = {i.nonce: cda.functions.nonceUsed(alice.address, i.nonce).call() for i in (expired, forged, too_small)}
    assert used == {expired.nonce: False, forged.nonce: False, too_small.nonce: True}


def test_an_intent_for_another_market_or_chain_is_a_bad_signature(cda, auction, w3, alice, relayer):
    intent = _place(alice, w3)
    for_auction = MarketDomain(w3.eth.chain_id, auction.address).sign(bytes(alice.account.key), intent)
    other_chain = MarketDomain(w3.eth.chain_id + 1, cda.address).sign(bytes(alice.account.key), intent)
    receipt = _relay_places(cda, relayer, [(intent, for_auction)])
    receipt2 = _relay_places(cda, relayer, [(intent, other_chain)])
    assert [r for _, _, r in _outcomes(cda, receipt) + _outcomes(cda, receipt2)] == ["BadSignature"] * 2


def test_cancel_intents_cancel_only_the_signers_orders(cda, w3, alice, bob, relayer):
    intent = _place(alice, w3)
    receipt = _relay_places(cda, relayer, [(intent, _sign(cda, w3, alice, intent))])
    [placed] = cda.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
    order_id = placed["args"]["orderId"]
    by_bob = CancelIntent(bob.address, order_id, bob.next_nonce(), _deadline(w3))
    by_alice = CancelIntent(alice.address, order_id, alice.next_nonce(), _deadline(w3))
    receipt = relayer.transact(cda.functions.cancelOrdersFor(
        [by_bob.as_tuple(), by_alice.as_tuple()], [_sign(cda, w3, bob, by_bob), _sign(cda, w3, alice, by_alice)]))
    assert [r for _, _, r in _outcomes(cda, receipt)] == ["Refused", "Applied"]
    [removed] = cda.events.OrderRemoved().process_receipt(receipt, errors=DISCARD)
    assert (removed["args"]["orderId"], removed["args"]["owner"]) == (order_id, alice.address)


def test_invalidated_nonces_never_apply(cda, w3, alice, relayer):
    intent = _place(alice, w3)
    Sender(w3, alice.account).transact(cda.functions.invalidateNonces(intent.nonce >> 8, 1 << (intent.nonce & 0xFF)))
    receipt = _relay_places(cda, relayer, [(intent, _sign(cda, w3, alice, intent))])
    assert [r for _, _, r in _outcomes(cda, receipt)] == ["NonceUsed"]


def test_nobody_but_the_market_calls_the_apply_entry_points(cda, w3, alice, attacker):
    intent = _place(alice, w3)
    with pytest.raises(TxFailed) as err:
        attacker.transact(cda.functions.applyPlace(intent.as_tuple()))
    assert err.value.error == "MarketOnlySelf" and err.value.args_ == (attacker.address,)


def test_too_little_gas_never_uses_up_a_nonce(cda, w3, alice, relayer):
    """A relayer that sends too little gas makes the whole batch revert; it can never get
    the intent rejected (and its nonce used) by starving it."""
    intent = _place(alice, w3)
    signature = _sign(cda, w3, alice, intent)
    call = cda.functions.placeOrdersFor([intent.as_tuple()], [signature])
    needed = call.estimate_gas({"from": relayer.address})
    outcomes = set()
    for gas in range(needed - 1, needed // 2, -max(1, needed // 40)):
        tx = call.build_transaction({"from": relayer.address, "gas": gas, "gasPrice": 400 * 10**9, "type": 0,
                                     "nonce": w3.eth.get_transaction_count(relayer.address)})
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))
        if receipt["status"] == 1:
            outcomes.add(tuple(r for _, _, r in _outcomes(cda, receipt)))
            break
        assert not cda.functions.nonceUsed(alice.address, intent.nonce).call()
        outcomes.add("reverted")
    assert ("Refused",) not in outcomes and "reverted" in outcomes


def test_the_auction_takes_signed_orders_for_its_open_round(auction, w3, alice, relayer):
    intent = _place(alice, w3)
    with_expiry = _place(alice, w3, expires_at=_deadline(w3))
    receipt = relayer.transact(auction.functions.placeOrdersFor(
        [intent.as_tuple(), with_expiry.as_tuple()],
        [_sign(auction, w3, alice, intent), _sign(auction, w3, alice, with_expiry)]))
    assert [r for _, _, r in _outcomes(auction, receipt)] == ["Applied", "Refused"]
    [placed] = auction.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
    assert placed["args"]["owner"] == alice.address
    assert auction.functions.rankOf(placed["args"]["orderId"]).call()[0] >= 1

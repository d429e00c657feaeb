"""TSL deposits and withdrawals, WATT transfers, and pause."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from energo.constants import TSL
from energo.constants import WATT_PER_WH as WH
from energo.tx import Sender, TxFailed

MAX_88 = 2**88 - 1


def test_deposit_and_withdraw_with_events(kit, households, treasury):
    h = households[0]
    kit.fund(treasury, h, 100 * TSL)
    receipt = kit.deposit(h, 60 * TSL)
    assert kit.events(kit.battery, "TslDeposited", receipt) == [{"account": h.address, "amount": 60 * TSL}]
    receipt = h.transact(kit.battery.functions.withdraw(20 * TSL))
    assert kit.events(kit.battery, "TslWithdrawn", receipt) == [{"account": h.address, "amount": 20 * TSL}]
    assert kit.battery.functions.freeTslOf(h.address).call() == 40 * TSL
    assert kit.system.tsl.functions.balanceOf(h.address).call() == 60 * TSL
    assert kit.system.tsl.functions.balanceOf(kit.battery.address).call() == 40 * TSL


def test_deposit_with_permit(kit, w3, treasury, admin):
    holder = Account.from_key(Web3.keccak(text="permit-holder"))
    # The permit is signed with the holder's key; anvil sends the transaction for it.
    w3.provider.make_request("anvil_setBalance", [holder.address, hex(10**20)])
    w3.provider.make_request("anvil_impersonateAccount", [holder.address])
    sender = Sender(w3, holder.address)
    treasury.transact(kit.system.tsl.functions.transfer(holder.address, 5 * TSL))
    tsl = kit.system.tsl
    deadline = kit.now() + 3_600
    message = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                       {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                       {"name": "deadline", "type": "uint256"}]},
        "primaryType": "Permit",
        "domain": {"name": "Energo Tesla", "version": "1", "chainId": kit.chain_id, "verifyingContract": tsl.address},
        "message": {"owner": holder.address, "spender": kit.battery.address, "value": 5 * TSL,
                    "nonce": tsl.functions.nonces(holder.address).call(), "deadline": deadline},
    })
    sig = Account.sign_message(message, private_key=holder.key)
    receipt = sender.transact(kit.battery.functions.depositWithPermit(
        5 * TSL, deadline, sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")))
    assert kit.events(kit.battery, "TslDeposited", receipt) == [{"account": holder.address, "amount": 5 * TSL}]
    assert kit.battery.functions.freeTslOf(holder.address).call() == 5 * TSL


def test_over_withdrawal_is_refused_with_values(kit, households, treasury):
    h = households[0]
    kit.fund(treasury, h, 10 * TSL)
    kit.deposit(h, 10 * TSL)
    with pytest.raises(TxFailed) as err:
        h.transact(kit.battery.functions.withdraw(10 * TSL + 1))
    assert (err.value.error, err.value.args_) == ("BatteryInsufficientFreeTsl", (h.address, 10 * TSL,
                                                                                10 * TSL + 1))


def test_withdrawal_never_takes_locked_tsl_or_rent_due(kit, households, treasury, market):
    h = households[0]
    kit.fund(treasury, h, 10 * TSL)
    kit.deposit(h, 10 * TSL)
    meter = kit.register(h.address)
    kit.charge(meter, 10_000)
    market.transact(kit.battery.functions.lockTsl(h.address, 4 * TSL))
    kit.advance(30 * 86_400)
    tsl_due, _ = kit.battery.functions.pendingRent(h.address).call()
    assert tsl_due > 0
    with pytest.raises(TxFailed) as err:
        h.transact(kit.battery.functions.withdraw(6 * TSL))
    assert err.value.error == "BatteryInsufficientFreeTsl"
    account, free, needed = err.value.args_
    assert free < 6 * TSL - tsl_due + 10**15 and needed == 6 * TSL  # what is left after rent up to now
    assert kit.battery.functions.lockedTslOf(h.address).call() == 4 * TSL


def test_zero_and_oversized_deposits(kit, households, treasury):
    h = households[0]
    with pytest.raises(TxFailed) as err:
        h.transact(kit.battery.functions.deposit(0))
    assert err.value.error == "BatteryZeroAmount"
    with pytest.raises(TxFailed) as err:
        h.transact(kit.battery.functions.withdraw(0))
    assert err.value.error == "BatteryZeroAmount"
    kit.fund(treasury, h, MAX_88 + 1)
    h.transact(kit.system.tsl.functions.approve(kit.battery.address, MAX_88 + 1))
    with pytest.raises(TxFailed) as err:
        h.transact(kit.battery.functions.deposit(MAX_88 + 1))
    assert (err.value.error, err.value.args_) == ("BatteryDepositCapExceeded", (h.address, 0, MAX_88 + 1, MAX_88 >> 1))


def test_watt_transfer_settles_rent_for_both_sides(kit, households, treasury):
    alice, bob = households[0], households[1]
    for h in (alice, bob):
        kit.fund(treasury, h, 10 * TSL)
        kit.deposit(h, 10 * TSL)
    kit.charge(kit.register(alice.address), 1_000)
    kit.charge(kit.register(bob.address), 1_000)
    kit.advance(86_400)
    b = kit.battery.functions
    before = {h.address: b.freeTslOf(h.address).call() for h in (alice, bob)}
    receipt = alice.transact(b.transfer(bob.address, 100 * WH))
    assert kit.events(kit.battery, "Transfer", receipt) == [{"from": alice.address, "to": bob.address,
                                                             "value": 100 * WH}]
    for h in (alice, bob):
        assert b.freeTslOf(h.address).call() < before[h.address]  # both paid rent up to now
        assert b.pendingRent(h.address).call() == [0, 0]
    assert b.balanceOf(alice.address).call() == 850 * WH
    assert b.balanceOf(bob.address).call() == 1_050 * WH


def test_locked_watt_cannot_be_transferred(kit, households, treasury, market):
    alice, bob = households[0], households[1]
    kit.fund(treasury, alice, 10 * TSL)
    kit.deposit(alice, 10 * TSL)
    kit.charge(kit.register(alice.address), 1_000)
    market.transact(kit.battery.functions.lockWatt(alice.address, 900 * WH))
    with pytest.raises(TxFailed) as err:
        alice.transact(kit.battery.functions.transfer(bob.address, 51 * WH))
    assert (err.value.error, err.value.args_) == ("ERC20InsufficientBalance", (alice.address, 50 * WH,
                                                                              51 * WH))


def test_transfer_from_spends_the_allowance(kit, households, treasury):
    alice, bob, carol = households[0], households[1], households[2]
    kit.fund(treasury, alice, 10 * TSL)
    kit.deposit(alice, 10 * TSL)
    kit.charge(kit.register(alice.address), 1_000)
    b = kit.battery.functions
    receipt = alice.transact(b.approve(carol.address, 300 * WH))
    assert kit.events(kit.battery, "Approval", receipt) == [{"owner": alice.address, "spender": carol.address,
                                                             "value": 300 * WH}]
    carol.transact(b.transferFrom(alice.address, bob.address, 200 * WH))
    assert b.allowance(alice.address, carol.address).call() == 100 * WH
    with pytest.raises(TxFailed) as err:
        carol.transact(b.transferFrom(alice.address, bob.address, 101 * WH))
    assert (err.value.error, err.value.args_) == ("ERC20InsufficientAllowance", (carol.address, 100 * WH,
                                                                                101 * WH))
    with pytest.raises(TxFailed) as err:
        alice.transact(b.transfer("0x" + "00" * 20, 1))
    assert err.value.error == "ERC20InvalidReceiver"


def test_pause_stops_value_movements_but_not_withdrawals(kit, households, treasury, admin, market, attacker):
    alice, bob = households[0], households[1]
    kit.fund(treasury, alice, 10 * TSL)
    kit.deposit(alice, 5 * TSL)
    meter = kit.register(alice.address)
    kit.charge(meter, 1_000)
    b = kit.battery.functions
    with pytest.raises(TxFailed) as err:
        attacker.transact(b.pause())
    assert err.value.error == "AccessControlUnauthorizedAccount"
    admin.transact(b.pause())
    alice.transact(kit.system.tsl.functions.approve(kit.battery.address, TSL))
    blocked = [(alice, b.transfer(bob.address, WH)), (alice, b.deposit(TSL)), (market, b.lockWatt(alice.address, WH)),
               (market, b.lockTsl(alice.address, 1)),
               (market, b.settleFill((alice.address, bob.address, WH, 1, 0, bob.address, False, False)))]
    for sender, fn in blocked:
        with pytest.raises(TxFailed) as err:
            sender.transact(fn)
        assert err.value.error == "EnforcedPause"
    kit.advance(900)
    # The battery refuses the ledger's flows: that reading alone is rejected (the batch applies).
    receipt = kit.submit(kit.next_record(meter, export_delta=10))
    assert [reason for _, _, reason in kit.outcomes(receipt)] == ["BatteryRefused"]
    alice.transact(b.withdraw(TSL))  # users can always exit
    assert b.freeTslOf(alice.address).call() < 4 * TSL + 1
    admin.transact(b.unpause())
    alice.transact(b.transfer(bob.address, WH))

"""energo.tx.Sender: legacy transactions from a node account and from a local key, and
custom errors decoded with their values."""

from eth_account import Account

from energo.constants import QTUM_MIN_GAS_PRICE_WEI, TSL
from energo.tx import Sender, TxFailed


def test_local_key_sends_a_legacy_transaction(system, w3, treasury):
    key = Account.create()
    w3.provider.make_request("anvil_setBalance", [key.address, hex(10**21)])
    treasury.transact(system.tsl.functions.transfer(key.address, 5 * TSL))
    local = Sender(w3, key)

    receipt = local.transact(system.tsl.functions.transfer(treasury.address, 2 * TSL))

    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["type"] == 0 and tx["gasPrice"] == QTUM_MIN_GAS_PRICE_WEI and tx["from"] == key.address
    assert system.tsl.functions.balanceOf(key.address).call() == 3 * TSL


def test_custom_error_is_decoded_with_its_values(system, household):
    try:
        household.transact(system.battery.functions.withdraw(7))
    except TxFailed as exc:
        assert exc.error == "BatteryInsufficientFreeTsl"
        assert exc.args_ == (household.address, 0, 7)
    else:
        raise AssertionError("withdrawing more than the free deposit must revert")

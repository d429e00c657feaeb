"""Pre-signing checks, the fee rule, coin selection and change."""

from __future__ import annotations

import pytest
from energo_testkit.mempool import Coin, validate_transaction

from energo_qtum.builder import (
    CallOutput,
    PayOutput,
    Utxo,
    build_call_tx,
    build_create_tx,
    sign_transaction,
    spendable_by,
)
from energo_qtum.checks import MAX_GAS_LIMIT, MIN_GAS_LIMIT, MIN_GAS_PRICE
from energo_qtum.errors import (
    GasLimitOutOfRangeError,
    GasPriceTooLowError,
    InsufficientFundsError,
    InvalidSenderInputError,
    InvalidSpecError,
    PreSigningCheckError,
)
from energo_qtum.fees import DEFAULT_FEE_RATE_SAT_PER_KB, FeePolicy, p2pkh_dust_limit, size_fee
from energo_qtum.script import ScriptType, classify_script, p2pk_script, p2pkh_script, parse_contract_script
from energo_qtum.tx import contract_address

CONTRACT_HEX = "d362e096e873eb7907e205fadc6175c6fec7bc44"
COIN = 100_000_000


def coin(signer, value, n=1, script=None):
    return Utxo(f"{n:064x}", 0, script or p2pkh_script(signer.hash160), value)


def as_utxo_set(utxos):
    return {u.outpoint: Coin(u.value_sat, u.script_pubkey, height=0) for u in utxos}


def test_default_fee_rate_is_qtum_relay_minimum():
    assert DEFAULT_FEE_RATE_SAT_PER_KB == 400_000  # 0.004 QTUM per kB
    assert size_fee(250, DEFAULT_FEE_RATE_SAT_PER_KB) == 100_000
    assert size_fee(1, 1) == 1  # CFeeRate rounds up, never to zero


def test_call_fee_is_gas_stipend_plus_size_fee_and_change_returns(operator):
    utxos = [coin(operator, 5 * COIN)]
    signed = build_call_tx(operator, utxos, CONTRACT_HEX, "a55526db", gas_limit=100_000)
    tx = signed.tx
    assert classify_script(tx.outputs[0].script_pubkey) is ScriptType.CALL
    assert tx.outputs[1].script_pubkey == p2pkh_script(operator.hash160)
    stipend = 100_000 * MIN_GAS_PRICE
    assert signed.fee_sat == 5 * COIN - tx.outputs[1].value
    # The fee is computed on an upper bound of the size, never below the rule.
    assert stipend + size_fee(tx.size, DEFAULT_FEE_RATE_SAT_PER_KB) <= signed.fee_sat
    assert signed.fee_sat <= stipend + size_fee(tx.size + 2, DEFAULT_FEE_RATE_SAT_PER_KB)
    accepted = validate_transaction(
        tx, as_utxo_set(utxos), tip_height=10, fee_rate_sat_per_kb=DEFAULT_FEE_RATE_SAT_PER_KB
    )
    assert accepted.sender_hash160 == operator.hash160


def test_configurable_fee_rate_raises_the_fee(operator):
    utxos = [coin(operator, 5 * COIN)]
    cheap = build_call_tx(operator, utxos, CONTRACT_HEX, "", gas_limit=50_000)
    dear = build_call_tx(operator, utxos, CONTRACT_HEX, "", gas_limit=50_000, fee_policy=FeePolicy(4_000_000))
    assert dear.fee_sat - cheap.fee_sat == pytest.approx(size_fee(cheap.tx.size, 3_600_000), abs=10_000)


def test_coins_are_taken_largest_first_until_enough(operator):
    utxos = [coin(operator, COIN // 10, n=1), coin(operator, COIN, n=2), coin(operator, COIN // 2, n=3)]
    one = build_call_tx(operator, utxos, CONTRACT_HEX, "", gas_limit=2_000_000)  # 0.8 QTUM stipend
    assert [u.value_sat for u in one.spent] == [COIN]
    two = build_call_tx(operator, utxos, CONTRACT_HEX, "", gas_limit=3_500_000)  # 1.4 QTUM
    assert [u.value_sat for u in two.spent] == [COIN, COIN // 2]
    with pytest.raises(InsufficientFundsError):
        build_call_tx(operator, utxos, CONTRACT_HEX, "", gas_limit=4_000_000)  # 1.6 > 1.6 - fee


def test_change_below_dust_goes_to_the_fee(operator):
    stipend = 100_000 * MIN_GAS_PRICE
    value = stipend + 120_000 + p2pkh_dust_limit() // 2  # enough for the size fee, change would be dust
    signed = build_call_tx(operator, [coin(operator, value)], CONTRACT_HEX, "", gas_limit=100_000)
    assert len(signed.tx.outputs) == 1
    assert signed.fee_sat == value


def test_immature_and_foreign_coins_are_not_spent(operator, household):
    mine = coin(operator, COIN, n=1)
    immature = Utxo(f"{2:064x}", 0, p2pkh_script(operator.hash160), 10 * COIN, mature=False)
    foreign = coin(household, 10 * COIN, n=3)
    p2pk = coin(operator, 2 * COIN, n=4, script=p2pk_script(operator.public_key))
    assert spendable_by(operator, [mine, immature, foreign, p2pk]) == [p2pk, mine]


def test_create_tx_reports_the_qtum_contract_address(operator):
    signed = build_create_tx(operator, [coin(operator, COIN)], "6080", gas_limit=300_000)
    assert signed.create_vout == 0
    assert signed.contract_address == contract_address(signed.txid, 0)
    assert parse_contract_script(signed.tx.outputs[0].script_pubkey).data == bytes.fromhex("6080")


# ---- each pre-signing check ------------------------------------------------


@pytest.mark.parametrize("gas_price", [0, 1, MIN_GAS_PRICE - 1])
def test_gas_price_below_minimum_is_refused(operator, gas_price):
    with pytest.raises(GasPriceTooLowError, match="below Qtum's minimum of 40"):
        build_call_tx(operator, [coin(operator, COIN)], CONTRACT_HEX, "", gas_limit=100_000, gas_price=gas_price)


@pytest.mark.parametrize("gas_limit", [0, MIN_GAS_LIMIT - 1, MAX_GAS_LIMIT + 1])
def test_gas_limit_out_of_range_is_refused(operator, gas_limit):
    with pytest.raises(GasLimitOutOfRangeError, match="22,000..20,000,000"):
        build_call_tx(operator, [coin(operator, 100 * COIN)], CONTRACT_HEX, "", gas_limit=gas_limit)


@pytest.mark.parametrize("gas_limit", [MIN_GAS_LIMIT, MAX_GAS_LIMIT])
def test_gas_limit_bounds_are_inclusive(operator, gas_limit):
    signed = build_call_tx(operator, [coin(operator, 100 * COIN)], CONTRACT_HEX, "", gas_limit=gas_limit)
    assert parse_contract_script(signed.tx.outputs[0].script_pubkey).gas_limit == gas_limit


@pytest.mark.parametrize(
    "script",
    [
        bytes.fromhex("0014") + b"\x11" * 20,  # P2WPKH
        bytes.fromhex("a914") + b"\x11" * 20 + b"\x87",  # P2SH
    ],
    ids=["p2wpkh", "p2sh"],
)
def test_first_input_must_be_p2pkh_or_p2pk(operator, script):
    inputs = [Utxo("11" * 32, 0, script, COIN), coin(operator, COIN)]
    with pytest.raises(InvalidSenderInputError, match="first input"):
        sign_transaction(operator, inputs, [CallOutput(bytes.fromhex(CONTRACT_HEX), b"", 100_000)])


def test_p2pk_first_input_is_accepted(operator):
    inputs = [coin(operator, COIN, script=p2pk_script(operator.public_key))]
    signed = sign_transaction(operator, inputs, [CallOutput(bytes.fromhex(CONTRACT_HEX), b"", 100_000)])
    accepted = validate_transaction(signed.tx, as_utxo_set(inputs), 10, DEFAULT_FEE_RATE_SAT_PER_KB)
    assert accepted.sender_hash160 == operator.hash160


def test_not_enough_funds_is_refused_with_amounts(operator):
    with pytest.raises(InsufficientFundsError, match=r"0\.00100000 QTUM spendable"):
        build_call_tx(operator, [coin(operator, 100_000)], CONTRACT_HEX, "", gas_limit=100_000)


def test_explicit_inputs_must_cover_outputs_gas_and_fee(operator):
    output = CallOutput(bytes.fromhex(CONTRACT_HEX), b"", 100_000)
    with pytest.raises(InsufficientFundsError):
        sign_transaction(operator, [coin(operator, 100_000 * MIN_GAS_PRICE)], [output])


def test_all_checks_share_one_base_class(operator):
    with pytest.raises(PreSigningCheckError):
        build_call_tx(operator, [coin(operator, COIN)], CONTRACT_HEX, "", gas_limit=100_000, gas_price=1)


def test_input_of_another_key_cannot_be_signed(operator, household):
    with pytest.raises(InvalidSpecError, match="not to this key"):
        sign_transaction(operator, [coin(household, COIN)], [PayOutput(operator.hash160, 1000)])

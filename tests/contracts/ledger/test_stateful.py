"""Random sequences of readings (good and bad), transfers, deposits, withdrawals, rate
changes, time jumps and state-of-charge reports, with the ledger's invariants checked
after every step against ghost sums kept here."""

from __future__ import annotations

import os

import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from energo.constants import TSL
from energo.constants import WATT_PER_WH as WH
from energo.facts import REFERENCE_RENT_PER_WATT_DAY
from energo.tx import TxFailed

HOUSEHOLDS = 3
RATED_W = 36_000  # 10 Wh per second
BATTERY_METER = 1
BAD_KINDS = ["forged", "replay", "future", "decreased", "overpower", "stale_time"]
EXPECTED = {"forged": "BadSignature", "replay": "AlreadyApplied", "future": "TimestampInFuture",
            "decreased": "RegisterDecreased", "overpower": "ExceedsRatedPower", "stale_time": "TimestampNotAfterLast"}


def _abi_type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in param['components'])}){param['type'][5:]}"
    return param["type"]


@pytest.mark.slow
def test_ledger_state_machine(w3, system, kit_factory, households, treasury, operator, admin):
    class LedgerMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
            self.kit = kit_factory()
            self.b = system.battery.functions
            self.tsl = system.tsl.functions
            self.houses = households[:HOUSEHOLDS]
            self.accounts = [h.address for h in self.houses] + [operator.address]
            self.wallets = self.accounts + [treasury.address, system.battery.address]
            self.meters = [self.kit.register(h.address, rated_power_w=RATED_W, import_wh=1_000, export_wh=1_000)
                           for h in self.houses]
            self.battery_meter = self.kit.register(operator.address, kind=BATTERY_METER, rated_power_w=10**9)
            self.imported = dict.fromkeys(self.accounts, 0)
            self.exported = dict.fromkeys(self.accounts, 0)
            self.last_record = {}
            self.halt_supply = None
            for h in self.houses:
                treasury.transact(self.tsl.transfer(h.address, 100 * TSL))
                h.transact(self.tsl.approve(system.battery.address, 2**256 - 1))
            self.tsl_supply = self.tsl.totalSupply().call()
            self.seen = {m.meter_id: (0, 0, 0) for m in self.meters}
            self.prepare_reads()

        def teardown(self):
            if hasattr(self, "snapshot"):
                w3.provider.make_request("evm_revert", [self.snapshot])

        # ------------------------------------------------------------ rules

        @rule(i=st.integers(0, HOUSEHOLDS - 1), dt=st.integers(1, 3_600), imp=st.integers(0, 100),
              exp=st.integers(0, 100))
        def good_reading(self, i, dt, imp, exp):
            meter = self.meters[i]
            self.kit.advance(dt)
            elapsed = self.kit.now() - meter.timestamp
            limit = RATED_W * elapsed // 3_600
            imp_wh, exp_wh = limit * imp // 200, limit * exp // 200
            note(f"meter {meter.meter_id}: +{imp_wh} Wh import, +{exp_wh} Wh export after {elapsed}s")
            record = self.kit.next_record(meter, import_delta=imp_wh, export_delta=exp_wh)
            receipt = self.kit.submit(record)
            assert self.kit.outcomes(receipt) == [(meter.meter_id, meter.seq, "Accepted")]
            self.last_record[i] = record
            self.imported[meter.account] += imp_wh
            self.exported[meter.account] += exp_wh

        @rule(i=st.integers(0, HOUSEHOLDS - 1), kind=st.sampled_from(BAD_KINDS))
        def bad_reading(self, i, kind):
            meter, kit = self.meters[i], self.kit
            if kind == "replay" and i not in self.last_record:
                kind = "forged"
            kit.advance(10)
            now, seq = kit.now(), meter.seq + 1
            imp, exp = meter.import_wh, meter.export_wh
            record = {
                "forged": lambda: kit.record(meter, seq, now, imp, exp, key=Account.from_key(b"\x07" * 32)),
                "replay": lambda: self.last_record[i],
                "future": lambda: kit.record(meter, seq, now + 10_000, imp, exp),
                "decreased": lambda: kit.record(meter, seq, now, imp - 1, exp),
                "overpower": lambda: kit.record(meter, seq, now, imp, exp + RATED_W * (now - meter.timestamp)),
                "stale_time": lambda: kit.record(meter, seq, meter.timestamp, imp, exp),
            }[kind]()
            note(f"bad reading ({kind}) for meter {meter.meter_id}")
            (outcome,) = kit.outcomes(kit.submit(record))
            assert outcome[2] == EXPECTED[kind]

        @rule(src=st.integers(0, HOUSEHOLDS - 1), dst=st.integers(0, HOUSEHOLDS), share=st.integers(0, 120))
        def transfer(self, src, dst, share):
            sender, to = self.houses[src], self.accounts[dst]
            self.kit.advance(1)
            spendable = self.b.spendableWattOf(sender.address).call()
            amount = spendable * share // 100
            note(f"transfer {amount} WATT units from house {src} to account {dst}")
            try:
                sender.transact(self.b.transfer(to, amount))
            except TxFailed as err:  # only refused beyond the spendable balance (after settling rent)
                assert err.error == "ERC20InsufficientBalance" and err.args_[2] == amount
                assert amount > err.args_[1]

        @rule(i=st.integers(0, HOUSEHOLDS - 1), amount=st.integers(1, 20 * TSL))
        def deposit(self, i, amount):
            note(f"house {i} deposits {amount}")
            self.houses[i].transact(self.b.deposit(amount))

        @rule(i=st.integers(0, HOUSEHOLDS - 1), share=st.integers(1, 150))
        def withdraw(self, i, share):
            house = self.houses[i]
            amount = max(1, self.b.freeTslOf(house.address).call() * share // 100)
            note(f"house {i} withdraws {amount}")
            try:
                house.transact(self.b.withdraw(amount))
            except TxFailed as err:
                assert err.error == "BatteryInsufficientFreeTsl" and err.args_[1] < amount == err.args_[2]

        @rule(factor=st.integers(0, 20))
        def set_rate(self, factor):
            note(f"rent rate x{factor}")
            admin.transact(self.b.setRentRate(REFERENCE_RENT_PER_WATT_DAY * factor))

        @rule(seconds=st.integers(1, 30 * 86_400))
        def time_jump(self, seconds):
            note(f"{seconds}s pass")
            self.kit.advance(seconds)

        @rule(i=st.integers(0, HOUSEHOLDS), claim=st.booleans())
        def settle_rent(self, i, claim):
            operator.transact(self.b.settleRent(self.accounts[i]))
            if claim:
                operator.transact(self.b.claimRent())

        @rule(loss=st.integers(0, 5_000))
        def report_state_of_charge(self, loss):
            supply = self.b.supplyWh().call()
            soc = max(0, supply - loss)
            self.kit.advance(1)
            receipt = self.kit.submit(self.kit.next_record(self.battery_meter, soc=soc))
            tolerance = self.b.reserveToleranceWh().call()
            deficit = self.kit.events(system.battery, "ReserveDeficit", receipt)
            note(f"state of charge {soc} Wh against supply {supply} Wh")
            if supply > soc + tolerance:
                assert deficit == [{"supplyWh": supply, "stateOfChargeWh": soc, "deficitWh": supply - soc}]
                assert self.b.mintingHalted().call()
                self.halt_supply = supply
            else:
                assert deficit == [] and not self.b.mintingHalted().call()
                self.halt_supply = None

        @precondition(lambda self: self.halt_supply is not None)
        @rule(i=st.integers(0, HOUSEHOLDS - 1))
        def export_while_halted_mints_nothing(self, i):
            before = self.b.supplyWh().call()
            self.good_reading(i, 900, 0, 100)
            assert self.b.supplyWh().call() == before

        # ------------------------------------------------------------ invariants

        def prepare_reads(self) -> None:
            """Encodes every view the invariants read once; each check is then one
            JSON-RPC batch of raw eth_calls (web3's per-call ABI work dominated the run)."""
            b, t, ledger = self.b, self.tsl, system.ledger.functions
            calls = {"total": b.totalSupply(), "supply_wh": b.supplyWh(), "halted": b.mintingHalted(),
                     "collected": b.rentCollected(), "operator_rent": b.pendingRent(operator.address)}
            for a in self.accounts:
                calls |= {("balance", a): b.balanceOf(a), ("free", a): b.freeTslOf(a),
                          ("locked_tsl", a): b.lockedTslOf(a), ("locked_watt", a): b.lockedWattOf(a),
                          ("counters", a): b.countersOf(a)}
            for w in self.wallets:
                calls[("tsl", w)] = t.balanceOf(w)
            for m in self.meters:
                calls[("meter", m.meter_id)] = ledger.meter(m.meter_id)
            self.reads = [(key, {"to": fn.address, "data": fn._encode_transaction_data()},
                           [_abi_type(o) for o in fn.abi["outputs"]]) for key, fn in calls.items()]

        def read_state(self) -> dict:
            responses = w3.provider.make_batch_request([("eth_call", [tx, "latest"]) for _, tx, _ in self.reads])
            state = {}
            for (key, _, types), response in zip(self.reads, responses, strict=True):
                values = abi_decode(types, bytes.fromhex(response["result"][2:]))
                state[key] = values[0] if len(values) == 1 else list(values)
            return state

        @invariant()
        def ledger_invariants_hold(self):
            state = self.read_state()
            self.watt_supply_is_the_sum_of_balances(state)
            self.minting_stays_halted_while_in_deficit(state)
            self.tsl_is_conserved_and_the_escrow_owes_its_balance(state)
            assert list(state["operator_rent"]) == [0, 0], "the operator pays no rent"
            self.meters_never_go_back(state)
            self.counters_agree(state)

        def watt_supply_is_the_sum_of_balances(self, state):
            balances = sum(state[("balance", a)] for a in self.accounts)
            assert state["total"] == balances == state["supply_wh"] * WH

        def minting_stays_halted_while_in_deficit(self, state):
            if self.halt_supply is not None:
                assert state["halted"] and state["supply_wh"] <= self.halt_supply
            else:
                assert not state["halted"]

        def tsl_is_conserved_and_the_escrow_owes_its_balance(self, state):
            assert sum(state[("tsl", w)] for w in self.wallets) == self.tsl_supply
            owed = sum(state[("free", a)] + state[("locked_tsl", a)] for a in self.accounts)
            assert state[("tsl", system.battery.address)] == owed + state["collected"]

        def meters_never_go_back(self, state):
            for meter in self.meters:
                m = state[("meter", meter.meter_id)]
                now = (m[5], m[7], m[8])
                assert all(a >= b for a, b in zip(now, self.seen[meter.meter_id], strict=True))
                assert now == (meter.seq, meter.import_wh, meter.export_wh)
                self.seen[meter.meter_id] = now

        def counters_agree(self, state):
            for account in self.accounts:
                generated, stored, from_battery, from_grid, spilled, _, _ = state[("counters", account)]
                assert generated == self.exported[account]
                assert from_battery + from_grid == self.imported[account]
                assert stored + spilled <= generated
                assert state[("locked_watt", account)] <= state[("balance", account)]

    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=int(os.environ.get("ENERGO_STATEFUL_EXAMPLES", "25")), stateful_step_count=30, deadline=None,
        suppress_health_check=list(HealthCheck)))

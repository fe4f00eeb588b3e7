#!/usr/bin/env python3
"""test_checkers.py - the consistency checkers must accept every legal
history and reject every illegal one with the right pattern name.

Hand-written histories cover each pattern of each mode, and the tricky legal
cases (ops that may linearize either way, info ops that took effect or not,
a lost CAS). A generator simulates a correct sequential store with
overlapping intervals: its histories must pass every checker, and mutated
copies must fail. Another simulates replicas with causal delivery (which
must pass the causal and eventual checkers) and broken variants (which
must not). The CLI is run on temporary directories for its exit codes.
Run: python3 tests/state/test_checkers.py [--bench]
"""

import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_history  # noqa: E402
from check_history import HistoryError, check  # noqa: E402


class Hist:
    """Builds the records of a hand-written history. Each op gets the next
    id of its rank; t=(invoke, return) in small integers; ret None with
    status "info" leaves the op without a completion record. Ok writes get
    the stamp ts (default [return time, rank])."""

    def __init__(self, nranks, mode="strong"):
        self.nranks, self.mode = nranks, mode
        self.events = {r: [] for r in range(nranks)}
        self.ids = [0] * nranks
        self.finals = {}

    def op(self, rank, f, key, value, result, t, status="ok", ts=None):
        ident = self.ids[rank]
        self.ids[rank] += 1
        inv, ret = t
        base = {"rank": rank, "id": ident, "f": f, "key": key}
        self._add(rank, inv, 1, dict(base, type="invoke", value=value, t=inv))
        if ret is None:
            return self
        done = dict(base, type=status, value=result, t=ret)
        if status == "ok" and f in ("put", "del", "cas"):
            done["ts"] = list(ts or (ret, rank))
        self._add(rank, ret, 0, done)
        return self

    def _add(self, rank, t, order, rec):
        # A completion sorts before an invoke at the same time.
        self.events[rank].append((t, order, len(self.events[rank]), rec))

    def put(self, rank, key, v, t, status="ok", ts=None):
        return self.op(rank, "put", key, v, v, t, status, ts)

    def delete(self, rank, key, t, status="ok", ts=None):
        return self.op(rank, "del", key, None, None, t, status, ts)

    def get(self, rank, key, result, t, status="ok"):
        return self.op(rank, "get", key, None, result, t, status)

    def cas(self, rank, key, expected, new, t, status="ok", ts=None):
        pair = [expected, new]
        return self.op(rank, "cas", key, pair, pair, t, status, ts)

    def add(self, rank, key, delta, before, t, status="ok"):
        return self.op(rank, "add", key, delta, before, t, status)

    def fetch(self, rank, f, key, v, before, t, status="ok"):
        """min or max."""
        return self.op(rank, f, key, v, before, t, status)

    def final(self, table, ranks=None):
        for r in range(self.nranks) if ranks is None else ranks:
            self.finals[r] = dict(table)
        return self

    def records(self):
        out = []
        for r in range(self.nranks):
            out.append({"type": "header", "rank": r, "nranks": self.nranks,
                        "mode": self.mode, "seed": 1})
            out += [e[3] for e in sorted(self.events[r],
                                         key=lambda e: e[:3])]
            if r in self.finals:
                out.append({"type": "final", "rank": r,
                            "table": self.finals[r]})
        return out


class CheckerCase(unittest.TestCase):
    def assertLegal(self, mode, hist):
        self.assertEqual(check(mode, hist.records()), [])

    def assertViolation(self, mode, hist, pattern):
        found = check(mode, hist.records())
        names = {v.split(" ", 1)[0] for v in found}
        self.assertEqual(names, {pattern}, found)
        return found


# ---------------------------------------------------------------- strong


class StrongLegal(CheckerCase):
    def test_sequential_register_ops(self):
        h = (Hist(1).put(0, "k", 1, (1, 2)).get(0, "k", 1, (3, 4))
             .delete(0, "k", (5, 6)).get(0, "k", None, (7, 8))
             .cas(0, "k", None, 2, (9, 10)).get(0, "k", 2, (11, 12))
             .final({"k": 2}))
        self.assertLegal("strong", h)

    def test_reads_concurrent_with_a_put_see_old_or_new(self):
        h = (Hist(3).put(0, "k", 1, (1, 2)).put(0, "k", 2, (10, 20))
             .get(1, "k", 1, (12, 14)).get(2, "k", 2, (13, 15))
             .get(1, "k", 2, (16, 18)))
        self.assertLegal("strong", h)

    def test_concurrent_puts_linearize_either_way(self):
        for winner in (1, 2):
            with self.subTest(winner=winner):
                h = (Hist(3).put(0, "k", 1, (1, 10)).put(1, "k", 2, (2, 9))
                     .get(2, "k", winner, (11, 12)).final({"k": winner}))
                self.assertLegal("strong", h)

    def test_touching_intervals_overlap(self):
        # The read returns at the instant the put is invoked: closed
        # intervals overlap, so the put may come first.
        h = Hist(2).get(1, "k", 5, (5, 10)).put(0, "k", 5, (10, 20))
        self.assertLegal("strong", h)

    def test_info_put_that_took_effect(self):
        h = (Hist(2).put(0, "k", 1, (1, None), status="info")
             .get(1, "k", 1, (50, 51)))
        self.assertLegal("strong", h)

    def test_info_put_that_never_took_effect(self):
        h = (Hist(2).put(0, "k", 1, (1, 2))
             .put(0, "k", 2, (3, 5), status="info")
             .get(1, "k", 1, (50, 51)).final({"k": 1}))
        self.assertLegal("strong", h)

    def test_info_put_takes_effect_long_after_its_timeout(self):
        h = (Hist(2).put(0, "k", 1, (1, 2))
             .put(0, "k", 2, (3, 5), status="info")
             .get(1, "k", 1, (10, 11)).get(1, "k", 2, (20, 21)))
        self.assertLegal("strong", h)

    def test_cas_that_lost_to_a_concurrent_put(self):
        h = (Hist(2).put(0, "k", 1, (1, 2))
             .cas(0, "k", 1, 3, (10, 20), status="fail")
             .put(1, "k", 2, (11, 12)).get(1, "k", 2, (30, 31)))
        self.assertLegal("strong", h)

    def test_cas_chain(self):
        h = (Hist(2).cas(0, "k", None, 1, (1, 2)).cas(0, "k", 1, 2, (3, 4))
             .cas(1, "k", 1, 3, (5, 6), status="fail")
             .get(1, "k", 2, (7, 8)))
        self.assertLegal("strong", h)

    def test_concurrent_adds_and_reads(self):
        h = (Hist(3).add(0, "c", 5, 0, (1, 10)).add(1, "c", 3, 5, (2, 9))
             .get(2, "c", 5, (3, 8)).get(2, "c", 8, (11, 12))
             .final({"c": 8}))
        self.assertLegal("strong", h)

    def test_info_add_and_null_counter_read(self):
        h = (Hist(3).get(2, "c", None, (0, 1))
             .add(0, "c", 2, None, (1, None), status="info")
             .add(1, "c", 1, 2, (10, 11)).get(1, "c", 3, (12, 13)))
        self.assertLegal("strong", h)

    def test_min_and_max(self):
        h = (Hist(2).fetch(0, "min", "lo", 5, None, (1, 2))
             .fetch(1, "min", "lo", 7, 5, (3, 4))
             .fetch(0, "min", "lo", 3, 5, (5, 6)).get(1, "lo", 3, (7, 8))
             .fetch(0, "max", "hi", 5, None, (1, 2))
             .fetch(1, "max", "hi", 2, 5, (3, 4)).get(0, "hi", 5, (9, 10))
             .final({"lo": 3, "hi": 5}))
        self.assertLegal("strong", h)

    def test_final_with_an_info_put_in_or_out(self):
        for final in (1, 2):
            with self.subTest(final=final):
                h = (Hist(2).put(0, "k", 1, (1, 2))
                     .put(0, "k", 2, (3, None), status="info")
                     .final({"k": final}))
                self.assertLegal("strong", h)

    def test_overlapping_reads_may_disagree_on_order(self):
        # The later-invoked read sees the old value: it linearizes first.
        h = (Hist(3).put(0, "k", 1, (1, 2)).put(0, "k", 2, (3, 8))
             .get(1, "k", 2, (5, 10)).get(2, "k", 1, (6, 7)))
        self.assertLegal("strong", h)

    def test_info_adds_chosen_to_explain_each_value(self):
        # Info adds of 1, 2 and 4: the get sees 3 (the 1 and the 2), the
        # final 7 needs the 4 as well.
        h = (Hist(3).add(0, "c", 1, None, (1, None), status="info")
             .add(1, "c", 2, None, (1, None), status="info")
             .add(2, "c", 4, None, (1, None), status="info")
             .get(0, "c", 3, (10, 11)).final({"c": 7}))
        self.assertLegal("strong", h)

    def test_info_min_that_took_effect(self):
        h = (Hist(2).fetch(0, "min", "lo", 5, None, (1, 2))
             .fetch(1, "min", "lo", 2, None, (3, None), status="info")
             .get(0, "lo", 5, (4, 5)).get(0, "lo", 2, (6, 7)))
        self.assertLegal("strong", h)

    def test_lost_cas_needs_an_unread_info_put(self):
        # Nobody reads 5, yet only the info put of 5 explains the lost cas.
        h = (Hist(2).put(0, "k", 1, (1, 2))
             .put(0, "k", 5, (3, None), status="info")
             .cas(1, "k", 1, 3, (10, 11), status="fail")
             .put(1, "k", 4, (12, 13)).get(1, "k", 4, (14, 15)))
        self.assertLegal("strong", h)

    def test_untouched_key_reads_null(self):
        h = Hist(1).get(0, "k", None, (1, 2)).final({})
        self.assertLegal("strong", h)


class StrongIllegal(CheckerCase):
    def test_thin_air_read(self):
        h = Hist(2).put(0, "k", 1, (1, 2)).get(1, "k", 9, (3, 4))
        self.assertViolation("strong", h, "ThinAirRead")

    def test_read_returns_before_its_write_began(self):
        h = Hist(2).get(1, "k", 1, (1, 2)).put(0, "k", 1, (3, 4))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_stale_read(self):
        h = (Hist(3).put(0, "k", 1, (1, 2)).put(0, "k", 2, (3, 4))
             .get(1, "k", 2, (5, 6)).get(2, "k", 1, (7, 8)))
        found = self.assertViolation("strong", h, "StaleRead")
        self.assertIn("r2#0", found[0])

    def test_two_cas_from_the_same_value_both_win(self):
        h = (Hist(2).cas(0, "k", None, 1, (1, 10))
             .cas(1, "k", None, 2, (2, 9)))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_null_read_after_a_completed_put(self):
        h = Hist(2).put(0, "k", 1, (1, 2)).get(1, "k", None, (3, 4))
        found = self.assertViolation("strong", h, "NotLinearizable")
        self.assertIn("r1#0 get -> null", found[0])

    def test_read_after_a_completed_del_sees_the_old_value(self):
        h = (Hist(2).put(0, "k", 1, (1, 2)).delete(0, "k", (3, 4))
             .get(1, "k", 1, (5, 6)))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_lost_counter_update(self):
        h = Hist(2).add(0, "c", 1, 0, (1, 5)).add(1, "c", 1, 0, (2, 6))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_min_forgets_a_smaller_value(self):
        h = (Hist(2).fetch(0, "min", "lo", 5, None, (1, 2))
             .fetch(1, "min", "lo", 3, None, (3, 4)))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_cas_fails_although_the_value_was_expected(self):
        h = (Hist(1).put(0, "k", 1, (1, 2))
             .cas(0, "k", 1, 2, (3, 4), status="fail"))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_info_adds_cannot_explain_the_value(self):
        h = (Hist(3).add(0, "c", 2, None, (1, None), status="info")
             .add(1, "c", 2, None, (1, None), status="info")
             .get(2, "c", 3, (10, 11)))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_info_add_seen_before_it_was_invoked(self):
        h = (Hist(2).get(0, "c", 4, (1, 2))
             .add(1, "c", 4, None, (5, None), status="info"))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_min_sees_a_value_nobody_applied(self):
        h = (Hist(2).fetch(0, "min", "lo", 5, None, (1, 2))
             .fetch(1, "min", "lo", 2, None, (3, None), status="info")
             .get(0, "lo", 3, (4, 5)))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_lost_cas_before_the_info_put_that_could_explain_it(self):
        h = (Hist(2).put(0, "k", 1, (1, 2))
             .cas(1, "k", 1, 3, (3, 4), status="fail")
             .put(0, "k", 5, (5, None), status="info"))
        self.assertViolation("strong", h, "NotLinearizable")

    def test_final_replicas_differ(self):
        h = Hist(2).put(0, "k", 1, (1, 2)).final({"k": 1}, [0]).final({}, [1])
        self.assertViolation("strong", h, "FinalMismatch")

    def test_final_is_not_the_last_write(self):
        h = (Hist(2).put(0, "k", 1, (1, 2)).put(1, "k", 2, (3, 4))
             .final({"k": 1}))
        self.assertViolation("strong", h, "FinalMismatch")

    def test_final_counter_is_not_the_sum(self):
        h = Hist(1).add(0, "c", 2, 0, (1, 2)).final({"c": 3})
        self.assertViolation("strong", h, "FinalMismatch")


# ---------------------------------------------------------------- causal


class CausalLegal(CheckerCase):
    def test_causal_chain_respected(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2)).put(0, "y", 2, (3, 4))
             .get(1, "y", 2, (5, 6)).get(1, "x", 1, (7, 8)))
        self.assertLegal("causal", h)

    def test_concurrent_writes_seen_in_one_order(self):
        h = (Hist(4, "causal").put(0, "x", 1, (1, 2)).put(1, "x", 2, (1, 2))
             .get(2, "x", 1, (3, 4)).get(2, "x", 2, (5, 6))
             .get(3, "x", 1, (3, 4)).get(3, "x", 2, (5, 6)))
        self.assertLegal("causal", h)

    def test_stale_in_real_time_but_causal(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2))
             .get(1, "x", None, (10, 11)))
        self.assertLegal("causal", h)
        self.assertViolation("strong", h, "NotLinearizable")

    def test_null_read_may_see_a_del(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2)).delete(0, "x", (3, 4))
             .put(0, "y", 3, (5, 6)).get(1, "y", 3, (7, 8))
             .get(1, "x", None, (9, 10)))
        self.assertLegal("causal", h)

    def test_null_read_with_a_concurrent_del(self):
        # Which null it saw is unknown: the concurrent del of rank 2 fits.
        h = (Hist(3, "causal").put(0, "x", 1, (1, 2)).put(0, "y", 3, (3, 4))
             .get(1, "y", 3, (5, 6)).get(1, "x", None, (7, 8))
             .delete(2, "x", (1, 2)))
        self.assertLegal("causal", h)

    def test_converged_last_writer_wins(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2), ts=(1, 0))
             .put(1, "x", 2, (1, 2), ts=(1, 1)).get(0, "x", 2, (3, 4))
             .get(1, "x", 2, (3, 4)).final({"x": 2}))
        self.assertLegal("causal", h)

    def test_linearizable_history_is_causal(self):
        h = (Hist(3, "causal").put(0, "x", 1, (1, 4)).get(1, "x", 1, (2, 5))
             .put(2, "x", 2, (6, 7)).get(0, "x", 2, (8, 9))
             .delete(1, "x", (10, 11)).get(2, "x", None, (12, 13))
             .final({}))
        self.assertLegal("causal", h)
        self.assertLegal("strong", h)

    def test_final_counter_with_or_without_an_info_add(self):
        for final in (5, 9):
            with self.subTest(final=final):
                h = (Hist(2, "causal").add(0, "c", 2, 0, (1, 2))
                     .add(1, "c", 3, 0, (1, 2))
                     .add(1, "c", 4, None, (3, None), status="info")
                     .final({"c": final}))
                self.assertLegal("causal", h)


class CausalIllegal(CheckerCase):
    def test_cyclic_co(self):
        h = (Hist(2, "causal").get(0, "x", 2, (1, 2)).put(0, "x", 1, (3, 4))
             .get(1, "x", 1, (1, 2)).put(1, "x", 2, (3, 4)))
        self.assertViolation("causal", h, "CyclicCO")

    def test_thin_air_read(self):
        h = Hist(1, "causal").get(0, "x", 7, (1, 2))
        self.assertViolation("causal", h, "ThinAirRead")

    def test_write_co_init_read(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2)).put(0, "y", 2, (3, 4))
             .get(1, "y", 2, (5, 6)).get(1, "x", None, (7, 8)))
        self.assertViolation("causal", h, "WriteCOInitRead")

    def test_write_co_read(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2)).put(0, "x", 2, (3, 4))
             .put(0, "y", 3, (5, 6)).get(1, "y", 3, (7, 8))
             .get(1, "x", 1, (9, 10)))
        self.assertViolation("causal", h, "WriteCORead")

    def test_write_co_read_through_a_del(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2)).delete(0, "x", (3, 4))
             .put(0, "y", 3, (5, 6)).get(1, "y", 3, (7, 8))
             .get(1, "x", 1, (9, 10)))
        self.assertViolation("causal", h, "WriteCORead")

    def test_null_read_with_every_null_overwritten(self):
        h = (Hist(2, "causal").delete(0, "x", (1, 2)).put(0, "x", 1, (3, 4))
             .put(0, "y", 3, (5, 6)).get(1, "y", 3, (7, 8))
             .get(1, "x", None, (9, 10)))
        self.assertViolation("causal", h, "WriteCORead")

    def test_null_read_before_the_only_del(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2)).put(0, "y", 2, (3, 4))
             .get(1, "y", 2, (5, 6)).get(1, "x", None, (7, 8))
             .delete(1, "x", (9, 10)))
        self.assertViolation("causal", h, "WriteCORead")

    def test_cyclic_cf(self):
        # Causally consistent, but each rank orders the writes its own way.
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2)).get(0, "x", 2, (3, 4))
             .put(1, "x", 2, (1, 2)).get(1, "x", 1, (3, 4)))
        self.assertViolation("causal", h, "CyclicCF")

    def test_divergence(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2))
             .final({"x": 1}, [0]).final({}, [1]))
        self.assertViolation("causal", h, "Divergence")

    def test_final_not_last_writer(self):
        h = (Hist(2, "causal").put(0, "x", 1, (1, 2), ts=(1, 0))
             .put(1, "x", 2, (1, 2), ts=(2, 1)).final({"x": 1}))
        self.assertViolation("causal", h, "FinalNotLWW")

    def test_counter_mismatch(self):
        h = (Hist(2, "causal").add(0, "c", 2, 0, (1, 2))
             .add(1, "c", 3, 0, (1, 2)).final({"c": 4}))
        self.assertViolation("causal", h, "CounterMismatch")


# ---------------------------------------------------------------- eventual


class EventualLegal(CheckerCase):
    def test_highest_stamp_wins_not_latest_time(self):
        h = (Hist(2, "eventual").put(0, "x", 1, (10, 11), ts=(5, 0))
             .put(1, "x", 2, (1, 2), ts=(3, 1)).get(1, "x", 2, (20, 21))
             .final({"x": 1}))
        self.assertLegal("eventual", h)

    def test_info_write_in_or_out(self):
        for final in (1, 2):
            with self.subTest(final=final):
                h = (Hist(2, "eventual").put(0, "x", 1, (1, 2))
                     .put(1, "x", 2, (3, None), status="info")
                     .final({"x": final}))
                self.assertLegal("eventual", h)

    def test_equal_clocks_break_ties_by_origin(self):
        h = (Hist(2, "eventual").put(0, "x", 1, (1, 2), ts=(4, 0))
             .put(1, "x", 2, (1, 2), ts=(4, 1)).final({"x": 2}))
        self.assertLegal("eventual", h)

    def test_del_wins(self):
        h = (Hist(2, "eventual").put(0, "x", 1, (1, 2), ts=(1, 0))
             .delete(1, "x", (1, 2), ts=(2, 1)).final({}))
        self.assertLegal("eventual", h)

    def test_counters_min_max_with_info_ops(self):
        h = (Hist(2, "eventual").add(0, "c", 2, 0, (1, 2))
             .add(1, "c", 5, 0, (1, 2))
             .add(1, "c", 7, None, (3, None), status="info")
             .fetch(0, "min", "lo", 4, None, (1, 2))
             .fetch(1, "min", "lo", 1, None, (3, None), status="info")
             .fetch(0, "max", "hi", 4, None, (3, 4))
             .fetch(1, "max", "hi", 9, 4, (5, 6))
             .final({"c": 14, "lo": 1, "hi": 9}))
        self.assertLegal("eventual", h)


class EventualIllegal(CheckerCase):
    def test_divergence(self):
        h = (Hist(2, "eventual").put(0, "x", 1, (1, 2))
             .final({"x": 1}, [0]).final({"x": 2}, [1]))
        self.assertViolation("eventual", h, "Divergence")

    def test_lower_stamp_kept(self):
        h = (Hist(2, "eventual").put(0, "x", 1, (10, 11), ts=(5, 0))
             .put(1, "x", 2, (1, 2), ts=(3, 1)).final({"x": 2}))
        self.assertViolation("eventual", h, "FinalNotLWW")

    def test_no_tie_break(self):
        h = (Hist(2, "eventual").put(0, "x", 1, (1, 2), ts=(4, 0))
             .put(1, "x", 2, (1, 2), ts=(4, 0)).final({"x": 2}))
        self.assertViolation("eventual", h, "FinalNotLWW")

    def test_thin_air_read(self):
        h = Hist(1, "eventual").get(0, "x", 3, (1, 2)).final({})
        self.assertViolation("eventual", h, "ThinAirRead")

    def test_counter_is_not_the_sum(self):
        h = (Hist(2, "eventual").add(0, "c", 2, 0, (1, 2))
             .add(1, "c", 5, 0, (1, 2))
             .add(1, "c", 7, None, (3, None), status="info")
             .final({"c": 10}))
        self.assertViolation("eventual", h, "CounterMismatch")

    def test_min_is_not_the_least(self):
        h = (Hist(2, "eventual").fetch(0, "min", "lo", 4, None, (1, 2))
             .fetch(1, "min", "lo", 2, None, (1, 2)).final({"lo": 4}))
        self.assertViolation("eventual", h, "CounterMismatch")

    def test_final_records_are_required(self):
        h = Hist(1, "eventual").put(0, "x", 1, (1, 2))
        with self.assertRaises(HistoryError):
            check("eventual", h.records())


# ---------------------------------------------------------------- malformed


class Malformed(unittest.TestCase):
    def base(self):
        return Hist(1).put(0, "k", 1, (1, 2)).records()

    def assertMalformed(self, records, mode="strong"):
        with self.assertRaises(HistoryError):
            check(mode, records)

    def test_completion_without_invoke(self):
        records = self.base()
        del records[1]
        self.assertMalformed(records)

    def test_second_completion(self):
        records = self.base()
        records.append(dict(records[-1]))
        self.assertMalformed(records)

    def test_record_before_header(self):
        self.assertMalformed(self.base()[1:])

    def test_missing_rank(self):
        records = self.base()
        records[0]["nranks"] = 2
        self.assertMalformed(records)

    def test_bad_values(self):
        for field, value in (("value", "one"), ("t", 1.5), ("f", "append")):
            with self.subTest(field=field):
                records = self.base()
                records[1][field] = value
                self.assertMalformed(records)

    def test_completion_before_invoke(self):
        records = self.base()
        records[2]["t"] = 0
        self.assertMalformed(records)

    def test_key_of_two_kinds(self):
        h = Hist(1).put(0, "k", 1, (1, 2)).add(0, "k", 1, 1, (3, 4))
        self.assertMalformed(h.records())

    def test_value_written_twice(self):
        h = Hist(2).put(0, "k", 1, (1, 2)).put(1, "k", 1, (3, 4))
        self.assertMalformed(h.records())

    def test_causal_write_without_stamp(self):
        records = self.base()
        del records[2]["ts"]
        self.assertMalformed(records, "causal")


class SearchLimit(unittest.TestCase):
    def test_a_search_past_the_limit_is_undecided(self):
        h = Hist(1).put(0, "k", 1, (1, 2)).get(0, "k", 1, (3, 4))
        saved = check_history.SEARCH_LIMIT
        check_history.SEARCH_LIMIT = 1
        try:
            with self.assertRaises(check_history.Undecided):
                check("strong", h.records())
        finally:
            check_history.SEARCH_LIMIT = saved


# ---------------------------------------------------------------- the CLI


class CommandLine(unittest.TestCase):
    def run_cli(self, mode, files):
        """Writes files (name -> text) to a temp dir, runs the CLI there."""
        with tempfile.TemporaryDirectory() as d:
            for name, text in files.items():
                with open(os.path.join(d, name), "w", encoding="utf-8") as fh:
                    fh.write(text)
            return subprocess.run(
                [sys.executable, os.path.join(HERE, "check_history.py"),
                 "--mode", mode, d], capture_output=True, text=True,
                timeout=60)

    @staticmethod
    def files(hist):
        by_rank = {}
        for rec in hist.records():
            by_rank.setdefault(rec["rank"], []).append(json.dumps(rec))
        return {f"history.{r}.jsonl": "\n".join(lines) + "\n"
                for r, lines in by_rank.items()}

    def test_legal_history_exits_0(self):
        h = Hist(2).put(0, "k", 1, (1, 2)).get(1, "k", 1, (3, 4))
        res = self.run_cli("strong", self.files(h))
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("legal", res.stdout)

    def test_violation_exits_1_and_names_it(self):
        h = Hist(2).put(0, "k", 1, (1, 2)).get(1, "k", 9, (3, 4))
        res = self.run_cli("strong", self.files(h))
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith("ThinAirRead key=k: r1#0 get"))
        self.assertIn("1 violation", lines[1])

    def test_malformed_history_exits_2_naming_file_and_line(self):
        files = self.files(Hist(2).put(0, "k", 1, (1, 2)))
        files["history.1.jsonl"] += "{not json\n"
        res = self.run_cli("strong", files)
        self.assertEqual(res.returncode, 2)
        self.assertEqual(len(res.stderr.splitlines()), 1)
        self.assertIn("history.1.jsonl:2:", res.stderr)

    def test_eventual_without_finals_exits_2(self):
        res = self.run_cli("eventual", self.files(
            Hist(1, "eventual").put(0, "k", 1, (1, 2))))
        self.assertEqual(res.returncode, 2)
        self.assertIn("final", res.stderr)

    def test_record_in_the_wrong_file_exits_2(self):
        files = self.files(Hist(2).put(0, "k", 1, (1, 2)))
        files["history.1.jsonl"] = files["history.0.jsonl"]
        res = self.run_cli("strong", files)
        self.assertEqual(res.returncode, 2)
        self.assertIn("history.1.jsonl:1:", res.stderr)


# ------------------------------------------------- generated histories

REGISTERS = ("k0", "k1", "k2", "k3")
COUNTERS = ("c0", "c1")
EXTREMES = {"lo": "min", "hi": "max"}
KEYS = REGISTERS + COUNTERS + tuple(EXTREMES)


class _Sim:
    """A correct sequential store driven by nranks clients. Each op takes
    effect at a random moment between its invoke and its completion, and
    the ranks' steps interleave at random, so ops overlap heavily. A few
    ops time out (info): half of them take effect. Written values are
    unique (rank << 40 | seq); ok writes are stamped [lamport, rank]."""

    def __init__(self, seed, nranks, nops, info_rate):
        self.rng = random.Random(seed)
        self.nranks, self.info_rate = nranks, info_rate
        self.store, self.written = {}, {k: [] for k in REGISTERS}
        self.clock = self.lamport = 0
        self.nops, self.left = nops, [nops] * nranks
        self.open = [None] * nranks  # the op a rank is in, and its phase
        self.out = [[{"type": "header", "rank": r, "nranks": nranks,
                      "mode": "strong", "seed": seed}] for r in range(nranks)]

    def run(self):
        active = list(range(self.nranks))
        while active:
            r = self.rng.choice(active)
            self.clock += self.rng.randint(1, 3)
            if self.open[r] is None and not self.left[r]:
                active.remove(r)
            elif self.open[r] is None:
                self._invoke(r)
            elif not self.open[r]["applied"]:
                self._apply(self.open[r])
            else:
                self._complete(r)
        table = {k: v for k, v in self.store.items() if v is not None}
        for r in range(self.nranks):
            self.out[r].append({"type": "final", "rank": r,
                                "table": dict(table)})
        return [rec for recs in self.out for rec in recs]

    def _invoke(self, r):
        key = self.rng.choice(KEYS)
        f, value = self._choose(r, key)
        op = {"rank": r, "id": self.nops - self.left[r], "f": f, "key": key,
              "value": value, "applied": False,
              "info": self.rng.random() < self.info_rate}
        self.out[r].append({"type": "invoke", "rank": r, "id": op["id"],
                            "f": f, "key": key, "value": value,
                            "t": self.clock})
        self.open[r] = op

    def _choose(self, r, key):
        """An operation on key and its invoke value."""
        rng, p = self.rng, self.rng.random()
        if key in COUNTERS:
            return ("add", rng.randint(-2, 4)) if p < 0.6 else ("get", None)
        if key in EXTREMES:
            return ((EXTREMES[key], rng.randint(0, 1000)) if p < 0.6
                    else ("get", None))
        if p < 0.4:
            return "get", None
        if p < 0.5:
            return "del", None
        value = (r << 40) | (self.nops - self.left[r] + 1)
        if p < 0.8:
            return "put", value
        old = self.written[key]
        if rng.random() < 0.6 or not old:
            expected = self.store.get(key)
        else:
            expected = rng.choice(old + [None])
        return "cas", [expected, value]

    def _apply(self, op):
        """The linearization point: the op acts on the store, or, for some
        info ops, never does."""
        op["applied"] = True
        if op["info"] and self.rng.random() < 0.5:
            op["result"] = None
            return
        key, f, value = op["key"], op["f"], op["value"]
        before = self.store.get(key, 0 if key in COUNTERS else None)
        op["status"], op["result"] = "ok", before
        if f == "put":
            self.store[key] = value
        elif f == "del":
            self.store[key] = None
        elif f == "cas":
            if before != value[0]:
                op["status"] = "fail"
                return
            self.store[key] = value[1]
        elif f == "add":
            self.store[key] = before + value
        elif f in ("min", "max") and before is not None:
            self.store[key] = min(before, value) if f == "min" else max(
                before, value)
        elif f in ("min", "max"):
            self.store[key] = value
        if f in ("put", "cas"):
            self.written[key].append(self.store[key])
        if f in ("put", "del", "cas"):
            self.lamport += 1
            op["ts"] = [self.lamport, op["rank"]]

    def _complete(self, r):
        op, self.open[r] = self.open[r], None
        self.left[r] -= 1
        if op["info"]:
            if self.rng.random() < 0.5:  # else the completion is never written
                self.out[r].append({"type": "info", "rank": r, "id": op["id"],
                                    "f": op["f"], "key": op["key"],
                                    "value": None, "t": self.clock})
            return
        rec = {"type": op["status"], "rank": r, "id": op["id"], "f": op["f"],
               "key": op["key"], "t": self.clock,
               "value": op["value"] if op["f"] in ("put", "del", "cas")
               else op["result"]}
        if "ts" in op:
            rec["ts"] = op["ts"]
        self.out[r].append(rec)


def generate(seed, nranks=4, nops=2000, info_rate=0.003):
    """The records of a random legal (linearizable) history."""
    return _Sim(seed, nranks, nops, info_rate).run()


def _ops(records):
    """(invoke, completion) record pairs of the ok ops, by (rank, id)."""
    invokes, pairs = {}, []
    for rec in records:
        if rec["type"] == "invoke":
            invokes[rec["rank"], rec["id"]] = rec
        elif rec["type"] == "ok":
            pairs.append((invokes[rec["rank"], rec["id"]], rec))
    return pairs


def mutate_stale_read(records, rng):
    """A copy where one get returns a value that was overwritten before the
    get began: put p ended, then another write q began and ended, then the
    get began."""
    records = copy.deepcopy(records)
    pairs = _ops(records)
    writes = [p for p in pairs if p[0]["key"] in REGISTERS
              and p[0]["f"] in ("put", "del", "cas")]
    gets = [p for p in pairs if p[0]["key"] in REGISTERS and
            p[0]["f"] == "get"]
    for inv, done in rng.sample(gets, len(gets)):
        stale = [p for p in writes if p[0]["f"] == "put" and
                 p[0]["key"] == inv["key"] and
                 p[0]["value"] != done["value"] and
                 any(q[0]["key"] == inv["key"] and p[1]["t"] < q[0]["t"] and
                     q[1]["t"] < inv["t"] for q in writes)]
        if stale:
            done["value"] = rng.choice(stale)[0]["value"]
            return records
    raise AssertionError("no get to make stale")


def mutate_counter(records, rng):
    """A copy where one add reports a prior value nobody could see."""
    records = copy.deepcopy(records)
    adds = [done for inv, done in _ops(records) if inv["f"] == "add"]
    rng.choice(adds)["value"] += 1000003
    return records


class Generated(unittest.TestCase):
    NOPS = 500  # per rank; --bench measures the full 2,000

    def setUp(self):
        self.records = generate(7, nops=self.NOPS)

    def test_generated_history_is_legal_in_every_mode(self):
        for mode in check_history.MODES:
            with self.subTest(mode=mode):
                self.assertEqual(check(mode, self.records), [])

    def test_stale_read_mutation_is_rejected(self):
        rng = random.Random(1)
        for _ in range(3):
            found = check("strong", mutate_stale_read(self.records, rng))
            self.assertTrue(found)
            names = {v.split(" ", 1)[0] for v in found}
            self.assertLessEqual(names, {"NotLinearizable", "StaleRead"})

    def test_counter_mutation_is_rejected(self):
        found = check("strong", mutate_counter(self.records, random.Random(2)))
        self.assertEqual({v.split(" ", 1)[0] for v in found},
                         {"NotLinearizable"}, found)

    def test_divergent_replica_is_rejected(self):
        records = copy.deepcopy(self.records)
        finals = [rec for rec in records if rec["type"] == "final"]
        finals[-1]["table"]["k0"] = 12345
        names = {v.split(" ", 1)[0] for v in check("eventual", records)}
        self.assertEqual(names, {"Divergence"})


class _ReplicaSim:
    """A replicated store of the weak modes: each rank reads and writes its
    own replica and sends every update to the others. Registers keep the
    write with the highest (lamport, origin) stamp; counters, min and max
    merge. causal: messages are delivered in causal order (vector clocks),
    which makes a causal+ store; otherwise in any order. tie_break=False
    compares the clocks alone: a broken store whose replicas may differ."""

    def __init__(self, seed, nranks, nops, causal=True, tie_break=True):
        self.rng = random.Random(seed)
        self.n, self.causal, self.tie_break = nranks, causal, tie_break
        self.regs = [{} for _ in range(nranks)]  # key -> (stamp, value)
        self.nums = [{} for _ in range(nranks)]  # key -> number
        self.lamport = [0] * nranks
        self.seen = [[0] * nranks for _ in range(nranks)]  # vector clocks
        # inbox[r][origin]: the messages from origin not yet delivered to r
        self.inbox = [[[] for _ in range(nranks)] for _ in range(nranks)]
        self.left, self.nops, self.t = [nops] * nranks, nops, 0
        self.out = [[{"type": "header", "rank": r, "nranks": nranks,
                      "mode": "causal", "seed": seed}] for r in range(nranks)]

    def run(self):
        while any(self.left) or any(any(q) for q in self.inbox):
            r = self.rng.randrange(self.n)
            ready = self._ready(r)
            if ready and (not self.left[r] or self.rng.random() < 0.5):
                self._deliver(r, *self.rng.choice(ready))
            elif self.left[r]:
                self._local_op(r)
        for r in range(self.n):
            table = {k: v for k, (_, v) in self.regs[r].items()
                     if v is not None}
            table.update(self.nums[r])
            self.out[r].append({"type": "final", "rank": r, "table": table})
        return [rec for recs in self.out for rec in recs]

    def _ready(self, r):
        """(origin, index) of the messages r may take now: any when not
        causal; else the oldest from an origin, once r has seen all the
        sender had seen (messages from one origin go in order)."""
        if not self.causal:
            return [(o, i) for o, q in enumerate(self.inbox[r])
                    for i in range(len(q))]
        seen = self.seen[r]
        return [(o, 0) for o, q in enumerate(self.inbox[r]) if q and all(
            c <= seen[j] for j, c in enumerate(q[0][0]) if j != o)]

    def _deliver(self, r, origin, i):
        _, key, update = self.inbox[r][origin].pop(i)
        self.seen[r][origin] += 1
        if key in REGISTERS:
            self.lamport[r] = max(self.lamport[r], update[0][0])
        self._apply(r, key, update)

    def _apply(self, r, key, update):
        if key in REGISTERS:
            old = self.regs[r].get(key, ((0, -1), None))[0]
            new = update[0]
            if (new > old) if self.tie_break else (new[0] >= old[0]):
                self.regs[r][key] = update
        elif key in COUNTERS:
            self.nums[r][key] = self.nums[r].get(key, 0) + update
        else:
            pick = min if EXTREMES[key] == "min" else max
            old = self.nums[r].get(key)
            self.nums[r][key] = update if old is None else pick(old, update)

    def _local_op(self, r):
        ident = self.nops - self.left[r]
        self.left[r] -= 1
        key = self.rng.choice(KEYS)
        f, value, result, update, ts = self._choose(r, key, ident)
        base = {"rank": r, "id": ident, "f": f, "key": key}
        self.t += 2
        self.out[r].append(dict(base, type="invoke", value=value,
                                t=self.t - 1))
        done = dict(base, type="ok", value=result, t=self.t)
        if ts:
            done["ts"] = list(ts)
        self.out[r].append(done)
        if update is not None:
            self._apply(r, key, update)
            self.seen[r][r] += 1
            message = (list(self.seen[r]), key, update)
            for other in range(self.n):
                if other != r:
                    self.inbox[other][r].append(message)

    def _choose(self, r, key, ident):
        """(f, invoke value, ok value, update to send or None, stamp)."""
        if key in COUNTERS:
            delta = self.rng.randint(-2, 4)
            return "add", delta, self.nums[r].get(key, 0), delta, None
        if key in EXTREMES:
            v = self.rng.randint(0, 1000)
            return EXTREMES[key], v, self.nums[r].get(key), v, None
        if self.rng.random() < 0.5:
            current = self.regs[r].get(key, (None, None))[1]
            return "get", None, current, None, None
        self.lamport[r] += 1
        stamp = (self.lamport[r], r)
        value = None if self.rng.random() < 0.15 else (r << 40) | (ident + 1)
        f = "put" if value is not None else "del"
        return f, value, value, (stamp, value), stamp


class ReplicatedStores(unittest.TestCase):
    """Histories of simulated weak-mode stores, correct and broken."""

    def test_causal_store_is_causal_and_eventual(self):
        for seed in range(1, 6):
            records = _ReplicaSim(seed, 4, 300).run()
            for mode in ("causal", "eventual"):
                with self.subTest(seed=seed, mode=mode):
                    self.assertEqual(check(mode, records), [])

    def test_delivery_without_dependencies_is_caught(self):
        names = set()
        for seed in range(1, 6):
            records = _ReplicaSim(seed, 4, 300, causal=False).run()
            self.assertEqual(check("eventual", records), [])
            names |= {v.split(" ", 1)[0] for v in check("causal", records)}
        self.assertTrue(names, "no seed was caught")
        self.assertLessEqual(names, {"WriteCORead", "WriteCOInitRead",
                                     "CyclicCF", "CyclicCO"})

    def test_store_without_tie_break_is_caught(self):
        names = set()
        for seed in range(1, 6):
            records = _ReplicaSim(seed, 4, 300, tie_break=False).run()
            names |= {v.split(" ", 1)[0] for v in check("eventual", records)}
        self.assertTrue(names, "no seed was caught")
        self.assertLessEqual(names, {"Divergence", "FinalNotLWW"})


def bench():
    """Times every checker on a 4 x 2,000-op history over 8 keys, and the
    strong checker on its two mutations."""
    records = generate(42, nops=2000)
    rng = random.Random(3)
    runs = [(mode, records) for mode in check_history.MODES]
    runs += [("strong/stale", mutate_stale_read(records, rng)),
             ("strong/counter", mutate_counter(records, rng))]
    for name, recs in runs:
        start = time.perf_counter()
        found = check(name.split("/")[0], recs)
        print(f"{name}: {len(recs)} records, {len(found)} violation(s), "
              f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    if sys.argv[1:] == ["--bench"]:
        bench()
    else:
        unittest.main()

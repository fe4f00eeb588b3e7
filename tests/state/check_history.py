#!/usr/bin/env python3
"""check_history.py - decides whether a history of loom's state table is legal.

Each rank writes history.<rank>.jsonl: a header, an invoke and a completion
(ok / fail / info) record per operation, and perhaps a final record holding
the rank's replica after quiescence. Every written value is unique, so a
read names the write it saw. One checker per mode:

strong    Linearizability, key by key (locality: a history is linearizable
          iff each key's sub-history is; Herlihy & Wing 1990). A pre-pass on
          unique values finds the plain patterns in O(n log n): a value never
          written (ThinAirRead), a read that ended before its write began, a
          read older than one that ended before it began (StaleRead). Then
          the Wing-Gong-Lowe search decides each key (Wing & Gong 1993; the
          just-in-time linearization list and the memo of (linearized set,
          state) from Lowe 2017, "Testing for linearizability", as in
          Porcupine and Knossos), over a register (put/get/del/cas), a
          counter (add/get), a min or a max. Intervals are closed; an "info"
          op returns at infinity and may be left out. Info ops that can
          wait (commuting updates; register puts nothing reads) are applied
          only where an op needs them, which keeps k of them from costing
          2^k. The agreed final tables are one more read after everything
          (FinalMismatch).
causal    Causal consistency by bad patterns (Bouajjani, Enea, Guerraoui,
          Hamza, POPL 2017, "On Verifying Causal Consistency"): with
          CO = (PO U RF)+ over the register ops, CyclicCO, ThinAirRead,
          WriteCOInitRead, WriteCORead, and for causal convergence CyclicCF
          (CF U CO cyclic). CO is kept as bitsets in topological order. Final
          tables: identical (Divergence), last writer wins by stamp
          (FinalNotLWW), counters, min and max from their updates
          (CounterMismatch).
eventual  Final tables required: identical, each register the offline
          last-writer-wins winner, no thin-air reads, counters, min and max
          from their updates.

CLI: check_history.py --mode MODE DIR; prints one line per violation and a
summary; exit 0 legal, 1 violation, 2 malformed history (or a search
past SEARCH_LIMIT: undecided). Library: check(mode, records) -> list of
violation strings. Python 3.10 or later, standard library only.
"""

import argparse
import bisect
import json
import math
import os
import re
import sys

MODES = ("strong", "causal", "eventual")
INF = math.inf

# Key kinds, from the writes a key sees.
REG, COUNTER, MIN, MAX = "register", "counter", "min", "max"
KIND_OF = {"put": REG, "del": REG, "cas": REG, "add": COUNTER, "min": MIN,
           "max": MAX}
OPS = ("get",) + tuple(KIND_OF)

# A state no legal step reaches (None is a state: the absent register).
ILLEGAL = object()

# The most (linearized set, state) pairs one search may visit: a few seconds
# and some hundred MB. Legal histories need about one per op. Refuting an
# illegal one can need far more when many info ops may or may not have
# taken effect; past the limit the check ends as undecided.
SEARCH_LIMIT = 300_000


class HistoryError(Exception):
    """A malformed history: where (file:line, or None) and what is wrong."""

    def __init__(self, where, what):
        super().__init__(f"{where}: {what}" if where else what)


class Undecided(Exception):
    """The search for a linearization passed SEARCH_LIMIT states."""


# ---------------------------------------------------------------- loading


def load_dir(path):
    """Reads every PATH/history.<rank>.jsonl, in rank order. Returns
    (records, places): the JSON records and 'file:line' for each."""
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        raise HistoryError(path, e.strerror) from e
    files = []
    for name in names:
        if not (name.startswith("history.") and name.endswith(".jsonl")):
            continue
        m = re.fullmatch(r"history\.(\d+)\.jsonl", name)
        if not m:
            raise HistoryError(name, "the rank in the name is not a number")
        files.append((int(m.group(1)), name))
    if not files:
        raise HistoryError(path, "no history.<rank>.jsonl files")
    records, places = [], []
    for rank, name in sorted(files):
        for rec, where in _read_file(os.path.join(path, name), name):
            if rec.get("rank") != rank:
                raise HistoryError(where, f"a record of rank "
                                   f"{rec.get('rank')!r} in the file of rank "
                                   f"{rank}")
            records.append(rec)
            places.append(where)
    return records, places


def _read_file(path, name):
    """Yields (record, 'name:line') for each line of one history file."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            where = f"{name}:{n}"
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise HistoryError(where, f"not JSON ({e})") from e
            if not isinstance(rec, dict):
                raise HistoryError(where, "a record must be a JSON object")
            yield rec, where


# ---------------------------------------------------------------- parsing


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _show(v):
    return "null" if v is None else str(v)


class Op:
    """One operation: its invoke, its outcome, and where they were read.
    status is "ok", "fail" or "info" (no completion counts as info); an info
    op returns at infinity. inv_pos/ret_pos: record positions in the rank's
    file, which give program order without clock ties."""

    __slots__ = ("who", "rank", "f", "key", "arg", "status", "result", "ts",
                 "inv", "ret", "inv_pos", "ret_pos", "where", "done_where")

    def __init__(self, rank, who, f, key, arg, inv):
        self.rank, self.who, self.f, self.key = rank, who, f, key
        self.arg, self.inv = arg, inv
        self.status, self.result, self.ts = "info", None, None
        self.ret = self.ret_pos = INF
        self.inv_pos = 0
        self.where = self.done_where = None

    def written(self):
        """The value this write stores: put, cas; None for a del."""
        return self.arg[1] if self.f == "cas" else self.arg

    def read(self):
        """(True, value) when this op observed a known register value: an ok
        get, or an ok cas (it saw its expected value); else (False, None)."""
        if self.status != "ok":
            return False, None
        if self.f == "get":
            return True, self.result
        if self.f == "cas":
            return True, self.arg[0]
        return False, None

    def __str__(self):
        text = f"{self.who} {self.f}"
        if self.f == "cas":
            text += f"({_show(self.arg[0])}->{self.arg[1]})"
        elif self.f not in ("get", "del"):
            text += f" {self.arg}"
        if self.status == "ok" and self.f in ("get", "add", "min", "max"):
            text += f" -> {_show(self.result)}"
        elif self.status != "ok":
            text += f" [{self.status}]"
        return text


class History:
    """A parsed history: ops (by key), each key's kind, the final tables."""

    def __init__(self):
        self.nranks = None
        self.ops = []
        self.by_key = {}
        self.kinds = {}
        self.finals = {}  # rank -> {key: value}

    def kind(self, key):
        return self.kinds.get(key, REG)

    def keys(self):
        """Every key of the ops or of a final table, sorted."""
        keys = set(self.by_key)
        for table in self.finals.values():
            keys.update(table)
        return sorted(keys)


class _Rank:
    """What the parser knows of one rank while reading its records."""

    def __init__(self):
        self.open = {}  # id -> Op without a completion yet
        self.ids = set()
        self.pos = 0
        self.ended = False  # its final record was read


def parse(records, places=None):
    """Checks the records and builds a History; raises HistoryError."""
    if places is None:
        places = [f"record {i + 1}" for i in range(len(records))]
    h, ranks = History(), {}
    for rec, where in zip(records, places):
        _parse_record(h, ranks, rec, where)
    if h.nranks is None:
        raise HistoryError(None, "no header record")
    missing = sorted(set(range(h.nranks)) - set(ranks))
    if missing:
        raise HistoryError(None, f"no header for rank(s) {missing} "
                           f"of {h.nranks}")
    _index_keys(h)
    return h


def _parse_record(h, ranks, rec, where):
    if not isinstance(rec, dict):
        raise HistoryError(where, "a record must be a JSON object")
    kind, rank = rec.get("type"), rec.get("rank")
    if not _is_int(rank) or rank < 0:
        raise HistoryError(where, f"bad rank {rank!r}")
    if kind == "header":
        _parse_header(h, ranks, rec, where)
        return
    st = ranks.get(rank)
    if st is None:
        raise HistoryError(where, f"rank {rank}: a record before the header")
    if st.ended:
        raise HistoryError(where, "record after the final record")
    st.pos += 1
    if kind == "invoke":
        _parse_invoke(h, st, rec, where)
    elif kind in ("ok", "fail", "info"):
        _parse_completion(st, rec, where)
    elif kind == "final":
        _parse_final(h, st, rec, where)
    else:
        raise HistoryError(where, f"unknown record type {kind!r}")


def _parse_header(h, ranks, rec, where):
    rank, nranks = rec["rank"], rec.get("nranks")
    if not _is_int(nranks) or not 0 <= rank < nranks:
        raise HistoryError(where, f"bad nranks {nranks!r} for rank {rank}")
    if h.nranks is not None and nranks != h.nranks:
        raise HistoryError(where, f"nranks {nranks}, another header says "
                           f"{h.nranks}")
    if rank in ranks:
        raise HistoryError(where, f"second header for rank {rank}")
    if rec.get("mode") not in MODES:
        raise HistoryError(where, f"bad mode {rec.get('mode')!r}")
    h.nranks = nranks
    ranks[rank] = _Rank()


def _parse_invoke(h, st, rec, where):
    rank, ident, f, key, t = (rec["rank"], rec.get("id"), rec.get("f"),
                              rec.get("key"), rec.get("t"))
    if not _is_int(ident) or ident in st.ids:
        raise HistoryError(where, f"missing or repeated op id {ident!r}")
    if f not in OPS:
        raise HistoryError(where, f"unknown operation {f!r}")
    if not isinstance(key, str) or not _is_int(t):
        raise HistoryError(where, "an invoke needs a string key and an "
                           "integer t")
    value = rec.get("value")
    if not _valid_argument(f, value):
        raise HistoryError(where, f"bad value {value!r} for {f}")
    op = Op(rank, f"r{rank}#{ident}", f, key, value, t)
    op.inv_pos, op.where = st.pos, where
    st.ids.add(ident)
    st.open[ident] = op
    h.ops.append(op)


def _valid_argument(f, v):
    if f in ("get", "del"):
        return v is None
    if f == "cas":
        return (isinstance(v, list) and len(v) == 2 and
                (v[0] is None or _is_int(v[0])) and _is_int(v[1]))
    return _is_int(v)


def _parse_completion(st, rec, where):
    ident = rec.get("id")
    op = st.open.pop(ident, None) if _is_int(ident) else None
    if op is None:
        raise HistoryError(where, f"completion of id {ident!r}, "
                           "which has no open invoke")
    if rec.get("f", op.f) != op.f or rec.get("key", op.key) != op.key:
        raise HistoryError(where, f"completion does not match {op.who}'s "
                           "invoke (f or key)")
    t = rec.get("t")
    if not _is_int(t) or t < op.inv:
        raise HistoryError(where, f"completion time {t!r} is not an integer "
                           "at or after the invoke")
    op.status, op.done_where = rec["type"], where
    if op.status == "info":
        return  # indeterminate: it still returns at infinity
    op.ret, op.ret_pos = t, st.pos
    if op.status == "ok":
        _parse_result(op, rec, where)


def _parse_result(op, rec, where):
    value = rec.get("value")
    if op.f == "add" and not _is_int(value):
        raise HistoryError(where, f"add result {value!r} is not an integer")
    if op.f in ("get", "min", "max") and not (value is None or _is_int(value)):
        raise HistoryError(where, f"{op.f} result {value!r} is not an "
                           "integer or null")
    op.result = value
    ts = rec.get("ts")
    if ts is not None:
        if not (isinstance(ts, list) and len(ts) == 2 and
                all(_is_int(x) for x in ts)):
            raise HistoryError(where, f"bad ts {ts!r}: want [lamport, rank]")
        op.ts = tuple(ts)


def _parse_final(h, st, rec, where):
    table = rec.get("table")
    if not isinstance(table, dict) or not all(
            _is_int(v) for v in table.values()):
        raise HistoryError(where, "a final table maps keys to integers")
    h.finals[rec["rank"]] = table
    st.ended = True


def _index_keys(h):
    """Groups ops by key, sets each key's kind (one per key), and checks
    that the values written to a register are unique."""
    written = {}
    for op in h.ops:
        h.by_key.setdefault(op.key, []).append(op)
        kind = KIND_OF.get(op.f)
        if kind is None:
            continue
        if h.kinds.setdefault(op.key, kind) != kind:
            raise HistoryError(op.where, f"{op.f} on key {op.key}, which is "
                               f"a {h.kinds[op.key]} key")
        if kind == REG and op.f != "del" and op.status != "fail":
            value = op.written()
            other = written.setdefault((op.key, value), op)
            if other is not op:
                raise HistoryError(op.where, f"value {value} written to "
                                   f"{op.key} twice ({other.who}, {op.who})")


def _need_stamps(h):
    """Causal and eventual writes carry their last-writer-wins stamp."""
    for op in h.ops:
        if (op.status == "ok" and h.kind(op.key) == REG and op.f != "get"
                and op.ts is None):
            raise HistoryError(op.done_where, f"{op.who}: an ok {op.f} "
                               "without its ts stamp")


# ------------------------------------------------------- unique-value reads


def _writes_by_value(ops):
    """value -> the put or cas that wrote it (ok or info) on one key."""
    return {op.written(): op for op in ops
            if op.f in ("put", "cas") and op.status != "fail"}


def _thin_air(key, ops, writes):
    """ThinAirRead violations: reads of a value nobody wrote."""
    out = []
    for op in ops:
        seen, value = op.read()
        if seen and value is not None and value not in writes:
            out.append(f"ThinAirRead key={key}: {op} read {value}, which no "
                       "write wrote")
    return out


# ------------------------------------------------------------------ strong


def check_strong(h):
    """Linearizability of every key, then the final tables against it."""
    out = []
    finals = _agreed_finals(h, out, "FinalMismatch") if h.finals else None
    for key in h.keys():
        ops = h.by_key.get(key, [])
        kind = h.kind(key)
        found = _prepass(key, ops) if kind == REG else []
        if found:
            out += found  # already not linearizable: spare the search
            continue
        final = (finals[key],) if finals and key in finals else None
        out += _linearize_key(key, kind, ops, final)
    return out


def _prepass(key, ops):
    """The unique-value pre-pass of one register key."""
    writes = _writes_by_value(ops)
    out = _thin_air(key, ops, writes)
    pairs = []  # (read, the write it saw), for the stale-read pass
    for op in ops:
        seen, value = op.read()
        w = writes.get(value) if seen else None
        if w is None:
            continue
        if op.ret < w.inv:
            out.append(f"NotLinearizable key={key}: {op} returned before "
                       f"{w} was invoked")
        else:
            pairs.append((op, w))
    return out + _stale_reads(key, pairs)


def _stale_reads(key, pairs):
    """StaleRead: r2 saw w2 although r1, which ended before r2 began, saw w1,
    and w2 ended before w1 began: w1 lies between w2 and r2 in every
    linearization. For each r2, the r1 with the latest-invoked w1 is the
    strongest witness; prefix maxima find it in O(n log n)."""
    pairs.sort(key=lambda p: p[0].ret)
    rets = [r.ret for r, _ in pairs]
    best, witness = [], None
    for r, w in pairs:
        if witness is None or w.inv > witness[1].inv:
            witness = (r, w)
        best.append(witness)
    out = []
    for r2, w2 in pairs:
        k = bisect.bisect_left(rets, r2.inv)  # reads that ended before r2
        if k and w2.ret < best[k - 1][1].inv:
            r1, w1 = best[k - 1]
            out.append(f"StaleRead key={key}: {r2} saw {w2}, but {r1}, which "
                       f"ended before it began, saw the later {w1}")
    return out


def _agreed_finals(h, out, pattern):
    """key -> final value for the keys on which every final table agrees;
    appends a violation named pattern for each key on which they differ."""
    agreed = {}
    for key in h.keys():
        default = 0 if h.kind(key) == COUNTER else None
        values = {rank: table.get(key, default)
                  for rank, table in sorted(h.finals.items())}
        if len(set(values.values())) == 1:
            agreed[key] = next(iter(values.values()))
        else:
            shown = " ".join(f"r{r}={_show(v)}" for r, v in values.items())
            out.append(f"{pattern} key={key}: replicas differ: {shown}")
    return agreed


def _linearize_key(key, kind, ops, final):
    """NotLinearizable / FinalMismatch for one key. final: None, or a
    1-tuple with the agreed final value, checked as a last read."""
    ops = [op for op in ops if _constrains(op)]
    # Searches of legal histories are quick, refutations are not: so the
    # ops alone first, and the final value only once they linearize.
    failure = _search(kind, ops)
    if failure is not None:
        return [_describe_failure(key, failure)]
    if final is None:
        return []
    if _search(kind, ops + [_final_read(key, ops, final[0])]) is None:
        return []
    return [f"FinalMismatch key={key}: the final value {_show(final[0])} "
            "ends no linearization of its ops"]


def _constrains(op):
    """Whether op takes part in the search: ok ops, a lost cas (a read of
    something else), info writes. Other failed ops and info reads neither
    changed nor revealed anything."""
    if op.status == "fail":
        return op.f == "cas"
    return op.status == "ok" or op.f != "get"


def _final_read(key, ops, value):
    """A read of the final value after every op of the key."""
    end = max([op.ret for op in ops if op.ret != INF] +
              [op.inv for op in ops] + [0])
    probe = Op(None, "final", "get", key, None, end + 1)
    probe.status, probe.result, probe.ret = "ok", value, end + 2
    return probe


def _search(kind, ops):
    """The WGL search of one key's ops with the model of its kind. Some info
    ops wait in a _Pool until an op needs them: all those of a counter, min
    or max, and a register's info puts whose value nothing reads."""
    if kind == REG:
        spare = _unread_info_puts(ops)
        listed = [op for op in ops if id(op) not in spare]
        pool = _Pool(spare.values(), len(listed))
        return _wgl(listed, pool.register_options, None)
    listed = [op for op in ops if op.status != "info"]
    pool = _Pool([op for op in ops if op.status == "info"], len(listed))
    if kind == COUNTER:
        return _wgl(listed, pool.counter_options, 0)
    return _wgl(listed, pool.extreme_options(min if kind == MIN else max),
                None)


def _unread_info_puts(ops):
    """id -> op of the info puts whose value no get, cas or final read
    expects. If one took effect, the ops up to the next write can only be
    lost cas ops, which it helps to have seen "something other than
    expected": so it is needed only just before a lost cas."""
    seen = {op.arg[0] for op in ops if op.f == "cas"}
    seen.update(op.result for op in ops if op.f == "get")
    return {id(op): op for op in ops if op.status == "info" and
            op.f == "put" and op.arg not in seen}


# A model's options(entry, state, bits) lists the ways to linearize the
# entry's op now: (linearized set, state after) pairs; empty when it cannot
# be. bits is the set so far, one bit per op (by index).


def _register_options(entry, state, bits):
    """A register (put, get, del, cas). An info op is linearized as having
    taken effect; leaving it out is the search's other choice."""
    op, after = entry.op, ILLEGAL
    if op.f == "put":
        after = op.arg
    elif op.f == "del":
        after = None
    elif op.f == "get":
        after = state if state == op.result else ILLEGAL
    elif op.status == "fail":  # a lost cas saw something else
        after = state if state != op.arg[0] else ILLEGAL
    elif state == op.arg[0]:
        after = op.arg[1]
    return [] if after is ILLEGAL else [(bits | 1 << entry.index, after)]


class _Pool:
    """Info ops kept out of the event list. A counter's, min's or max's
    updates commute and every other op of such a key observes the value,
    so any linearization can be rearranged until each info op that took
    effect sits just before the next op that observes it. The search
    therefore applies them only there, as part of that op's step: the sets
    of them that explain the observed value. Likewise a register's unread
    info puts, just before a lost cas. Pool op i (in invoke order) is bit
    first + i of the linearized set."""

    def __init__(self, ops, first):
        self.ops = sorted(ops, key=lambda op: op.inv)
        self.invs = [op.inv for op in self.ops]
        self.first = first
        self.by_arg = {}  # argument -> bitset of the pool ops with it
        for i, op in enumerate(self.ops, first):
            self.by_arg[op.arg] = self.by_arg.get(op.arg, 0) | 1 << i

    def _ready(self, entry, bits):
        """The bitset of pool ops not yet applied and invoked by the
        deadline: the first return left in the list. The scan reached
        entry passing calls only, and entry's own return lies ahead (the
        ops asked about all have one)."""
        e = entry.next
        while e.call:
            e = e.next
        n = bisect.bisect_right(self.invs, e.op.ret)
        return ((1 << n) - 1) << self.first & ~bits

    def register_options(self, entry, state, bits):
        """A lost cas that would find its expected value may have an
        unread put just before it. Any ready one serves, and stays ready
        later had another been chosen, so the earliest is taken."""
        options = _register_options(entry, state, bits)
        op = entry.op
        if options or op.f != "cas" or op.status != "fail":
            return options
        ready = self._ready(entry, bits)
        if not ready:
            return []
        bit = ready & -ready
        put = self.ops[bit.bit_length() - 1 - self.first]
        return [(bits | 1 << entry.index | bit, put.arg)]

    def counter_options(self, entry, state, bits):
        """add (ok: returns the value before) and get (null reads 0)."""
        op = entry.op
        seen = op.result or 0
        after = seen + (op.arg if op.f == "add" else 0)
        mine = bits | 1 << entry.index
        ready = self._ready(entry, bits)
        groups = [(delta, mask & ready) for delta, mask in self.by_arg.items()
                  if mask & ready]
        return [(mine | extra, after)
                for extra in _subsets_summing(groups, seen - state)]

    def extreme_options(self, pick):
        """The options of a min (pick=min) or max key: get, and min/max
        that return the value before. The one pool op worth applying is
        one that brings the value to what the op saw; any other can wait,
        as it either changes nothing or still can later."""
        def options(entry, state, bits):
            op, seen = entry.op, entry.op.result
            extra = 0
            if state != seen:
                if seen is None or (state is not None and
                                    pick(state, seen) != seen):
                    return []
                same = self.by_arg.get(seen, 0) & self._ready(entry, bits)
                extra = same & -same  # the earliest invoked of them
                if not extra:
                    return []
            after = seen
            if op.f != "get":
                after = op.arg if seen is None else pick(seen, op.arg)
            return [(bits | 1 << entry.index | extra, after)]
        return options


def _subsets_summing(groups, target):
    """The sets (bitsets) of pool adds whose deltas sum to target; groups:
    (delta, bitset of the ready adds with that delta). Adds of equal delta
    are interchangeable (the earlier-invoked one can take the other's
    place), so only the earliest j of a delta are chosen, and bounds on
    what the remaining groups can still add prune the rest."""
    counts = [mask.bit_count() for _, mask in groups]
    low, high = [0] * (len(groups) + 1), [0] * (len(groups) + 1)
    for g in range(len(groups) - 1, -1, -1):
        reach = groups[g][0] * counts[g]
        low[g] = low[g + 1] + min(0, reach)
        high[g] = high[g + 1] + max(0, reach)
    found = []

    def choose(g, rest, chosen):
        if g == len(groups):
            found.append(chosen)
            return
        delta, mask = groups[g]
        while True:  # take 0, 1, 2 ... of this delta while rest can be met
            if low[g + 1] <= rest <= high[g + 1]:
                choose(g + 1, rest, chosen)
            elif (rest < low[g + 1]) == (delta > 0):
                return  # and taking more only moves rest further away
            if not mask or not delta:
                return
            bit = mask & -mask
            mask ^= bit
            chosen |= bit
            rest -= delta

    if target == 0 and (low[0] == 0 or high[0] == 0):
        return [0]  # one-signed deltas: only the empty set sums to 0
    if low[0] <= target <= high[0]:
        choose(0, target, 0)
    return found


class _Entry:
    """An event of the WGL list: an op's call, or its return (match is the
    call's return entry; info ops have none)."""

    __slots__ = ("op", "index", "call", "match", "prev", "next")

    def __init__(self, op=None, index=-1, call=False):
        self.op, self.index, self.call = op, index, call
        self.match = self.prev = self.next = None


def _event_list(ops):
    """The doubly linked event list in time order; calls sort before returns
    at equal times, so touching intervals overlap (closed intervals)."""
    events = []
    for i, op in enumerate(ops):
        events.append((op.inv, 0, i))
        if op.ret != INF:
            events.append((op.ret, 1, i))
    events.sort(key=lambda e: (e[0], e[1]))
    head, calls = _Entry(), {}
    last = head
    for _, is_return, i in events:
        entry = _Entry(ops[i], i, not is_return)
        if is_return:
            calls[i].match = entry
        else:
            calls[i] = entry
        last.next, entry.prev, last = entry, last, entry
    return head


def _unlink(e):
    e.prev.next = e.next
    if e.next is not None:
        e.next.prev = e.prev


def _relink(e):
    e.prev.next = e
    if e.next is not None:
        e.next.prev = e


def _lift(call):
    _unlink(call)
    if call.match is not None:
        _unlink(call.match)


def _unlift(call):
    if call.match is not None:
        _relink(call.match)
    _relink(call)


def _wgl(ops, options_of, initial):
    """Wing-Gong-Lowe search. Returns None when the ops linearize, else
    (depth, op that could not be placed, state, open ops, total) at the
    deepest point reached. The search is done once every op with a return
    is linearized: info ops left over are the ones that never took effect.
    Each stack frame keeps the options of its entry, to try the next one
    when the search backtracks there."""
    head = _event_list(ops)
    need = sum(op.ret != INF for op in ops)
    done, state, bits = 0, initial, 0
    stack, seen, deepest = [], set(), None
    entry, options, k = head.next, None, 0
    while done < need:
        if entry.call:
            if options is None:
                options, k = options_of(entry, state, bits), 0
            while k < len(options) and options[k] in seen:
                k += 1
            if k == len(options):
                entry, options = entry.next, None
                continue
            if len(seen) >= SEARCH_LIMIT:
                raise Undecided(f"key {entry.op.key}: the search passed "
                                f"{SEARCH_LIMIT} states")
            seen.add(options[k])
            stack.append((entry, state, bits, options, k))
            bits, state = options[k]
            done += entry.match is not None
            _lift(entry)
            entry, options = head.next, None
            continue
        # A return: its op could not be linearized before its deadline.
        if deepest is None or len(stack) > deepest[0]:
            deepest = (len(stack), entry.op, state, _open_calls(head, entry),
                       len(ops))
        if not stack:
            return deepest
        entry, state, bits, options, k = stack.pop()
        k += 1
        done -= entry.match is not None
        _unlift(entry)
    return None


def _open_calls(head, stop):
    """The ops invoked and not linearized before the return entry stop."""
    ops, e = [], head.next
    while e is not stop:
        if e.call:
            ops.append(e.op)
        e = e.next
    return ops


def _describe_failure(key, failure):
    depth, op, state, pending, total = failure
    others = [o for o in pending if o is not op][:6]
    listed = ", ".join(str(o) for o in others) or "none"
    return (f"NotLinearizable key={key}: {op} fits nowhere: at best {depth} "
            f"of {total} ops linearize, leaving the value {_show(state)}; "
            f"ops open there: {listed}")


# ------------------------------------------------------------------ causal


def check_causal(h):
    """Bouajjani et al.'s bad patterns, then convergence of the finals."""
    _need_stamps(h)
    graph = _CausalGraph(h)
    out = list(graph.thin_air)
    cycle = graph.co_cycle()
    if cycle:
        out.append(f"CyclicCO {_cycle_keys(cycle)}: {_show_cycle(cycle)}")
    else:
        graph.close()
        found = graph.write_co_reads()
        out += found
        if not found:  # a CO pattern already breaks convergence
            out += graph.cyclic_cf()
    if h.finals:
        _check_convergence(h, out)
    return out


class _CausalGraph:
    """CO over the register ops: nodes, PO and RF edges (as predecessor
    lists), and after close() each node's CO ancestors and descendants as
    bitsets over topological positions. Only ops that may have taken effect
    are nodes; an unread info write has no RF edge, and no op of a rank
    follows an info op in PO (its end is unknown). A null read has no RF
    edge: the del or initial value it saw is not known."""

    def __init__(self, h):
        self.nodes = [op for op in h.ops if h.kind(op.key) == REG
                      and _constrains(op) and op.status != "fail"]
        self.index = {id(op): i for i, op in enumerate(self.nodes)}
        self.preds = [[] for _ in self.nodes]
        self.thin_air = []
        self.source = {}  # read node -> write node it read (non-null)
        self._program_order()
        self._reads_from(h)

    def _program_order(self):
        """Edges a -> b within a rank when a's completion precedes b's
        invoke in the rank's file; only the edges no other pair implies."""
        by_rank = {}
        for op in self.nodes:
            by_rank.setdefault(op.rank, []).append(op)
        for ops in by_rank.values():
            done = sorted((op for op in ops if op.ret_pos != INF),
                          key=lambda op: op.ret_pos)
            ends = [op.ret_pos for op in done]
            latest, top = [], -1  # prefix maxima of invoke positions
            for op in done:
                top = max(top, op.inv_pos)
                latest.append(top)
            for b in ops:
                j = bisect.bisect_left(ends, b.inv_pos) - 1
                limit = latest[j] if j >= 0 else None
                while j >= 0 and done[j].ret_pos > limit:
                    self._edge(done[j], b)
                    j -= 1

    def _reads_from(self, h):
        """RF edges from each write to the reads of its (unique) value."""
        for key in sorted({op.key for op in self.nodes}):
            ops = [op for op in h.by_key[key] if id(op) in self.index]
            writes = _writes_by_value(ops)
            self.thin_air += _thin_air(key, ops, writes)
            for op in ops:
                seen, value = op.read()
                if seen and value in writes:
                    w = writes[value]
                    self.source[self.index[id(op)]] = self.index[id(w)]
                    self._edge(w, op)

    def _edge(self, a, b):
        self.preds[self.index[id(b)]].append(self.index[id(a)])

    def co_cycle(self):
        """A CO cycle (a list of ops), or None; sets the topological order
        that close() numbers the nodes by."""
        self.order = _topological(self.preds)
        return self._cycle_ops(self.preds, self.order)

    def _cycle_ops(self, preds, order):
        if len(order) == len(preds):
            return None
        return [self.nodes[i] for i in _find_cycle(preds, set(order))]

    def close(self):
        """CO ancestors (anc) and descendants (desc) of each node, as
        bitsets; bit p is the node at topological position p, so a node's
        descendants all sit at higher bits than it."""
        n = len(self.nodes)
        self.pos = [0] * n
        for p, v in enumerate(self.order):
            self.pos[v] = p
        succs = [[] for _ in range(n)]
        for v, ps in enumerate(self.preds):
            for u in ps:
                succs[u].append(v)
        self.anc, self.desc = [0] * n, [0] * n
        for v in self.order:
            for u in self.preds[v]:
                self.anc[v] |= self.anc[u] | (1 << self.pos[u])
        for v in reversed(self.order):
            for w in succs[v]:
                self.desc[v] |= self.desc[w] | (1 << self.pos[w])
        self.writes = {}  # key -> bitset of writes known to take effect
        self.dels = {}  # key -> the dels (ok or info) a null read may see
        read = set(self.source.values())
        for v, op in enumerate(self.nodes):
            if op.f == "get":
                continue
            if op.status == "ok" or v in read:
                self.writes[op.key] = self.writes.get(op.key, 0) | (
                    1 << self.pos[v])
            if op.f == "del":
                self.dels.setdefault(op.key, []).append(v)

    def _op_at(self, bits):
        """The op at the lowest set bit of a nonzero bitset."""
        return self.nodes[self.order[(bits & -bits).bit_length() - 1]]

    def write_co_reads(self):
        """WriteCORead and WriteCOInitRead over every read node."""
        out = []
        for r, op in enumerate(self.nodes):
            seen, value = op.read()
            if not seen or (value is not None and r not in self.source):
                continue  # not a read, or a thin-air one
            if value is None:
                out += self._null_read(r, op)
                continue
            w = self.source[r]
            between = self.desc[w] & self.anc[r] & self.writes[op.key]
            if between:
                out.append(f"WriteCORead key={op.key}: {op} read "
                           f"{self.nodes[w]}, overwritten in its causal past "
                           f"by {self._op_at(between)}")
        return out

    def _null_read(self, r, op):
        """A null read must see the initial value or some del d with no
        write of its key between d and the read in CO (and d not after the
        read). Only when no candidate fits is it reported."""
        past = self.anc[r] & self.writes.get(op.key, 0)
        if not past:
            return []  # the initial value fits
        for d in self.dels.get(op.key, []):
            after_read = (self.anc[d] >> self.pos[r]) & 1
            if not after_read and not (self.desc[d] & past):
                return []
        if op.key not in self.dels:
            return [f"WriteCOInitRead key={op.key}: {op} read the initial "
                    f"value after {self._op_at(past)} in its causal past"]
        return [f"WriteCORead key={op.key}: {op} read null, but the initial "
                "value and every del it could have seen are overwritten in "
                f"its causal past (e.g. by {self._op_at(past)})"]

    def cyclic_cf(self):
        """CyclicCF: w1 CF w2 when a read saw w2 with w1 (same key) in its
        causal past; CF U CO must be acyclic. Per read, edges from the
        CO-maximal such w1 suffice, since CO edges carry the rest. Null
        reads add none: which del (or the initial value) they saw is not
        known, and the initial value was already checked by
        WriteCOInitRead."""
        preds = [list(p) for p in self.preds]
        for r, w2 in self.source.items():
            key = self.nodes[r].key
            rest = self.anc[r] & self.writes[key] & ~(
                self.anc[w2] | (1 << self.pos[w2]))
            while rest:
                top = rest.bit_length() - 1
                w1 = self.order[top]
                preds[w2].append(w1)
                rest &= ~(self.anc[w1] | (1 << top))
        cycle = self._cycle_ops(preds, _topological(preds))
        if cycle is None:
            return []
        return [f"CyclicCF {_cycle_keys(cycle)}: {_show_cycle(cycle)}"]


def _topological(preds):
    """Kahn's algorithm: the nodes in a topological order, leaving out
    those on or after a cycle."""
    n = len(preds)
    succs, indeg = [[] for _ in range(n)], [len(p) for p in preds]
    for v, ps in enumerate(preds):
        for u in ps:
            succs[u].append(v)
    order = [v for v in range(n) if indeg[v] == 0]
    for v in order:  # order grows while it is walked
        for w in succs[v]:
            indeg[w] -= 1
            if indeg[w] == 0:
                order.append(w)
    return order


def _find_cycle(preds, ordered):
    """A cycle among the nodes Kahn's algorithm left out: each has a
    predecessor also left out, so walking predecessors must repeat."""
    v = next(u for u in range(len(preds)) if u not in ordered)
    path, at = [], {}
    while v not in at:
        at[v] = len(path)
        path.append(v)
        v = next(u for u in preds[v] if u not in ordered)
    return list(reversed(path[at[v]:]))


def _cycle_keys(ops):
    return "key=" + ",".join(sorted({op.key for op in ops}))


def _show_cycle(ops):
    shown = [str(op) for op in ops[:8]]
    if len(ops) > 8:
        shown.append(f"... ({len(ops) - 8} more)")
    return " -> ".join(shown + [str(ops[0])])


# ------------------------------------------------- convergence (finals)


def _check_convergence(h, out):
    """Divergence, FinalNotLWW, CounterMismatch for the final tables."""
    for key, value in _agreed_finals(h, out, "Divergence").items():
        ops = h.by_key.get(key, [])
        if h.kind(key) == REG:
            out += _check_lww(key, ops, value)
        else:
            out += _check_merged(key, h.kind(key), ops, value)


def _check_lww(key, ops, value):
    """The final register value is the write with the highest stamp among
    the ok writes, or one of the info writes (their stamps are unknown)."""
    writes = [op for op in ops if op.f != "get" and op.status != "fail"]
    ok = sorted((op for op in writes if op.status == "ok"),
                key=lambda op: op.ts)
    if len(ok) > 1 and ok[-2].ts == ok[-1].ts:
        return [f"FinalNotLWW key={key}: {ok[-2]} and {ok[-1]} share the "
                f"stamp {list(ok[-1].ts)}, so no writer wins"]
    allowed = {op.written() for op in writes if op.status == "info"}
    allowed.add(ok[-1].written() if ok else None)
    if value in allowed:
        return []
    winner = f"{ok[-1]} at {list(ok[-1].ts)}" if ok else "no ok write"
    return [f"FinalNotLWW key={key}: final value {_show(value)}, but the "
            f"last writer by stamp is {winner} (allowed: "
            f"{', '.join(sorted(_show(v) for v in allowed))})"]


def _check_merged(key, kind, ops, value):
    """Counters: the sum of the ok adds plus some subset of the info ones.
    Min and max: the least or greatest value applied, info ones optional."""
    ok = [op.arg for op in ops if op.f != "get" and op.status == "ok"]
    info = [op.arg for op in ops if op.f != "get" and op.status == "info"]
    if kind == COUNTER:
        fits = _subset_sum_fits(value - sum(ok), info)
        expect = f"the ok adds sum to {sum(ok)}"
    else:
        pick = min if kind == MIN else max
        best = pick(ok) if ok else None
        fits = value == best or (value in info and (
            best is None or pick(value, best) == value))
        expect = f"the ok {kind} values give {_show(best)}"
    if fits:
        return []
    extra = f", with {len(info)} info op(s) that may count" if info else ""
    return [f"CounterMismatch key={key}: final value {_show(value)}, but "
            f"{expect}{extra}"]


def _subset_sum_fits(target, deltas):
    """Whether some subset of deltas sums to target. Exact while the set of
    reachable sums stays small (2^16); beyond that, whether target lies
    between the least and the greatest sum: that may miss a violation but
    never reports a false one."""
    sums = {0}
    for d in deltas:
        sums |= {s + d for s in sums}
        if len(sums) > 1 << 16:
            low = sum(d for d in deltas if d < 0)
            high = sum(d for d in deltas if d > 0)
            return low <= target <= high
    return target in sums


# ---------------------------------------------------------------- eventual


def check_eventual(h):
    """No thin-air reads; identical final tables that hold the offline
    last-writer-wins registers and the merged counters, min and max."""
    _need_stamps(h)
    if not h.finals:
        raise HistoryError(None, "eventual mode needs final records, and no "
                           "rank wrote one")
    out = []
    for key, ops in sorted(h.by_key.items()):
        if h.kind(key) == REG:
            out += _thin_air(key, ops, _writes_by_value(ops))
    _check_convergence(h, out)
    return out


# --------------------------------------------------------------- interface

CHECKERS = {"strong": check_strong, "causal": check_causal,
            "eventual": check_eventual}


def check(mode, records, places=None):
    """The violations of a history (a list of records) in mode: a list of
    strings, empty when legal. places: 'file:line' of each record, for
    errors. Raises HistoryError when malformed, Undecided when a search
    passes SEARCH_LIMIT states."""
    return CHECKERS[mode](parse(records, places))


def _summary(mode, h, violations):
    verdict = f"{len(violations)} violation(s)" if violations else "legal"
    return (f"{mode}: {verdict}: {len(h.ops)} ops on {len(h.keys())} keys "
            f"from {h.nranks} ranks")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Check a loom state-table history: exit 0 legal, "
        "1 violation, 2 malformed.")
    ap.add_argument("--mode", required=True, choices=MODES)
    ap.add_argument("dir", help="directory holding history.<rank>.jsonl")
    args = ap.parse_args(argv)
    try:
        h = parse(*load_dir(args.dir))
        violations = CHECKERS[args.mode](h)
    except HistoryError as e:
        print(f"check_history: malformed history: {e}", file=sys.stderr)
        return 2
    except Undecided as e:
        print(f"check_history: undecided: {e}; too many info ops open at "
              "once", file=sys.stderr)
        return 2
    for v in violations:
        print(v)
    print(_summary(args.mode, h, violations))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())

"""The engine's event heap (replay/sim/_engine.py, "-- heap --") against a plain model: rows
are popped in (time, sequence) order, every push and every move of a CPU's POINT row takes
the next sequence number, a moved POINT row replaces the CPU's previous one and a dropped
one is gone. After every operation the heap property holds and HI[cpu] is the slot of the
CPU's only POINT row (-1 when it has none). Times are drawn from a small range so that
ties, decided by the sequence number, are frequent."""

from __future__ import annotations

import numba
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from policies import _state as E
from replay.sim import _engine as EN

PUSH, SET_POINT, DROP_POINT, POP = range(4)
N_CPUS = 16


@numba.njit
def _check(Q):
    """0 if the heap property holds and HI matches the POINT rows, else a code."""
    HT, HP, HN, HI = Q
    n = HN[0]
    points = 0
    for i in range(n):
        if i > 0 and EN._less(HT, HP, i, (i - 1) // 2):
            return 1
        if HP[i, 1] == E.EV_POINT:
            points += 1
            if HI[HP[i, 2]] != i:
                return 2
    for c in range(len(HI) - 1):
        if HI[c] >= 0:
            points -= 1
            if HI[c] >= n or HP[HI[c], 1] != E.EV_POINT or HP[HI[c], 2] != c:
                return 3
    return 4 if points != 0 else 0


@numba.njit
def _drive(ops, Q, stats, out):
    """Apply ops (op, time, a, b); write each popped row (time, type, a, b, last sequence)
    to out. Returns the number of pops, or -(1 + op index) * 10 - code on a broken heap."""
    for c in range(len(Q.HI)):
        Q.HI[c] = -1
    k = 0
    for r in range(len(ops)):
        op, t, a, b = ops[r, 0], ops[r, 1], ops[r, 2], ops[r, 3]
        if op == PUSH:
            EN.push(Q, stats, t, E.EV_START, a, b)
        elif op == SET_POINT:
            EN._set_point(Q, stats, a, True, t, b)
        elif op == DROP_POINT:
            EN._set_point(Q, stats, a, False, 0, 0)
        elif Q.HN[0] > 0:
            ev_t, ev_typ, ev_a, ev_b = EN.pop(Q)
            out[k, 0], out[k, 1], out[k, 2], out[k, 3], out[k, 4] = ev_t, ev_typ, ev_a, ev_b, Q.HN[1]
            k += 1
        code = _check(Q)
        if code:
            return -(1 + r) * 10 - code
    return k


def model(ops):
    """The same operations on a dict of rows keyed by sequence number."""
    rows, point, seq, popped = {}, {}, 0, []
    for op, t, a, b in ops:
        if op == PUSH:
            seq += 1
            rows[seq] = (t, E.EV_START, a, b)
        elif op == SET_POINT:
            seq += 1
            rows.pop(point.get(a), None)
            point[a] = seq
            rows[seq] = (t, E.EV_POINT, a, b)
        elif op == DROP_POINT:
            rows.pop(point.pop(a, None), None)
        elif rows:
            s = min(rows, key=lambda x: (rows[x][0], x))
            r = rows.pop(s)
            if r[1] == E.EV_POINT:
                del point[r[2]]
            popped.append((*r, seq))
    return popped, len(rows), seq


def random_ops(seed: int, n: int, t_max: int) -> list[tuple[int, int, int, int]]:
    """n operations, more rows in than out, so that heaps grow several levels deep (a dropped
    row's slot then often lies in another subtree than the last row that fills it, which may
    have to rise); a POP on an empty heap does nothing."""
    rng = np.random.default_rng(seed)
    op = rng.choice([PUSH, SET_POINT, DROP_POINT, POP], size=n, p=[0.3, 0.4, 0.1, 0.2])
    return [(int(o), int(t), int(c), int(b)) for o, t, c, b in
            zip(op, rng.integers(0, t_max + 1, n), rng.integers(0, N_CPUS, n), rng.integers(0, 100, n))]


@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.sampled_from((12, 10**6)))
def test_heap_pops_in_time_sequence_order_with_one_point_row_per_cpu(seed, n, t_max):
    ops = random_ops(seed, n, t_max)
    arr = np.array(ops, np.int64).reshape(-1, 4)
    Q = EN.Heap(np.zeros(512, np.int64), np.zeros((512, 4), np.int64), np.zeros(2, np.int64),
                np.empty(N_CPUS + 1, np.int64))
    out = np.zeros((len(ops) + 1, 5), np.int64)
    k = _drive(arr, Q, np.zeros(EN.ST_SIZE, np.int64), out)
    assert k >= 0, f"heap broken after operation {-k // 10 - 1} (code {-k % 10}): {ops[:-k // 10]}"
    popped, left, seq = model(ops)
    assert [tuple(int(x) for x in row) for row in out[:k]] == popped
    assert (int(Q.HN[0]), int(Q.HN[1])) == (left, seq)


def test_a_full_heap_stops_the_run_but_a_point_row_still_moves():
    Q = EN.Heap(np.zeros(2, np.int64), np.zeros((2, 4), np.int64), np.zeros(2, np.int64),
                np.empty(N_CPUS + 1, np.int64))
    stats = np.zeros(EN.ST_SIZE, np.int64)
    ops = [(PUSH, 5, 0, 0), (SET_POINT, 3, 1, 0), (SET_POINT, 4, 1, 1)]
    assert _drive(np.array(ops, np.int64), Q, stats, np.zeros((1, 5), np.int64)) == 0
    assert stats[EN.ST_FULL] == 0 and Q.HN[0] == 2  # the move needed no room
    Q.HN[:] = 0
    assert _drive(np.array(ops + [(PUSH, 6, 0, 0)], np.int64), Q, stats, np.zeros((1, 5), np.int64)) == 0
    assert stats[EN.ST_FULL] == 1

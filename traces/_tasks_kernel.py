"""One pass over the events that gathers, per tid, what the tasks table needs.

tids are sparse (up to pid_max, 2^22 on 64-bit Linux, and any int32 in other
formats), so they map to dense slots through an open-addressing hash table
that the driver grows when it is half full.
"""

from __future__ import annotations

import numpy as np

from . import schema
from ._numba import NO_NRT, jit

N_PRIO = 4  # distinct prios remembered per task (PI boosts add a few)

# counters in st
ST_SLOTS = 0


@jit(**NO_NRT)
def _hash(t, mask):
    """Fibonacci hashing: the high bits of t * 2^64/phi (low bits of a product
    of clustered tids would collide)."""
    h = np.uint64(t) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(20)) & np.uint64(mask))


@jit(**NO_NRT)
def _slot(t, ht_key, ht_slot, st, slot_tid, slot_first):
    """Slot of tid t (> 0), created if new; -1 when the table must grow first."""
    mask = len(ht_key) - 1
    j = _hash(t, mask)
    while True:
        k = ht_key[j]
        if k == t:
            return ht_slot[j]
        if k == 0:
            n = st[ST_SLOTS]
            if n >= len(slot_tid) or 2 * (n + 1) > len(ht_key):
                return -1
            ht_key[j] = t
            ht_slot[j] = n
            slot_tid[n] = t
            slot_first[n] = -1
            st[ST_SLOTS] = n + 1
            return n
        j = (j + 1) & mask


@jit(**NO_NRT)
def _mention(s, ts, comm, prio, slot_first, slot_last, slot_comm, prio_val, prio_cnt):
    if slot_first[s] < 0:
        slot_first[s] = ts
    slot_last[s] = ts
    if comm != 0:
        slot_comm[s] = comm
    if prio != schema.NO_PRIO:
        for k in range(N_PRIO):
            if prio_cnt[s, k] == 0:
                prio_val[s, k] = prio
                prio_cnt[s, k] = 1
                break
            if prio_val[s, k] == prio:
                prio_cnt[s, k] += 1
                break


@jit(**NO_NRT)
def gather(start, ts, kind, cpu, cur_tid, tid, comm, prio, next_tid, next_comm, next_prio,
           parent_tid, parent_comm, old_tid,
           ht_key, ht_slot, st, slot_tid, slot_first, slot_last, slot_comm, prio_val, prio_cnt,
           slot_cpu, slot_parent):
    """Fold events[start:] into the slots. Returns the index reached (< len(ts)
    when the table is full: grow it and call again from there)."""
    n = len(ts)
    for i in range(start, n):
        k = kind[i]
        t = ts[i]
        # all slots this event needs, first, so a full table never leaves an event half-counted
        s1 = s2 = s3 = s4 = s5 = -2
        if cur_tid[i] > 0:
            s1 = _slot(cur_tid[i], ht_key, ht_slot, st, slot_tid, slot_first)
        if tid[i] > 0:
            s2 = _slot(tid[i], ht_key, ht_slot, st, slot_tid, slot_first)
        if k == schema.SWITCH and next_tid[i] > 0:
            s3 = _slot(next_tid[i], ht_key, ht_slot, st, slot_tid, slot_first)
        if k == schema.FORK and parent_tid[i] > 0:
            s4 = _slot(parent_tid[i], ht_key, ht_slot, st, slot_tid, slot_first)
        if old_tid[i] > 0:
            s5 = _slot(old_tid[i], ht_key, ht_slot, st, slot_tid, slot_first)
        if s1 == -1 or s2 == -1 or s3 == -1 or s4 == -1 or s5 == -1:
            return i
        if s1 >= 0:
            _mention(s1, t, 0, schema.NO_PRIO, slot_first, slot_last, slot_comm, prio_val, prio_cnt)
        if s2 >= 0:
            _mention(s2, t, comm[i], prio[i], slot_first, slot_last, slot_comm, prio_val, prio_cnt)
            if k == schema.FORK and slot_parent[s2] < 0:
                slot_parent[s2] = parent_tid[i]
        if s3 >= 0:
            _mention(s3, t, next_comm[i], next_prio[i], slot_first, slot_last, slot_comm, prio_val, prio_cnt)
            c = cpu[i]
            if slot_cpu[s3] == -1:
                slot_cpu[s3] = c
            elif slot_cpu[s3] != c:
                slot_cpu[s3] = -2  # ran on more than one CPU
        if s4 >= 0:
            _mention(s4, t, parent_comm[i], schema.NO_PRIO, slot_first, slot_last, slot_comm, prio_val, prio_cnt)
        if s5 >= 0:
            _mention(s5, t, 0, schema.NO_PRIO, slot_first, slot_last, slot_comm, prio_val, prio_cnt)
    return n


@jit(**NO_NRT)
def rehash(old_key, old_slot, new_key, new_slot):
    mask = len(new_key) - 1
    for i in range(len(old_key)):
        t = old_key[i]
        if t == 0:
            continue
        j = _hash(t, mask)
        while new_key[j] != 0:
            j = (j + 1) & mask
        new_key[j] = t
        new_slot[j] = old_slot[i]


def gather_tasks(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-tid arrays: tid, first_ns, last_ns, comm code, prio (most frequent),
    cpu (the only CPU it was switched in on; -1 never, -2 several), parent."""
    cap = 1 << 12
    ht_key = np.zeros(2 * cap, np.int64)
    ht_slot = np.zeros(2 * cap, np.int64)
    st = np.zeros(4, np.int64)

    def alloc(n):
        return (np.zeros(n, np.int64), np.full(n, -1, np.int64), np.zeros(n, np.int64),
                np.zeros(n, np.int32), np.zeros((n, N_PRIO), np.int16), np.zeros((n, N_PRIO), np.int64),
                np.full(n, -1, np.int16), np.full(n, -1, np.int32))

    slots = alloc(cap)
    args = [cols[c] for c in ("ts_ns", "kind", "cpu", "cur_tid", "tid", "comm", "prio", "next_tid",
                              "next_comm", "next_prio", "parent_tid", "parent_comm", "old_tid")]
    i = 0
    n = len(cols["ts_ns"])
    while True:
        i = gather(i, *args, ht_key, ht_slot, st, *slots)
        if i >= n:
            break
        cap *= 4
        grown = alloc(cap)
        used = int(st[ST_SLOTS])
        for old, new in zip(slots, grown):
            new[:used] = old[:used]
        slots = grown
        key, slot = np.zeros(2 * cap, np.int64), np.zeros(2 * cap, np.int64)
        rehash(ht_key, ht_slot, key, slot)
        ht_key, ht_slot = key, slot
    used = int(st[ST_SLOTS])
    tid, first, last, comm, pval, pcnt, cpu, parent = (a[:used] for a in slots)
    best = np.argmax(pcnt, axis=1)
    prio = np.where(pcnt.max(axis=1) > 0, pval[np.arange(used), best], schema.NO_PRIO).astype(np.int16)
    order = np.argsort(tid, kind="stable")
    return {"tid": tid[order], "first_ns": first[order], "last_ns": last[order], "comm": comm[order],
            "prio": prio[order], "cpu": cpu[order], "parent": parent[order]}

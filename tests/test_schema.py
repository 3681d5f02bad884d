"""One schema: the Arrow schema and the NumPy dtype come from the same field list."""

import numpy as np
import pyarrow as pa

from traces import schema


def test_arrow_schema_and_numpy_dtype_agree():
    for table in schema.TABLES.values():
        arrow = table.arrow_schema()
        dtype = table.numpy_dtype()
        assert arrow.names == list(dtype.names) == table.names
        for f in table.fields:
            at = arrow.field(f.name).type
            nt = dtype[f.name]
            if f.type == "str":
                assert pa.types.is_dictionary(at) and nt == np.int32
            elif f.type == "list_str":
                assert pa.types.is_list(at)
            else:
                assert at.to_pandas_dtype() == nt.type, f.name
            assert f.unit is not None and f.doc


def test_time_columns_are_int64_ns():
    for table in schema.TABLES.values():
        for f in table.fields:
            if f.name.endswith("_ns"):
                assert f.type == "int64" and f.unit == "ns", (table.name, f.name)


def test_state_names_follow_kernel_letters():
    assert schema.state_name(0) == "R"
    assert schema.state_name(schema.STATE_PREEMPTED) == "R+"
    assert schema.state_name(schema.STATE_SLEEPING | schema.STATE_DISK) == "S|D"
    assert schema.state_name(schema.STATE_IDLE) == "I"


def test_event_order_is_by_time_then_sequence():
    ts = np.array([5, 3, 5, 3])
    seq = np.array([0, 1, 2, 3])
    assert schema.event_order(ts, seq).tolist() == [1, 3, 0, 2]
    assert schema.event_order(ts, np.array([3, 2, 1, 0])).tolist() == [3, 1, 2, 0]


def test_small_pages_turns_numpy_huge_page_advice_off_during_the_call_only():
    from traces import _memory

    def probe():
        return _memory._set_madvise_hugepage(False)  # returns the setting in force

    wrapped = _memory.small_pages(probe)
    if not _memory._ACTIVE:  # NUMPY_MADVISE_HUGEPAGE given: the user's choice rules
        assert wrapped is probe
        return
    before = _memory._set_madvise_hugepage(True)
    try:
        assert wrapped() is False
        assert _memory._set_madvise_hugepage(True) is True  # restored afterwards
    finally:
        _memory._set_madvise_hugepage(before)


def test_populate_keeps_what_is_written_and_faults_in_the_rest():
    import resource

    from traces import _memory

    @_memory.small_pages  # 4 KB pages: writing fresh memory would fault once per 4 KB
    def fresh():
        return np.empty(3 << 20, np.int64)  # 24 MB

    a = fresh()
    a[: 1 << 20] = np.arange(1 << 20)
    did = _memory.populate(a, 1000, 3 << 20)  # overlaps the written part
    assert (a[: 1 << 20] == np.arange(1 << 20)).all()
    assert not _memory.populate(a, 5, 2)  # an empty range is nothing
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a[1 << 20:] = 7
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    if did:  # Linux >= 5.14: the rest was made resident, writing it faults nothing
        assert faults < 100
    assert (a[1 << 20:] == 7).all() and (a[: 1 << 20] == np.arange(1 << 20)).all()

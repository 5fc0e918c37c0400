"""The shared memory of released cells: lookups by size range, least-recently-used eviction,
a reset on key rotation, and cells of another key never consulted."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from portal.analysis import memory
from portal.analysis.differencing import Registry, Remembered
from portal.analysis.models import MemoryClock, ReleasedCell
from portal.analysis.sketches import Sketch
from portal.db import database, session_scope
from tests.conftest import empty_app, make_app
from tests.unit.analysis.test_memory_radius import sketch

SKETCH = Sketch((0,) * 60, (0,) * 60, (0,) * 60)


def _cell(records: int, key: int, signature: str = "clinic@1") -> Remembered:
    return Remembered(signature, records, key, SKETCH, {"count": records})


def _store(session, cells, *, capacity=100, fingerprint="k1"):
    found = Registry()
    for cell in cells:
        found.remember(cell)
    memory.store(session, found, fingerprint=fingerprint, capacity=capacity)
    session.commit()


def test_cells_are_found_by_size_range_under_the_same_key_only(app):
    with app.app_context(), session_scope(app) as session:
        _store(session, [_cell(100, 1), _cell(150, 2), _cell(105, 3, "other@1")])
        shared = memory.registry(session, "k1")
        assert shared.same("clinic@1", 1, 100) is not None  # another user's run remembered it
        assert [c.key for c in shared._candidates("clinic@1", 100, 9, SKETCH)] == [1]
        assert memory.registry(session, "rotated").same("clinic@1", 1, 100) is None


@pytest.fixture(params=["sqlite", "postgresql"])
def either_app(request, tmp_path):
    """The embedded database, and PostgreSQL (the production profile: required with CI=true)."""
    if request.param == "sqlite":
        yield empty_app(tmp_path / "instance")
        return
    url = request.getfixturevalue("postgres_url")
    app = make_app(tmp_path / "instance-pg", DATABASE_URL=url)
    yield app
    database(app).engine.dispose()


def test_the_lookup_ranks_by_the_spread_of_the_counts_then_by_size(either_app):
    """Decision 0029a: the memory's rows are read nearest the set by `spread` (the counts stored
    as `bucket_0..59`), so 40 newer cells of the set's own size do not keep out the cell one
    record away; a row without counts (remembered before) is ranked by its size."""
    base = [1_000_003 * (i + 1) for i in range(15)]
    near = Remembered("clinic@1", 15, 1, sketch(base), {})
    crowd = [Remembered("clinic@1", 14, 100 + j, sketch([7_777_777 * (j + 1) + 13 * i for i in range(14)]), {})
             for j in range(40)]
    app = either_app
    with app.app_context(), session_scope(app) as session:
        _store(session, [near, *crowd])
        read = memory.registry(session, "k1")._lookup("clinic@1", 14, 19, sketch(base[1:]), 32)
        assert read[0].key == 1 and len(read) == 32
        session.query(ReleasedCell).update({**{getattr(ReleasedCell, f"bucket_{i}"): None for i in range(60)},
                                            **{getattr(ReleasedCell, f"first_{i}"): None for i in range(20)}})
        session.commit()
        read = memory.registry(session, "k1")._lookup("clinic@1", 14, 19, sketch(base[1:]), 32)
        assert 1 not in [c.key for c in read]  # by size alone: the 40 cells of 14 first


def test_the_window_is_taken_by_the_lower_bound_not_by_size(either_app, monkeypatch):
    """The ranking's sixty differences a row are computed for the `WINDOW` cells of least lower
    bound (the first part's twenty counts), not for every cell within reach (round 19's timing,
    decision 0029a), and not for the cells nearest in size: there, `WINDOW` cells of the set's
    own size, far from it in records, kept out the cell one record away (thirtieth round,
    decision 0029w). With the window narrowed to 8 and 10 such cells, the cell one record away
    (15) is read, first; rows remembered before their counts were stored are taken by size."""
    base = [1_000_003 * (i + 1) for i in range(15)]
    near = Remembered("clinic@1", 15, 1, sketch(base), {})
    crowd = [Remembered("clinic@1", 14, 100 + j, sketch([7_777_777 * (j + 1) + 13 * i for i in range(14)]), {})
             for j in range(10)]
    monkeypatch.setattr(memory, "WINDOW", 8)
    app = either_app
    with app.app_context(), session_scope(app) as session:
        _store(session, [near, *crowd])
        read = memory.registry(session, "k1")._lookup("clinic@1", 14, 19, sketch(base[1:]), 32)
        assert read[0].key == 1 and len(read) == 8
        session.query(ReleasedCell).update({**{getattr(ReleasedCell, f"bucket_{i}"): None for i in range(60)},
                                            **{getattr(ReleasedCell, f"first_{i}"): None for i in range(20)}})
        session.commit()
        read = memory.registry(session, "k1")._lookup("clinic@1", 14, 19, sketch(base[1:]), 32)
        assert 1 not in [c.key for c in read] and len(read) == 8


def test_the_sizes_read_are_the_reach_rounded_out_to_a_secret_grid():
    """Decision 0030a: the rows read for a set are those of its reach rounded out to a grid of
    `GRID` sizes with a secret offset, so a set and the same set plus a record read the same
    rows but where a grid line falls between them; the offset differs by dataset and key."""
    for offset in range(memory.GRID):
        for records in range(0, 60):
            low, high = memory._scanned(records, 19, offset)
            assert low <= records - 19 and high >= records + 19
            assert (low - offset) % memory.GRID == 0 and (high - offset) % memory.GRID == 0
            assert records - 19 - low < memory.GRID and high - records - 19 < memory.GRID
        same = sum(memory._scanned(r, 19, offset) == memory._scanned(r + 1, 19, offset) for r in range(800))
        assert same == 800 - 2 * 800 // memory.GRID
    offsets = {memory._offset(secret, signature) for secret in (b"a", b"b", b"c") for signature in ("x@1", "y@1")}
    assert len(offsets) > 1


def test_rows_of_the_grid_past_the_reach_are_read_but_never_returned(either_app, monkeypatch):
    """The sizes read are rounded out to the grid (`_scanned`), so rows a few sizes past the
    set's reach are read; neither the nearest nor a mark's list returns them in place of a row
    within it."""
    monkeypatch.setattr(memory, "_offset", lambda grid, signature: 0)
    base = [1_000_003 * (i + 1) for i in range(30)]
    inside = Remembered("clinic@1", 30, 1, sketch(base[:30], (1, 2, 3, 4)), {})
    past = [Remembered("clinic@1", 30 + 19 + 1 + j % 3, 100 + j,
                       sketch([*base, *(7_777_777 * (j + 1) + 13 * i for i in range(20 + j % 3))], (1, 2, 3, 4)), {})
            for j in range(12)]
    app = either_app
    with app.app_context(), session_scope(app) as session:
        _store(session, [inside, *past])
        assert memory._scanned(30, 19, 0) == (8, 56)  # 50 to 52 records are read for a set of 30
        shared = memory.registry(session, "k1")
        assert [c.key for c in shared._lookup("clinic@1", 30, 19, sketch(base), 32)] == [1]
        assert [c.key for c in shared._marked("clinic@1", 30, 19, (1, 2, 3, 4), 0, 8)][0] == 1
        assert [c.key for c in shared._candidates("clinic@1", 30, 19, sketch(base, (1, 2, 3, 4)))] == [1]


def test_eviction_forgets_the_rows_last_used_a_capacity_of_cells_asked_ago(app):
    """Decision 0029y: the memory forgets by its clock of cells asked — every cell of every
    query, empty, remembered or new — not by how many rows it holds, which is the number of
    distinct sets asked (0029s: a set plus the target is one row more than the set alone)."""
    with app.app_context(), session_scope(app) as session:
        _store(session, [_cell(100 + i, i) for i in range(5)], capacity=10)
        assert memory.clock(session, "clinic@1") == 5
        shared = memory.registry(session, "k1", capacity=10)
        with shared.query("clinic@1"):
            assert shared.same("clinic@1", 0, 100) is not None  # cell 0 used again: its stamp renewed
        for _ in range(4):  # four queries of two empty cells each: nothing stored, the clock moves on
            with shared.query("clinic@1"):
                assert shared.same("clinic@1", 7, 0) is None and shared.same("clinic@1", 8, 0) is None
        session.expire_all()
        assert memory.clock(session, "clinic@1") == 14
        assert session.scalar(select(func.count()).select_from(ReleasedCell)) == 5  # stamped 5, 14 - 10 = 4
        with shared.query("clinic@1"):
            shared.same("clinic@1", 7, 0), shared.same("clinic@1", 8, 0)
        session.expire_all()
        keys = sorted(int(k) for k in session.scalars(select(ReleasedCell.cell_key)))
        assert keys == [0]  # stamped 5 < 16 - 10 went; cell 0 (restamped 6 when used) stays


def test_forget_all_resets_the_memory(app):
    with app.app_context(), session_scope(app) as session:
        _store(session, [_cell(100, 1), _cell(120, 2)])
        assert memory.forget_all(session) == 2
        session.commit()
        assert session.scalar(select(func.count()).select_from(ReleasedCell)) == 0


def test_a_run_sees_cells_another_run_remembered_after_it_started(app):
    """Two runs at once (decision 0023e): the first read the memory's size range before the
    second remembered a cell in it. Each query now reads the range again and writes its cells
    before the next query of any run is checked, so the first run's next query sees the cell
    (and the values the second released for it), and nothing is stored twice at the end."""
    with app.app_context(), session_scope(app) as session:
        first, second = memory.registry(session, "k-race"), memory.registry(session, "k-race")
        with first.query("race@1"):
            assert first.same("race@1", 7, 300) is None  # loads 300..300: empty so far
        with second.query("race@1"):
            second.remember(_cell(300, 7, "race@1"))
        with second.query("race@1"):
            found = second.same("race@1", 7, 300)
            found.values["mean_cost"] = 1234.0
        with first.query("race@1"):
            seen = first.same("race@1", 7, 300)
        assert seen is not None and seen.values == {"count": 300, "mean_cost": 1234.0}
        for run in (first, second):
            memory.store(session, run, fingerprint="k-race", capacity=100)
        session.commit()
        assert session.scalar(select(func.count()).select_from(ReleasedCell).where(
            ReleasedCell.signature == "race@1")) == 1


def test_a_cell_used_again_is_written_only_with_new_values_or_when_its_use_is_stale(app):
    """A repeated query used to commit its cells' rows at every query (decision 0024a): a use
    that releases nothing new writes the row only once its stored use is `REFRESH_TICKS` cells
    asked old (decision 0029y; the clock itself moves on at every query)."""
    with app.app_context(), session_scope(app) as session:
        _store(session, [_cell(400, 40, "again@1")])
        stamp = session.scalar(select(ReleasedCell.used_tick))
        shared = memory.registry(session, "k1")
        with shared.query("again@1"):
            assert shared.same("again@1", 40, 400) is not None
        session.expire_all()
        assert session.scalar(select(ReleasedCell.used_tick)) == stamp
        with shared.query("again@1"):  # a new statistic released for it: written
            shared.same("again@1", 40, 400).values["mean_cost"] = 12.5
        session.expire_all()
        assert session.scalar(select(ReleasedCell.released)) == {"count": 400, "mean_cost": 12.5}
        session.execute(update(MemoryClock).values(ticks=MemoryClock.ticks + memory.REFRESH_TICKS))
        session.commit()
        later = memory.registry(session, "k1")
        with later.query("again@1"):  # its stored use is REFRESH_TICKS old: refreshed
            assert later.same("again@1", 40, 400) is not None
        session.expire_all()
        assert session.scalar(select(ReleasedCell.used_tick)) == memory.clock(session, "again@1")


def test_an_alias_is_stored_under_its_own_records_and_read_with_the_cell_it_stands_for(either_app):
    """Decision 0029q: a set answered like a remembered cell is stored under its own size, key
    and counts, with a link to the cell; read back (by the exact lookup or the nearest search)
    it comes with the cell, whose values are the answer's, written once on the cell's row. The
    cell's eviction takes its aliases with it."""
    base = [1_000_003 * (i + 1) for i in range(30)]
    cell = Remembered("clinic@1", 30, 1, sketch(base), {"count": 30})
    app = either_app
    with app.app_context(), session_scope(app) as session:
        _store(session, [cell])
        shared = memory.registry(session, "k1", capacity=2)
        alias = Remembered("clinic@1", 26, 2, sketch(base[4:]), {})
        with shared.query("clinic@1"):
            assert shared.same("clinic@1", 1, 30) is not None
            shared.alias(alias, shared.same("clinic@1", 1, 30))
        assert session.scalar(select(ReleasedCell.alias_of).where(ReleasedCell.cell_key == "2")) == cell.id
        later = memory.registry(session, "k1", capacity=2)
        with later.query("clinic@1"):
            found = later.same("clinic@1", 2, 26)  # the alias, by its own size and key
            assert found is not None and found.key == 1 and found.records == 30 and found.values == {"count": 30}
            found.values["mean_cost"] = 7.0
        session.expire_all()
        rows = {r.cell_key: r.released for r in session.scalars(select(ReleasedCell))}
        assert rows == {"1": {"count": 30, "mean_cost": 7.0}, "2": {}}
        nearest = memory.registry(session, "k1")._lookup("clinic@1", 25, 19, sketch(base[5:]), 32)
        assert {(c.key, c.answer.key) for c in nearest} == {(1, 1), (2, 1)}
        session.query(ReleasedCell).filter(ReleasedCell.cell_key == "1").update({ReleasedCell.used_tick: -5})
        session.commit()
        assert memory.evict(session, "clinic@1", 1) == 1
        session.commit()
        assert session.scalar(select(func.count()).select_from(ReleasedCell)) == 0  # the alias went with it


def test_an_uncharged_query_does_not_age_the_memory(app):
    """Decision 0029y: the clock moves on by the cells of charged queries only. The public's
    repeat of a question is free; had it aged the memory, repeating a public table for nothing
    would have evicted every remembered cell, which 50,000 charged cells bound before."""
    with app.app_context(), session_scope(app) as session:
        _store(session, [_cell(300, 3, "free@1")])
        before = memory.clock(session, "free@1")
        shared = memory.registry(session, "k1", capacity=10)
        with shared.query("free@1", charged=False):
            assert shared.same("free@1", 3, 300) is not None and shared.same("free@1", 4, 0) is None
        session.expire_all()
        assert memory.clock(session, "free@1") == before
        with shared.query("free@1"):
            shared.same("free@1", 3, 300), shared.same("free@1", 4, 0)
        session.expire_all()
        assert memory.clock(session, "free@1") == before + 2

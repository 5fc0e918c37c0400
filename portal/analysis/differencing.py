"""Differencing control: two released cells whose record sets differ by a few records answer alike.

Cell-key noise gives the same answer for the same set of records. Alone, that is a weakness: an
analyst who asks `count(A)` and `count(A and not target)` learns from *whether the answers
differ* whether the target is in A (found by the team's own attack tests). So every released
cell of conditional data is remembered, for the dataset (every version) and shared by *all* users (two
accounts of one organisation see the same snapped answers, so splitting an attack over accounts
gains nothing), as its true size, its cell key, its released values and the sketch of its
records (`sketches.py`). A new cell whose record set differs from a remembered one by a set
that would not be listed as a cell of its own — the minimum-cell rule on a perturbed
count, the same threshold draw as asking for the difference itself — is *snapped* to it: it is
answered with the remembered cell's size, key and released values, so the answer is the same
whether or not the target is in A, and nothing is learnt from comparing them. A difference that
would be listed is a releasable difference, and the cell is answered on its own. Deciding on
the exact size (1 to `min_cell - 1` records) made the memory itself an exact threshold test:
a pad of nine known records and a target added to a remembered cell (seventh round, 0025a).
A snapped set is remembered too, as an *alias* of the cell it was answered like: its own
records, size and key, the cell's answer (decision 0029q), so the same set less the target is
a record from it, not a difference of its own from the cell (twenty-eighth round).

Where the memory lives and how it is bounded (a clock of cells asked, decision 0029y) is the
service's business (`portal/analysis/memory.py`); the registry only asks it for a bounded number
of cells of a given size range: those nearest a set by `spread` and those sharing its marks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from portal.analysis.sketches import BUCKETS, MARKS, MASK, PARTS, Sketch, difference_size, spread

RADIUS = 2  # differences of up to RADIUS * min_cell - 1 records are decoded and tested (`Registry.near`)


# How far the order `Registry.near` tries candidates in strays from nearest first: a normal draw
# per pair, in records (decision 0029m).
JITTER = 2.0
_NORMAL = NormalDist()


def _mix(value: int) -> int:
    """splitmix64's finaliser: keys of secret cell keys (unknown to an analyst), the same for the
    same input, so a set is answered alike each time."""
    z = (value + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _pair(remembered: int, asked: int) -> int:
    """The key of the pair (a remembered cell, a set asked), by which their order is drawn (and
    until decision 0030k whether the set's difference from the cell was listed). Not the XOR of
    the two cell keys, which is the cell key of the records between them: `P | K` less `P` is
    `K`, so the ghost's difference was listed exactly when `count(K)` was, which the attacker
    asks first — a `K` whose count is suppressed made every ghost's set snap to `P` and a
    target's (its difference `K | target`, a draw of its own) be answered afresh: a one-sided
    test, about a dozen cells once (thirty-second round, decision 0030c)."""
    return _mix(_mix(remembered) ^ asked)


# Domain of `_snap`'s keys (no pair's key is the same), and the step an eviction epoch moves it by.
_SNAP, _EPOCH = 0x6B61696661676E73, 0x9E3779B97F4A7C15


def _snap(asked: int, epoch: int = 0) -> int:
    """The key of the one listing draw on which a set's differences from all its candidates are
    tested (`Registry.near`): whether the set is answered like a remembered cell rests on one
    draw, at its nearest candidate's distance. Drawn per pair, a set was answered afresh only if
    *every* candidate's difference came out listed — the product of their odds: an attacker who
    kept 32 sets a few records around a base saw a look `base | K | person` answered afresh 67 %
    of the time with the target, 27 % without, one look worth four pads of nine (thirty-third
    round, decisions 0030i, 0030k). The set's own key, not the pair's nor the difference's, so no
    other query shows the draw (`_pair`) while the set is remembered (a set asked again is
    `same`); and the memory's eviction epoch (`Registry.query`), so that a set the memory forgot
    and is asked again meets a fresh draw: on the same draw, a calibrator placed after the
    eviction read it a second time, which with the target a record further disagreed with the
    first reading ~20 % of the time and without it never (thirty-fourth round, decisions 0030m,
    0030n). A fresh look per eviction is what an eviction already costs (docs/disclosure.md)."""
    return _mix(_mix(asked) ^ _SNAP ^ ((epoch * _EPOCH) & MASK))


def _jitter(pair_key: int) -> float:
    """The pair's stray from its distance: N(0, JITTER) drawn from `_mix` of the pair's keys."""
    return JITTER * _NORMAL.inv_cdf(((_mix(pair_key) >> 11) + 0.5) / 2**53)




@dataclass
class Remembered:
    """A released cell: its true size and key stay server-side; values are what was released.
    `id` is its row in the shared memory (None until stored)."""

    signature: str
    records: int
    key: int
    sketch: Sketch
    values: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    # As the shared memory last stored it (None: not stored yet): its released values and the
    # memory's clock at its last stored use (decision 0029y), so that a use that changes neither
    # need not be written (memory.py).
    stored_values: dict[str, Any] | None = None
    stamp: int | None = None
    # The remembered cell this set was answered like, when it was snapped to one (decision
    # 0029q): an alias has its own records, size and key, by which later sets are compared with
    # it, and the cell's values, read from the cell. None for a cell answered on its own records.
    alias_of: Remembered | None = None

    @property
    def answer(self) -> Remembered:
        """The cell whose size, key and values this set is answered with."""
        return self.alias_of or self


# (records, key of the set's draw: `_snap`) of a difference of two record sets -> whether it would be listed
Listed = Callable[[int, int], bool]
# (signature, records, reach, table, limit) -> at most `limit` remembered cells within `reach`
# records of `records` (the memory may add some past it: its range is rounded out to a grid),
# those whose tables are nearest `table` first (`spread`), then the nearest in size, then the
# newest (the memory ranks the `memory.WINDOW` of least `lower_bound` only)
Lookup = Callable[[str, int, int, Sketch, int], list[Remembered]]
# (signature, records, reach, marks, mark's index, limit) -> at most `limit` remembered cells
# within `reach` records of `records` with that mark: those sharing most of the marks first,
# then the nearest in size, then the newest (not ranked by `spread`: decision 0029a, Cost)
Marked = Callable[[str, int, int, tuple[int, ...], int, int], list[Remembered]]
# (signature, records, cell key) -> the remembered cells of exactly that size and key
Exact = Callable[[str, int, int], list[Remembered]]
# signature -> a context in which no other run checks or remembers cells of that signature
Hold = Callable[[str], AbstractContextManager[None]]
# signature -> the memory's eviction epoch (its clock of cells asked over its capacity): a set
# asked in another epoch may have been forgotten since, and meets a fresh listing draw (`_snap`)
Epoch = Callable[[str], int]
# (signature, cells first remembered, cells used, ticks, cells asked) -> written to the shared
# memory, its clock advanced by `ticks` (the cells asked, whatever their records, when charged),
# one insert made for each cell asked (decision 0030e); sets each new cell's id
Persist = Callable[[str, list[Remembered], list[Remembered], int, int], None]


def _nothing(*ask: object) -> list[Remembered]:
    return []


# Remembered cells a cell is compared with, at most: those nearest it in records by `spread`
# (then in size, then the newest). The work of the search is then the same
# whatever the memory holds near a set's size; it used to read and decode every remembered cell
# within `reach` records, so a one-record set did the work of every remembered cell of 20
# records and an empty set none: the time of one cell told membership past the answer quantum
# (nineteenth round, decision 0028g). Ranked by size (0028k) or by shared marks (0028m), cells
# the attacker released ahead of `A` — of the size of `A and not target`, holding nearly all of a
# large `A` and so its least records — kept `A` out: answered afresh with the target, `A` itself
# without it (22nd round, decision 0029a). A cell one record from the set has spread 3; a
# remembered cell far from `A` (20 records or more, or it would have been snapped to it) comes
# as near only if its records cancel out bucket by bucket in three parts, which their keyed
# hashes decide. (The first part alone left crowders with a small bound by chance: ~1 % of
# cells swapping 10 records for 10 have a bound of 6 or less, none in 200,000 a spread of 18.)
NEAREST = 32
# And with at most `BY_MARK` cells sharing each of the set's marks (decision 0028m). By size alone,
# 32 cells of the size of `A and not target` (asked once, by anyone) kept `A` out of its search:
# with the target it was answered afresh, without it it *is* `A` (the same figures), so any
# change proved the target, 2 cells a target (twenty-first round). A set a few records from `A`
# shares most of `A`'s marks; a cell listed before `A` for a mark must share as many of the set's
# marks — hold the records whose keyed hashes are `A`'s least — and still be 20 records from it.
BY_MARK = 8
NO_MARK = -1  # asked for a set without records, so that its search reads as much as any other's
# A stand-in compared when fewer cells are near: far from every set, so it costs what most
# candidates cost (the first part's counts rule it out before peeling).
DUMMY = Sketch((2**40,) * (PARTS * BUCKETS), (0,) * (PARTS * BUCKETS), (0,) * (PARTS * BUCKETS))


class Registry:
    """The remembered cells a run may be compared with: those of the shared memory (through
    `lookup`, loaded lazily by size range, since only sizes within `min_cell` can be near) and
    those this run released. `added` and `used` tell the service what to store and refresh.

    With `hold` and `persist` (the shared memory, `memory.registry`), each query's cells are
    checked and remembered inside `query(signature)`: under a hold on the signature, the ranges
    are read again and the query's new and used cells are written before the hold is let go.
    Runs used to read a range once and write their cells when they ended, so two runs going on
    at once never saw each other's cells: `count(A)` in one session and `count(A and not
    target)` in another were answered independently (fifth round, decision 0023e)."""

    def __init__(self, cells: list[Remembered] | None = None, lookup: Lookup = _nothing, exact: Exact = _nothing,
                 hold: Hold | None = None, persist: Persist | None = None, marked: Marked = _nothing,
                 epoch: Epoch | None = None):
        self.cells: list[Remembered] = list(cells or [])
        self.added: list[Remembered] = []
        self.used: list[Remembered] = []
        self.stored: set[int] = set()  # ids written through by `query`: nothing left to store at the end
        self._by_id: dict[int, Remembered] = {c.id: c for c in self.cells if c.id is not None}
        self._lookup, self._exact, self._marked = lookup, exact, marked
        self._hold, self._persist, self._epoch = hold, persist, epoch
        self._epochs: dict[str, int] = {}  # read once a query, under its hold
        self._ranges: set[tuple[Any, ...]] = set()
        self._touched: list[Remembered] | None = None
        self._asked = 0  # cells asked in the current `query`: `same` is asked once for each

    @contextmanager
    def query(self, signature: str, *, charged: bool = True) -> Iterator[None]:
        """Check and remember one query's cells of `signature` as one step of the shared memory.
        The memory's clock moves on by the cells asked when the query is `charged` to someone's
        budget; an uncharged one (the public's free repeat of a question) does not age the
        memory, or repeating a public table for nothing would evict every cell (decision 0029y)."""
        if self._hold is None or self._persist is None:
            yield
            return
        with self._hold(signature):
            self._ranges = {r for r in self._ranges if r[0] != signature}  # others may have added cells
            if self._epoch is not None:
                self._epochs[signature] = self._epoch(signature)
            added, self._touched, self._asked = len(self.added), [], 0
            try:
                yield
                fresh = self.added[added:]
                used = [c for c in self._touched if c.id is not None]
                self._persist(signature, fresh, used, self._asked if charged else 0, self._asked)
                # An alias whose cell another query evicted meanwhile is not stored (memory._insert)
                self.added[added:] = [c for c in fresh if c.id is not None]
                self.stored.update(c.id for c in (*fresh, *used) if c.id is not None)
                self._by_id.update((c.id, c) for c in fresh if c.id is not None)
            finally:
                self._touched = None

    def _merge(self, found: list[Remembered]) -> None:
        for cell in found:
            if cell.alias_of is not None:  # one object per stored cell, so its values are kept once
                cell.alias_of = self._known(cell.alias_of)
            self._known(cell)

    def _known(self, cell: Remembered) -> Remembered:
        """This run's object for a stored cell (the cell itself, added to `cells`, the first time
        it is read), refreshed with what was read: values another run released for it since,
        and when its row was last written. The cell an alias read stands for is a remembered
        cell like any other."""
        if cell.id not in self._by_id:
            self._by_id[cell.id] = cell
            self.cells.append(cell)
            return cell
        known = self._by_id[cell.id]
        if known is not cell:
            known.values.update(cell.values)
            known.stored_values, known.stamp = cell.stored_values, cell.stamp
            if cell.alias_of is not None:
                known.alias_of = cell.alias_of
        return known

    def _candidates(self, signature: str, records: int, reach: int, sketch: Sketch) -> list[Remembered]:
        """The `NEAREST` remembered cells within `reach` records of `records` nearest the set by
        `spread` (then in size, then the newest; this run's unsaved cells first); and for
        each of the set's marks the `BY_MARK` such cells with that mark (decision 0028m). The
        shared memory is asked for as many (`lookup`, `marked`), so the cells read do not grow
        with what it holds there."""
        counts = tuple(sketch.counts)
        ask = (signature, "near", records, reach, counts, sketch.checks)
        if ask not in self._ranges:
            self._ranges.add(ask)
            self._merge(self._lookup(signature, records, reach, sketch, NEAREST))
        marks = sketch.marks
        wanted = tuple(marks) if len(marks) == MARKS else (NO_MARK,) * MARKS
        for part, mark in enumerate(wanted):
            ask = (signature, "mark", records, reach, part, mark, counts)
            if ask not in self._ranges:
                self._ranges.add(ask)
                self._merge(self._marked(signature, records, reach, wanted, part, BY_MARK))
        window = [c for c in self.cells if c.signature == signature and abs(c.records - records) <= reach]
        window.sort(key=lambda c: (spread(c.sketch, sketch), abs(c.records - records), c.id is not None,
                                   -(c.id or 0)))
        chosen = window[:NEAREST]
        def shared(cell: Remembered) -> int:
            return sum(a == b for a, b in zip(cell.sketch.marks, wanted, strict=False))

        for part, mark in enumerate(wanted):
            same_mark = [c for c in window if len(c.sketch.marks) == MARKS and c.sketch.marks[part] == mark]
            same_mark.sort(key=lambda c: -shared(c))  # stable: then the window's order
            chosen.extend(c for c in same_mark[:BY_MARK] if not any(c is k for k in chosen))
        return chosen

    def near(self, signature: str, records: int, key: int, sketch: Sketch, min_cell: int,
             listed: Listed, *, use: bool = True) -> Remembered | None:
        """A remembered cell these records are answered like, if any: one whose records differ
        from these by a set that would not be listed as a cell of its own, the candidates tried
        nearest first by their distance plus a keyed normal draw of the pair (`_jitter`).

        Nothing is a candidate too, always known: these records are `records` from it and differ
        from it by themselves, so it is taken when the set would not be listed on its own, and
        the set is then answered on its own (None: suppressed, as nothing is). Without it, the
        target alone — one record, nine from remembered cells of eight known people, a few of
        them listed on their own draws — was answered like the first of those whose difference
        happened not to be listed, a listed one, while nobody (the ghost's empty set) was
        suppressed: an exact membership test in one query after twelve (twenty-seventh round,
        decision 0029m). Now a set of a few records takes nothing, a record away, before cells
        nine away.

        Nearest first exactly, the order was a record's: remembered cells C2 (a set less twelve
        known records and the target) and C1 (the set), then S (C1 less six of the twelve, and the
        target) is six records from C2 and six or seven from C1, so S took C2's figure when the
        target was in C1 and C1's when it was not — an exact membership test for three cells
        (twenty-sixth round, decision 0029k). In an order by the pair's keys alone (0029k), a set
        one record from a remembered cell took a farther one as often as that cell, where the
        same set without the target *was* the cell (`same`): a one-sided test. With the draw, a
        tie goes either way, a one-record lead holds about two times in three, and a cell one
        record away is passed over for one five away about 8 % of the time (0.2 % nine away)
        (two remembered cells that near each other are rare: the later would have been snapped
        to the earlier but for a listing draw in the noise's tail) (decision 0029m).

        The difference is tested like a cell: `listed(size, key)`, the minimum-cell rule on a
        perturbed count, on one draw for the set (`_snap`), so that the set is snapped when its
        nearest candidates are near enough, whatever their number (decision 0030k); keyed by the
        difference's own cell key (the XOR of the two cells' keys), it was the draw of counting
        those records directly, which the attacker could ask first (decision 0030c); keyed by
        the pair, a set was afresh only when all its candidates' draws said listed (0030i).
        Deciding on the exact size (1 to min_cell - 1 records apart) made the memory an exact
        threshold test: a pad of nine known records and a target, added to any remembered cell,
        came back with the cell's own figures without the target and with a fresh draw with it
        (seventh round, decision 0025a). Differences of up to RADIUS * min_cell - 1 records are
        decoded; a larger one would be listed but for a draw far in the noise's tail."""
        reach = RADIUS * min_cell - 1
        nearest = []
        candidates = self._candidates(signature, records, reach, sketch)
        for cell in candidates:
            if cell.key == key:  # the set itself (`same` found it first when it was remembered)
                difference_size(DUMMY, sketch, reach)
                continue
            size = difference_size(cell.sketch, sketch, reach)
            if size:
                nearest.append((size, cell))
        for _ in range(NEAREST + MARKS * BY_MARK - len(candidates)):  # the same work with fewer cells near
            difference_size(DUMMY, sketch, reach)
        # Every candidate, an alias too, ranks by its own difference from the set (decision 0030n).
        # Ranked by the distance of the cell whose figures it carries (0030j), a set a record from
        # the ghost's set took that set's place whenever the set was an alias of a far cell, and
        # at every boundary between two cells' regions (thirty-fourth and thirty-fifth rounds).
        tried = [(size + _jitter(_pair(cell.key, key)), size, cell) for size, cell in nearest]
        tried.append((records + _jitter(key), records, None))  # nothing: the difference is the set itself
        # One draw for every candidate, the set's in this epoch: snapped when the first of them is near enough.
        snap = _snap(key, self._epochs.get(signature, 0))
        for _, size, cell in sorted(tried, key=lambda entry: entry[0]):
            if cell is None:
                if not listed(size, key):
                    return None
            elif not listed(size, snap):
                return self._use(cell) if use else cell.answer
        return None

    def answer(self, signature: str, records: int, key: int, sketch: Sketch, min_cell: int,
               listed: Listed) -> tuple[Remembered | None, bool]:
        """The remembered cell a set is answered like (None: on its own records), and whether
        the set itself was remembered (`same`; then it is not remembered again). The search runs
        for a remembered set too, its result unused, so its work does not say whether the set
        was asked before (decision 0028k)."""
        itself = self.same(signature, key, records)
        near = self.near(signature, records, key, sketch, min_cell, listed, use=itself is None)
        return (itself, True) if itself is not None else (near, False)

    def same(self, signature: str, key: int, records: int) -> Remembered | None:
        """The remembered cell of exactly these records, if any — or, when they were remembered
        as an alias, the cell they were answered like. Never cut to `NEAREST`: a set answered on
        its own records where it was remembered with values a set snapped to it decided would
        show the records between them."""
        self._asked += 1
        ask = (signature, "same", records, key)
        if ask not in self._ranges:
            self._ranges.add(ask)
            self._merge(self._exact(signature, records, key))
        found = next((c for c in self.cells if c.signature == signature and c.records == records and c.key == key),
                     None)
        return self._use(found) if found is not None else None

    def _use(self, cell: Remembered) -> Remembered:
        """The cell `cell` is answered like (itself, or the cell it is an alias of), both marked
        used: the alias so that it is not evicted before the cell while it is in use."""
        for used in {id(c): c for c in (cell, cell.answer)}.values():
            if used.id is not None and not any(used is u for u in self.used):
                self.used.append(used)
            if self._touched is not None and not any(used is u for u in self._touched):
                self._touched.append(used)
        return cell.answer

    def remember(self, cell: Remembered) -> None:
        self.cells.append(cell)
        self.added.append(cell)

    def alias(self, cell: Remembered, answered_like: Remembered) -> None:
        """Remember a set that was answered like a remembered cell, as an alias of it (decision
        0029q). Not remembered, the set left no trace of its own records: the same set less the
        target was then compared with the cell on a difference of its own, a fresh listing draw,
        where without the target it *is* the set and was answered alike every time — a one-sided
        membership test, three cells a trial (twenty-eighth round, decision 0029o)."""
        cell.alias_of = answered_like.answer
        self.remember(cell)

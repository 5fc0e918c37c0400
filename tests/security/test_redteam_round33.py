"""Thirty-third red-team round (decision 0030i): the differencing memory after decision 0030g (the
difference's listing draw and the pair's order keyed by the pair), attacked in process on the
memory's own statements (SQLite, `memory.registry`), each set asked as the broker asks it
(`Broker._release_remembered`: `same`, then `near`; an answer like a remembered cell remembered
as its alias, a fresh one as a cell), tables built like the store's (`_Table`: random 64-bit
record keys, so the attacker knows no record's bucket) and the broker's own listing draw
(`disclosure.listed`, `Rules()`), on several seeds (each its own noise key).

Each test is an attack; "Found" in a docstring says it worked, with the figures; "Held" says it
did not.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from portal.analysis import memory
from portal.analysis.differencing import Registry, Remembered
from portal.analysis.disclosure import CellKeyNoise, Rules, listed
from portal.analysis.models import MemoryClock, ReleasedCell
from tests.security.test_redteam_round32 import PAD_RECORDS, _marks, _Table

SIGNATURE, FINGERPRINT = "round33", "round33"


class _Memory:
    """One world's shared memory: `ask(keys)` is one cell asked of the broker, answered with the
    id of the remembered cell whose figures it carries (a fresh answer: the new cell's id)."""

    def __init__(self, tmp_path, name: str, seed: int):
        self.rules, self.noise = Rules(), CellKeyNoise(f"round33-{seed}".encode())
        self.engine = create_engine(f"sqlite:///{tmp_path}/memory-{name}-{seed}.db")
        ReleasedCell.__table__.create(self.engine)
        MemoryClock.__table__.create(self.engine)
        self.session = Session(self.engine)
        self.registry: Registry = memory.registry(self.session, FINGERPRINT, grid=b"round33")
        self.cells = 0

    def ask(self, keys: list[int]) -> int:
        self.cells += 1
        table, found = _Table(keys), self.registry
        sketch = table.sketch(_marks(keys))
        with found.query(SIGNATURE):
            earlier, known = found.answer(SIGNATURE, table.records, table.key, sketch, self.rules.min_cell,
                                          lambda size, key: listed(size, key, self.rules, self.noise))
            if earlier is not None:
                if not known:
                    found.alias(Remembered(SIGNATURE, table.records, table.key, sketch), earlier)
                answer = earlier.answer
            else:
                answer = Remembered(SIGNATURE, table.records, table.key, sketch)
                found.remember(answer)
        assert answer.id is not None
        return answer.id

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()


def _drift(world: _Memory, rng: random.Random, pad: list[int], wanted: int = 12) -> tuple[int, int, int]:
    """The attacker's build, the same in both worlds (no set holds the person): the pad `P`; a
    cell `Z = P | A` of 14 other records, answered on its own (its own figure: re-drawn `A` when
    not); then a chain from `Z` down to `P`, a record of `A` at a time, each step kept only when
    it came back with `Z`'s figure (another record dropped when not; a new `Z` when no drop
    works); then, from the last link `P | {a}` (a record from `P`, `Z`'s figure), pairs `P |
    {a, b}` and `P | {b}` for fresh records `b`, kept when they carry `Z`'s figure. Returns the
    pad's figure, `Z`'s, and the cells the build cost."""
    pad_id = world.ask(pad)
    for _ in range(8):
        frontier = [rng.getrandbits(64) for _ in range(14)]
        z = world.ask(pad + frontier)
        if z == pad_id:
            continue
        while len(frontier) > 1:
            for record in list(frontier):
                rest = [r for r in frontier if r != record]
                if world.ask(pad + rest) == z:
                    frontier = rest
                    break
            else:
                break
        if len(frontier) == 1:
            break
    else:
        return pad_id, z, world.cells
    (star,), near = frontier, 1
    for _ in range(4 * wanted):
        if near >= wanted:
            break
        other = rng.getrandbits(64)
        if world.ask(pad + [star, other]) == z:
            near += world.ask(pad + [other]) == z
    return pad_id, z, world.cells


@pytest.mark.xfail(strict=True, reason="decision 0030n: reopened when 0030j was undone (it let the ghost's own "
                                       "set lose its place, rounds 34 and 35); of the class no ranking closes")
def test_a_chain_carries_another_cell_s_figures_beside_the_pad(tmp_path):
    """Found (decision 0030i), fixed (decision 0030j): a one-sided membership test, exact when it
    fires, no known records of the targets' kind and no `d`: 50–95 cells once (ten seeds), then 1
    cell a target for any number of targets, a target told 44 % of the time (10–80 % by seed), a
    ghost never.

    In the ghost's world `P | person` *is* the pad: `same` finds it and it is answered with the
    pad's figures, always. In the target's world it is a record from the pad and goes through
    `near`, whose candidates are tried by their distance plus a draw of σ 2 records per pair; any
    candidate tried before the pad whose difference is not listed answers it. Known limits call
    that rare ("a set one record from a remembered cell takes another five records away 8 % of
    the time, where the ghost's set is that cell itself — rare, since two remembered cells that
    near each other need a listed difference between them"). The drift (decision 0029q) makes
    them without any listed difference: a cell `Z` 14 records from the pad (its own figure), then
    a chain of sets from `Z` towards the pad a record at a time, each a record from the last and
    so answered like it (aliases of `Z`), kept when it did (the attacker sees the figure) — down
    to `P | {a}`, a record from the pad with `Z`'s figure, and a dozen more such sets (`P | {b}`,
    `P | {a, b}`). `P | person` is then two records from each of them and one from the pad: one
    of them is tried first (a two-records-for-one lead lost by the pad some 36 % of the time a
    set, more with a dozen) and its two-record difference is not listed: `Z`'s figure, which
    the ghost's set can never have. Measured with this build (seeds 20–29, 10 people each): 0 of
    100 ghosts, 44 of 100 targets, at least one on every seed (1–8 of 10).

    Fixed: an alias is ranked by the farther of its own difference and the first part's bound on
    its difference from the cell whose figures it carries (`Registry.near`): the dozen sets with
    `Z`'s figures rank some fifteen records from `pad | target`, the pad one. After, on 3 seeds ×
    8 people (builds of 110–126 cells: links near the pad now take the pad's figures), every
    target's set and every ghost's is answered with the pad's figures.

    Reopened (decision 0030n): ranked by the cell it carries, the ghost's own set lost its place
    whenever it was an alias of a far cell (round 34) or sat between two cells (round 35, three
    cells once); 0030j was undone. This attack is of the class no ranking of a set's neighbours
    closes (0030n, section 3): Known limits."""
    works = []
    for seed in (4, 6, 11):
        rng = random.Random(seed)
        pad, people = [rng.getrandbits(64) for _ in range(PAD_RECORDS)], [rng.getrandbits(64) for _ in range(8)]
        told = []
        for present in (True, False):
            world = _Memory(tmp_path, f"drift-{present}", seed)
            build = random.Random(seed * 7919)  # the same build in both worlds
            pad_id, z, cells = _drift(world, build, pad)
            answers = [world.ask(pad + [person] if present else pad) for person in people]
            world.close()
            told.append(sum(a != pad_id for a in answers))
            print(f"seed {seed}, present {present}: pad {pad_id}, Z {z}, build {cells} cells, answers {answers}")
        works.append(told)
    assert all(told == [0, 0] for told in works), works  # before the fix: [1..8, 0] on every seed


def _amplified(tmp_path, seed: int, present: bool, looks: int, candidates: int = 32, removed: int = 3) -> int:
    """`candidates` sets `B` less `removed` of its records (the first answered on its own, the
    rest, a few records from it, its aliases: one figure), then `looks` sets `B | K_j | person`,
    `K_j` ten fresh known records each (20 records between any two: never compared). Returns how
    many of the looks were answered afresh (not with the base's figure)."""
    rng = random.Random(seed)
    base = [rng.getrandbits(64) for _ in range(PAD_RECORDS)]
    person = rng.getrandbits(64)
    world = _Memory(tmp_path, f"amplified-{present}", seed)
    figures = {world.ask(base[:i * removed] + base[(i + 1) * removed:]) for i in range(candidates)}
    fresh = 0
    for _ in range(looks):
        known = [rng.getrandbits(64) for _ in range(10)]
        fresh += world.ask(base + known + ([person] if present else [])) not in figures
    world.close()
    return fresh


def test_many_remembered_sets_around_a_base_make_one_look_worth_many_pads(tmp_path):
    """Found (decision 0030i), fixed (decision 0030k): a likelihood test, about four times
    cheaper than Known limits price it. A set is
    answered like a remembered cell when *any* candidate's difference is not listed (tried in
    order, the first not listed wins), so it is answered afresh with probability the product of
    P(listed | d_i) over its candidates — 32 independent draws (keyed by the pair) where Known
    limits count one. The attacker asks 32 sets `B` less three of its records (aliases of the
    first: one figure), then looks `B | K_j | person`, `K_j` ten known records each (20 records
    apart, so never compared with each other): 13 records from every candidate for a ghost, 14
    for a target. Afresh with probability 0.96^32 = 0.27 for a ghost and 0.988^32 = 0.67 for a
    target (Chernoff information 0.090 nats a look, against 0.020 for a pad of nine over a fresh
    base): 97 % right on 20 looks, 1 cell each, plus the 32 once — about 52 cells, against Known
    limits' 100 pads (200 cells). Best at 13 / 14 (23 looks at 12 / 13, 39 at 14 / 15). Measured
    here before the fix (3 seeds × 30 looks a world): target 55 of 90 afresh, ghost 22.

    Fixed: a set's differences from all its candidates are tested on one draw of the set
    (`differencing._snap`), so it is snapped when its nearest candidates are near enough,
    whatever their number: afresh 0.96 at 13 records (ghost) against 0.988 at 14 (target), a
    pad's odds. After: target 88 of 90, ghost 88."""
    looks = 30
    fresh = {present: sum(_amplified(tmp_path, seed, present, looks) for seed in (1, 2, 3))
             for present in (True, False)}
    print(f"afresh of {3 * looks}: target {fresh[True]}, ghost {fresh[False]}")
    assert min(fresh.values()) >= 75, fresh  # 0.96 and 0.988 a look; per pair 0.27 and 0.67

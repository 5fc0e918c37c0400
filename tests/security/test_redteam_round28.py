"""Twenty-eighth round: the differencing memory's choice rules of decision 0029m, attacked over
the sessions API by an analyst with an ordinary grant, in round twenty's worlds (301 people, the
last the target P9999 — a woman of 99 in 丁区, the only person of 99 — in one world and a man of
45 in 甲区 in its place in the other; the same disclosure key in both).

The attacker looks for an answer possible in one world only. The ghost's world is the easy one
to pin down: a set that differs from another only by the target *is* that set there, and the
same records are answered alike (`Registry.same`, or the same search over the same memory).

Found (open, strict xfail): a set answered like a remembered cell is not remembered itself, so
the same set less the target is compared with that cell on a difference of its own — a fresh
listing draw — and not with the set a record away. Held: a second remembered cell near a
remembered set (angle a of the brief) did not pull the set less the target away from it here;
the pair's draw is the target's own (below).
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.integration.sessions.conftest import Analyst, grant
from tests.security.runs import in_runs
from tests.security.test_redteam_round20 import OTHER, SLUG, TARGET, _known, _world
from tests.security.test_redteam_round26 import _printed

WOMEN = "((col('district') == '丁区') & (col('sex') == '女'))"  # 34 known, and the target


def _outsiders() -> list[str]:
    """Visit dates that name exactly one known person outside 丁区's women (the target's and the
    ghost's dates left out), so `visit.is_in(dates)` adds exactly those people to a set."""
    rows = [line.split(",") for line in _known().splitlines()]
    dates = Counter(r[5] for r in rows) + Counter([TARGET.split(",")[5].strip(), OTHER.split(",")[5].strip()])
    return [r[5] for r in rows if not (r[1] == "丁区" and r[2] == "女") and dates[r[5]] == 1]


def _count(dates: list[str], *, without_target: bool) -> str:
    """丁区's women (with the target's description, or less anyone of 99) and the known people
    of `dates`: a count plan."""
    women = f"({WOMEN} & (col('age') < 99))" if without_target else WOMEN
    return f"d.filter({women} | col('visit').is_in({sorted(dates)!r})).count()"


def _snapped_pairs(app, trials: int, pad: int, *, less_first: bool = False) -> list[tuple[int, int, int]]:
    """Per trial a fresh base (丁区's women and 20 known outsiders: bases about 33 records apart,
    so never near each other) and a fresh pad F of `pad` known outsiders: B = base less anyone
    of 99, plus F; then A = the base; then A′ = the base less anyone of 99. (B, A, A′) counts.

    In the ghost's world A and A′ are the same records. In the target's, A is B less F plus the
    target and A′ is B less F: when A's difference with B (F and the target) is not listed, A
    is answered like B and *not remembered*, so A′ — a record from A — is compared with B alone,
    on F's own listing draw, and answered afresh when F would be listed. With `less_first`, A′
    is asked before A (the counts are still returned as (B, A, A′))."""
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, cells=2000)
    session = who.open(SLUG)
    rng = random.Random(5)
    pool, plans = _outsiders(), []
    for _ in range(trials):
        people = rng.sample(pool, 20 + pad)
        base = people[:20]
        pair = [_count(base, without_target=False), _count(base, without_target=True)]
        plans += [_count(people, without_target=True), *(pair[::-1] if less_first else pair)]

    def ask(cell: list[str]) -> list:
        return _printed(who, session, f"d = dataset({SLUG!r})\nprint(json.dumps([{', '.join(cell)}]))")[0]

    got = in_runs(ask, plans, 18)  # six trials a run
    trials = [got[i:i + 3] for i in range(0, len(got), 3)]
    return [(b, *((a2, a1) if less_first else (a1, a2))) for b, a1, a2 in trials]


@pytest.mark.parametrize("less_first", [False, True], ids=["A first", "A′ first"])
def test_a_set_and_the_same_set_less_the_target_answer_alike(tmp_path_factory, less_first):
    """Found, fixed: a one-sided membership test, about one trial in six, three cells a trial.

    Thirty trials (B, A, A′) as `_snapped_pairs` says, F nine known outsiders. The ghost's A and
    A′ are one set, answered alike every time: 0 of 30 differ. In the target's world A and A′
    differed whenever A's difference from B (F and the target, 10 records) was not listed — A
    took B's count and was not remembered — and F's (9 records) was — A′ was answered on its
    own: P ≈ (1 − L(10)) · L(9) = 0.40 × 0.40 = 16 % (L(n): a set of n listed,
    docs/disclosure.md), seen 3 of 30: (B, A, A′) = (60, 60, 50), (65, 65, 50), (55, 55, 50);
    A′ first, 4 of 30. A single difference proved the target was there. The memory defended
    "count(A), then count(A less target)" only when A itself was remembered; a set answered like
    another cell left no trace of its own records.

    Fixed (decision 0029q): a set answered like a remembered cell is remembered as an alias of
    it, under its own records, size and key, with the cell's values; A′ is then a record from A
    and takes B's count through it, in either order. After: 0 of 30 in both worlds, both orders.
    """
    seen = {}
    for name, last in (("target", TARGET), ("ghost", OTHER)):
        app = _world(tmp_path_factory.mktemp(f"r28{name}"), last)
        trials = _snapped_pairs(app, 30, 9, less_first=less_first)
        seen[name] = [t for t in trials if t[1] != t[2]]
    assert seen["ghost"] == [], seen  # the same records, the same answer: by construction
    # Found: target [(60, 60, 50), (65, 65, 50), (55, 55, 50)] (A first).
    assert seen["target"] == [], seen


def _crowded(app, many: int, pad: int) -> dict:
    """A = 丁区's women (and the target's description) and 20 known outsiders, remembered;
    then `many` cells C2 = A less anyone of 99 plus `pad` known outsiders (six records from A′ =
    A less anyone of 99 in both worlds, seven from A with the target), with A′ asked after each
    twenty. In the ghost's world A′ is A. A C2 remembered on its own (its difference with A
    listed) is a candidate of A′'s search besides A, a record away with the target."""
    who = Analyst(app)
    grant(app, who.email, slug=SLUG, cells=2000)
    session = who.open(SLUG)
    rng = random.Random(2)
    pool = _outsiders()
    base = rng.sample(pool, 20)
    rest = [p for p in pool if p not in base]
    first, _ = _printed(who, session, f"d = dataset({SLUG!r})\nprint(json.dumps({_count(base, without_target=False)}))")
    seen = {"A": first, "A′": [], "C2": Counter()}
    for _ in range(many // 20):
        plans = [_count(base + rng.sample(rest, pad), without_target=True) for _ in range(20)]
        got, _ = _printed(who, session, f"d = dataset({SLUG!r})\n"
                                        f"print(json.dumps([{', '.join(plans)}, {_count(base, without_target=True)}]))")
        seen["C2"].update(got[:-1])
        seen["A′"].append(got[-1])
    return seen


def test_a_near_remembered_cell_does_not_pull_the_set_less_the_target_away(tmp_path_factory):
    """Held here (angle a): A remembered (55 records and 50 with the target, 54 and 45 without),
    then 100 sets C2 six records from A′ (A less anyone of 99), A′ asked after each twenty. C2s
    whose difference with A and with every earlier C2 near it was listed were remembered on
    their own: the target's world 2 of 100 not A's count (2 × 60), the ghost's none. (Before
    sets answered like a cell were remembered as its aliases, decision 0029q, 15 of 100 and 5 of
    100: a C2 was compared with A alone, not with the C2s a few records from it that had taken
    A's count.) A′ came back A's count every time in both worlds, five asks each: the ghost's is
    A itself; the target's took A, a record away, before every C2. The order is A's distance
    plus the pair's draw, and the pair's keys XOR to the key of their difference — the target's
    record alone — so that draw is the same for every base (−1.24 records here, read with the
    registry inside the broker): a C2 comes first only if its own draw is 6.24 below it (3.1 σ,
    ~0.1 % a remembered C2). For a target whose draw is high (+2, one target in six) it is
    6.4 % a remembered C2, a one-sided look documented in Known limits ("a set one record from a
    remembered cell takes another five records away 8 % of the time"); each remembered C2 costs
    more cells than before, its difference listed from A and from the C2s near it."""
    seen = [_crowded(_world(tmp_path_factory.mktemp(f"c28{name}"), last), 100, 6)
            for name, last in (("target", TARGET), ("ghost", OTHER))]
    for world in seen:
        assert world["A′"] == [world["A"]] * 5, seen
    # C2s not answered with A's count: on the fixed test key the target's world 2 of 100, the
    # ghost's none; on other disclosure keys 4 and 4, 4 and 0, 0 and 0, 2 and 7, 0 and 0 — a few
    # draws in the noise's tail in either world. Before aliases (0029q), 15 and 5. Ranked by their
    # own distance again (decision 0030n), a C2 answered on its own passes its figure to C2s a few
    # records from it (drift; C2s share outsiders): 13 and 19 on one key of seven, alike in both
    # worlds, at most 10 on the five others tried.
    on_their_own = [sum(n for count, n in world["C2"].items() if count != world["A"]) for world in seen]
    assert max(on_their_own) <= 25, seen

"""Thirty-fifth round (decision 0030n): how a set a record from the ghost's set is ranked, after
decision 0030j (an alias ranked by the distance of the cell whose figures it carries) was found
to let the ghost's own set lose its place (round 34), attacked in process on the memory's own
statements with round 34's world (`_World`: each set asked as the broker asks it, `answer`, a
registry per cell asked, SQLite; a noise key per seed and per `KAIFANG_TEST_DISCLOSURE_KEY`).

Both attacks compare the answer to `X | person` with the answer to `X` (asked first): in the
ghost's world they are one set, answered alike by construction, so any difference proves the
target. What decides is how `X | target`, a record from the remembered `X`, is ranked against
the other remembered sets near it.

Each test is an attack; "Found" in a docstring says it worked, with the figures; "Held" says it
did not.
"""

from __future__ import annotations

import random

import pytest

from tests.security.test_redteam_round34 import _fresh, _World

CORE = 30  # records of `X`, the attacker's own (a district's visits, any listed set)


def _between(tmp_path, seed: int, present: bool, people: int) -> tuple[int, list[int]] | None:
    """Two cells `Z1 = X' | U` and `Z2 = X' | V` (`U`, `V` eight fresh records each: sixteen
    apart, each answered on its own), then `X = X' | U[:4] | V[:4]`, eight records from each,
    answered like one of them; then `X | person` per person. Returns `X`'s figure and the
    looks' figures (None when the build did not come out: the cells snapped together)."""
    rng = random.Random(seed)
    core, u, v, persons = _fresh(rng, CORE), _fresh(rng, 8), _fresh(rng, 8), _fresh(rng, people)
    world = _World(tmp_path, seed)
    z1, z2 = world.ask(core + u), world.ask(core + v)
    x = world.ask(core + u[:4] + v[:4])
    if z1 == z2 or x not in (z1, z2):
        world.close()
        return None
    looks = [world.ask(core + u[:4] + v[:4] + ([person] if present else [])) for person in persons]
    world.close()
    return x, looks


def test_a_set_between_two_cells_is_answered_like_it_with_the_target(tmp_path):
    """Held (decision 0030n); found against decision 0030j: an exact membership test for three
    cells once, then one a target, about one target in six told.

    `X` sits eight records from each of two cells (`Z1`, `Z2`, sixteen apart) and is answered like
    one of them, say `Z1`: an alias of `Z1`. Ranked by the distance of the cell it carries (0030j),
    `X` ranks at about nine from `X | target` — as far as `Z1` and `Z2` themselves — so the target's
    set takes `Z2`'s figures about a third of the time its difference is not listed, where the
    ghost's set *is* `X` (`same`, `Z1`'s figures, always). Measured against 0030j, seeds 0–11 × 8
    people: 9 of 56 targets told, 0 of 56 ghosts (builds of three cells). Ranked by its own
    difference (0030n), `X` is one record away and the cells nine: 0 of 56 (seeds 0–11).

    Asserted: seeds 0–5 × 8 people, at most one target told and no ghost."""
    told = {True: 0, False: 0}
    for seed in range(6):
        for present in (True, False):
            built = _between(tmp_path, seed, present, 8)
            if built is not None:
                x, looks = built
                told[present] += sum(look != x for look in looks)
    print(f"told: {told}")
    assert told[False] == 0, told  # the ghost's set is `X`
    assert told[True] <= 1, told  # 0030j: about one in six


def _described(tmp_path, seed: int, present: bool, people: int) -> tuple[int, list[int | None], int]:
    """`X` (a cell of its own); a cell `W = X | Y`, `Y` eight fresh records, asked until answered
    on its own; a chain from `W` down to `X | {y1, y2}`, a record of `Y` at a time, each step kept
    when it carries `W`'s figure. Then per person a neighbour `A = X | y | person` for `y` in the
    chain's last two records, kept when it carries `W`'s figure (it is a record from `X` and one
    from the chain's end for a ghost, two from each for a target: a tie either way), and the look
    `X | person`. Returns `X`'s figure, the looks' figures (None where no `A` came out) and the
    cells the build cost before the first person."""
    rng = random.Random(seed)
    core, persons = _fresh(rng, CORE), _fresh(rng, people)
    world = _World(tmp_path, seed)
    x = world.ask(core)
    for _ in range(12):
        y = _fresh(rng, 8)
        w = world.ask(core + y)
        if w != x:
            break
    while len(y) > 2:
        for record in list(y):
            if world.ask(core + [r for r in y if r != record]) == w:
                y = [r for r in y if r != record]
                break
        else:
            break
    build, looks = world.cells, []
    for person in persons:
        held = [person] if present else []
        if any(world.ask(core + [record] + held) == w for record in y):
            looks.append(world.ask(core + held))
        else:
            looks.append(None)
    world.close()
    return x, looks, build


@pytest.mark.xfail(strict=True, reason="decision 0030n: a neighbour built with the person's description ties "
                                       "with the ghost's set one record from the target's; no ranking of a set's "
                                       "neighbours can tell which of the two is the ghost's (open)")
def test_a_neighbour_holding_the_person_ties_with_the_ghost_s_set(tmp_path):
    """Found (decision 0030n), open: an exact membership test that fires for about half the
    targets, 8–16 cells once, then about 2.3 cells a target. Against 0030j it could not be built
    (`A`, an alias of `W`, ranked at `W`'s distance, so it took `X`'s figures); 0030j fell to
    rounds 34 and 35 instead.

    `X` is answered on its own; the attacker drifts a chain of `W`'s figures down to `X | {y1,
    y2}`, two records from `X`, and asks `A = X | y | person` until one carries `W`'s figures (for
    a ghost `A` is a record from `X` and one from the chain's end; for a target two from each: a
    tie in both worlds, decided by the pairs' draws). The look `X | person` is then, for a
    target, one record from `X` and one from `A` — a tie between `X`'s figures and `W`'s — where
    the ghost's look *is* `X`. Whatever ranks `X` against `A` the attacker can swap their roles
    (`A` is `X` less a record, and the look `X` less the person, when the person is described as
    an exclusion), so no ranking of the neighbours closes it: only the fact that a remembered set
    is answered alike every time (`same`), which is what keeps the ghost's `X` fixed, and which
    every other attack on repeats needs. Measured (seeds 0–7 × 8 people): 32 of 56 targets told,
    0 of 48 ghosts.

    Asserted (what a fix must make true): seeds 0–3 × 6 people, at most one target told and no
    ghost."""
    told = {True: 0, False: 0}
    for seed in range(4):
        for present in (True, False):
            x, looks, build = _described(tmp_path, seed, present, 6)
            told[present] += sum(look is not None and look != x for look in looks)
            print(f"seed {seed}, present {present}: build {build} cells, looks {looks} (X {x})")
    assert told[False] == 0, told
    assert told[True] <= 1, told

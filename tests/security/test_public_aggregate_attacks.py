"""Attacks on public aggregates, by an attacker of our own broker: whoever asks (anonymous from
any address, signed in, an analyst in the sandbox) gets the same noisy answer for the same set;
repeating, re-asking from elsewhere or racing does not average the noise away; thin cells are
suppressed exactly like empty ones; and the one public budget per dataset and day bounds what
all callers together can ask."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import update

from portal.analysis.models import AnalysisRun
from portal.db import session_scope

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]

CLINIC = "clinic-visits-synthetic"
URL = f"/api/v1/datasets/{CLINIC}/public-aggregate"


def _ask(public_app, query: str, *, address: str = "198.51.100.1"):
    return public_app.test_client().get(f"{URL}?{query}", environ_base={"REMOTE_ADDR": address})


def _rows(public_app, query: str, **kw) -> list[list]:
    response = _ask(public_app, query, **kw)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["rows"]


def test_noise_is_sticky_across_callers_and_repeats(public_app):
    first = _rows(public_app, "by=district,sex")
    for address in ("203.0.113.7", "203.0.113.8", "2001:db8::1"):
        assert _rows(public_app, "by=district,sex", address=address) == first
    assert all(_rows(public_app, "by=district,sex") == first for _ in range(5))


def test_an_analyst_in_the_sandbox_sees_exactly_the_public_answers(public_app, sandbox_run):
    public = _rows(public_app, "by=district,sex")
    result = sandbox_run(f"""
rows = dataset({CLINIC!r}).group_by("district", "sex").agg(count()).collect().rows
for r in rows:
    print(r[0], r[1], r[2])
""", CLINIC)
    assert result["status"] == "ok", result
    printed = [line.split(" ") for line in result["stdout"].strip().splitlines()]
    assert printed == [[d, s, str(n)] for d, s, n in public]


def test_thin_cells_answer_like_empty_ones(public_app, raw):
    body = _ask(public_app, "by=diagnosis_group,sex").get_json()
    if body.get("code") == "refused-too-many-groups":
        pytest.skip("too many groups for this dataset's rules")
    truth = {(d, a): n for d, a, n in raw.execute(
        "SELECT diagnosis_group, sex, count(*) FROM v GROUP BY ALL").fetchall()}
    min_cell = body["rules"]["min_cell"]
    thin = [(d, a) for (d, a), n in truth.items() if 0 < n < min_cell]
    released = {(r[0], r[1]): r[2] for r in body["rows"]}
    empty = [key for key in released if truth.get(key, 0) == 0]
    assert thin or empty  # the question has cells to hide (pregnancy × 男 has no record)
    assert len(released) == len(body["rows"]) == 14 * 2  # every declared combination, listed or not
    assert all(released[key] is None for key in thin)
    assert all(released[key] is None for key in empty)


def test_adding_or_removing_a_group_field_does_not_reveal_a_cell(public_app, raw):
    """The classic differencing: a district's total minus its released cells by sex. Every
    released count is rounded and perturbed, so the difference is not the hidden cell's size;
    and asking the two questions again from other callers changes nothing."""
    by_district = {r[0]: r[1] for r in _rows(public_app, "by=district")}
    by_both = _rows(public_app, "by=district,sex")
    truth = dict(raw.execute("SELECT district || '|' || sex, count(*) FROM v GROUP BY ALL").fetchall())
    exact_differences = 0
    for district, total in by_district.items():
        cells = [r for r in by_both if r[0] == district]
        if total is None or any(r[2] is None for r in cells):
            continue
        for hidden in cells:
            other = [r[2] for r in cells if r is not hidden]
            if total - sum(other) == truth.get(f"{district}|{hidden[1]}", 0):
                exact_differences += 1
    pairs = sum(1 for r in by_both if r[2] is not None)
    assert exact_differences < pairs / 2  # chance agreement only, never the rule
    assert {r[0]: r[1] for r in _rows(public_app, "by=district", address="192.0.2.99")} == by_district


def _new_day(public_app) -> None:
    with public_app.app_context(), session_scope(public_app) as session:  # start the day afresh for this dataset
        session.execute(update(AnalysisRun).where(AnalysisRun.user_email == "public")
                        .values(started_at=datetime(2000, 1, 1)))
        session.commit()


# Questions of 48 (8 × 2 combinations × 3 columns), 32 (16 × 2) and 72 cells (8 × 3 × 3).
QUESTIONS = ("by=age_band,sex", "by=district", "by=age_band,visit_type")


def test_the_public_budget_bounds_every_caller_together(public_app):
    """Many callers asking new questions: the first two fit (48 + 32 cells), every other is 429."""
    _new_day(public_app)
    public_app.config["PUBLIC_AGGREGATE_DAILY_CELLS"] = 100
    charged, addresses = 0, [f"198.51.100.{i}" for i in range(1, 40)]
    outcomes = []
    for i, address in enumerate(addresses):
        response = _ask(public_app, QUESTIONS[min(i, 2)], address=address)
        outcomes.append(response.status_code)
        if response.status_code == 200:
            charged += response.get_json()["cells_charged"]
        else:
            assert response.status_code == 429
            assert response.get_json()["code"] == "public-budget-spent"
    assert outcomes[:2] == [200, 200] and set(outcomes[2:]) == {429}
    assert charged <= 100
    signed_in = _ask(public_app, "by=sex", address="192.0.2.1")
    assert signed_in.status_code == 429


def test_racing_anonymous_callers_cannot_overspend_and_agree(public_app):
    _new_day(public_app)
    public_app.config["PUBLIC_AGGREGATE_DAILY_CELLS"] = 60  # room for one question of 48 cells
    results: list = []

    def call(i: int) -> None:
        response = _ask(public_app, ("by=age_band,sex", "by=district", "by=sex,age_band", "by=district")[i],
                        address=f"203.0.113.{i}")
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [body for status, body in results if status == 200]
    # One of the two questions (48 or 32 cells) fits the budget, and its repeat is free; the other
    # does not fit after it, asked twice.
    assert sorted(s for s, _ in results) == [200, 200, 429, 429], [s for s, _ in results]
    assert sorted(sorted(map(str, r)) for r in ok[0]["rows"]) == sorted(sorted(map(str, r)) for r in ok[1]["rows"])
    assert sum(body["cells_charged"] for body in ok) in (32, 48)


def test_one_caller_cannot_deny_the_questions_already_answered_today(public_app):
    """Exhausting the shared budget (one caller, one address, distinct questions) used to deny
    every question to everyone until midnight, repeats included, although a repeat gets exactly
    the answer already given. A question answered today (in any order of its fields, any
    spelling) is now answered again without a charge: the budget bounds *new* questions, which
    is all it needs to bound, and what one caller spent it on stays free for everyone."""
    _new_day(public_app)
    public_app.config["PUBLIC_AGGREGATE_DAILY_CELLS"] = 100
    first = _ask(public_app, "by=age_band,sex", address="198.51.100.1").get_json()
    assert first["cells_charged"] == 48
    assert _ask(public_app, "by=district", address="203.0.113.66").status_code == 200  # the attacker
    spent = _ask(public_app, "by=age_band,visit_type", address="203.0.113.66")
    assert spent.status_code == 429 and spent.get_json()["code"] == "public-budget-spent"
    for query in ("by=age_band,sex", "by=sex,age_band", "by=%20age_band%20,sex&stat=count"):
        again = _ask(public_app, query, address="192.0.2.44")
        assert again.status_code == 200, (query, again.get_json())
        body = again.get_json()
        assert body["cells_charged"] == 0 and body["cells_left"] == 100 - 48 - 32 - 1  # the refusal cost 1
        by_cell = {tuple(r[:2]) if body["by"][0] == "age_band" else (r[1], r[0]): r[2] for r in body["rows"]}
        assert by_cell == {tuple(r[:2]): r[2] for r in first["rows"]}
    page = public_app.test_client().get(f"/datasets/{CLINIC}/public-aggregate?by1=sex&by2=age_band",
                                 environ_base={"REMOTE_ADDR": "192.0.2.45"})
    assert page.status_code == 200
    assert _ask(public_app, "by=department", address="192.0.2.44").status_code == 429  # a new one: still spent


class _Clock:
    """A fake clock: time passes only when the code sleeps, or when the test says so."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def test_remembering_cells_does_not_show_in_the_answer_time(public_app, monkeypatch):
    """After the broker's padded answer, the public answer remembers its cells: one row written
    per cell *with records*, listed or not, so the time the whole answer took counted the thin
    cells among the suppressed ones (an empty and a thin cell are meant to look the same), and
    free repeats made the samples cheap. The clock here moves only when the code sleeps and,
    by 0.3 ms per cell, when the memory is written: the answer must still leave on the quantum."""
    from portal.analysis import broker, memory, public
    from portal.analysis.runtime import app_settings

    clock = _Clock()
    real_store = memory.store

    def slow_store(session, found, **kw):
        clock.now += 0.0003 * (len(found.added) + len(found.used))
        return real_store(session, found, **kw)

    monkeypatch.setattr(broker, "time", clock)
    monkeypatch.setattr(public, "monotonic", clock.monotonic, raising=False)
    monkeypatch.setattr(memory, "store", slow_store)
    quantum = app_settings(public_app).answer_quantum
    for query in ("by=district,sex", "by=diagnosis_group,sex", "by=visit_type"):
        before = clock.now
        assert _ask(public_app, query).status_code == 200
        quanta = (clock.now - before) / quantum
        assert quanta >= 1 and abs(quanta - round(quanta)) < 1e-6, (query, clock.now - before)

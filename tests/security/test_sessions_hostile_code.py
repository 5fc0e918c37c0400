"""Hostile code through the HTTP API is contained exactly as through `kaifang sandbox-run`: the
same pool, policy and broker, so the escapes of test_sandbox_escapes.py fail the same way, the
worker survives, and the session's next cell runs normally."""

from __future__ import annotations

import pytest

from tests.integration.sessions.conftest import FLIGHTS, Analyst, build_app

CASES = [
    ("generator frame walk", "def g():\n    yield 1\nx = g()\nf = x.gi_frame.f_back\nprint('ESCAPED')",
     "PolicyError", "restricted name"),
    ("format traversal", "s = '{0.__class__.__mro__}'.format(1)\nprint('ESCAPED', s)", "NotImplementedError", "format"),
    ("os import", "import os\nos.system('id')\nprint('ESCAPED')", "ImportError", "not allowed"),
    ("dunder through getattr", "print('ESCAPED', getattr((), '__class__'))", "AttributeError", "starts with"),
]


@pytest.fixture(scope="module")
def analyst(tmp_path_factory):
    return Analyst(build_app(tmp_path_factory.mktemp("hostile")))


@pytest.mark.parametrize(("name", "code", "kind", "words"), CASES, ids=[c[0] for c in CASES])
def test_escapes_fail_through_the_api(analyst, name, code, kind, words):
    session_id = analyst.open(FLIGHTS)
    result = analyst.run(session_id, code)
    assert result["status"] == "done", result
    answer = result["result"]
    assert answer["status"] == "error" and "ESCAPED" not in answer["stdout"]
    assert answer["error"]["type"] == kind and words in answer["error"]["message"], answer
    healthy = analyst.run(session_id, "print(dataset('nyc-flights-2013').filter(col('month') == 1).count() > 0)")
    assert healthy["result"]["stdout"] == "True\n", healthy
    assert analyst.delete(f"/api/v1/sessions/{session_id}").status_code == 204


def test_a_runaway_cell_is_stopped_and_the_session_goes_on(analyst):
    session_id = analyst.open()
    stopped = analyst.run(session_id, "kept = 1\nwhile True:\n    pass")
    assert stopped["result"]["status"] in ("timeout", "killed"), stopped
    after = analyst.run(session_id, "print('alive')")
    assert after["result"]["stdout"] == "alive\n"
    assert analyst.delete(f"/api/v1/sessions/{session_id}").status_code == 204

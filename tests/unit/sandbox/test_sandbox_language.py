"""Wall 1 in-process: the RestrictedPython policy, builtins, module views, errors and state.

These run `sandbox.execution.execute` directly (no fork) with a client that hands plans to the
fake broker, so they test the language layer alone; tests/security/ runs the same attacks
through the real pool.
"""

import pytest

from sandbox import state
from sandbox.contract import Limits
from sandbox.execution import execute
from sandbox.modules import ALLOWED, guarded_import
from sandbox.policy import CompileFailure, compile_source
from sandbox.tables import QueryRefused
from tests.unit.sandbox.fakes import FakeBroker


class DirectClient:
    def __init__(self):
        self.broker = FakeBroker()

    def ask(self, plan):
        answer = self.broker.execute(plan)
        if answer["status"] != "ok":
            raise QueryRefused(answer["rule"], answer["reason"])
        return answer


def run(code, state_in=None, limits=Limits()):
    return execute({"code": code, "state": state_in}, DirectClient(), limits)


def test_a_plain_program_runs_and_prints():
    report = run("total = 0\nfor i in range(5):\n    total += i\nprint('total', total)")
    assert report["status"] == "ok"
    assert report["stdout"] == "total 10\n"
    assert report["state"] == {"total": 10, "i": 4}


def test_print_inside_functions_reaches_the_same_output():
    report = run("def f(x):\n    print('in f', x)\n    return x * 2\nprint(f(2))")
    assert report["stdout"] == "in f 2\n4\n"


def test_syntax_error_has_line_number():
    report = run("x = 1\ny = (\n")
    assert report["status"] == "error"
    assert report["error"]["type"] == "SyntaxError"
    assert report["error"]["line"] == 2


def test_policy_error_has_line_number():
    report = run("x = 1\n\ny = x.__class__\n")
    assert report["error"] == {"type": "PolicyError", "line": 3,
                               "message": '"__class__" is an invalid attribute name because it starts with "_".'}
    assert report["message"].startswith("PolicyError on line 3")


def test_runtime_error_line_is_in_analyst_source():
    report = run("def f(x):\n    return 1 / x\n\nf(0)\n")
    assert report["error"]["type"] == "ZeroDivisionError"
    assert report["error"]["line"] == 2


def test_compile_bomb_is_a_clean_error():
    with pytest.raises(CompileFailure, match="too deeply nested|nested parentheses|too large"):
        compile_source("x = " + "(" * 5000 + ")" * 5000)


@pytest.mark.parametrize("code,expected", [
    ("print(sorted([3, 1, 2]), tuple([1, 2]), list(zip([1], [2])))", "[1, 2, 3] (1, 2) [(1, 2)]\n"),
    ("print(sum([1, 2, 3]), min(4, 2), max([1, 9]))", "6 2 9\n"),
    ("print(list(reversed([1, 2])), dict(a=1), sorted(set([2, 1])))", "[2, 1] {'a': 1} [1, 2]\n"),
    ("a, (b, c) = 1, (2, 3)\nprint(a + b + c)", "6\n"),
    ("x = [1]\nx += [2]\nd = {}\nd['k'] = 1\nprint(x, d)", "[1, 2] {'k': 1}\n"),
    ("def f(*a, **k):\n    return len(a) + len(k)\nprint(f(*[1, 2], **{'z': 3}))", "3\n"),
    ("class P:\n    def area(self):\n        return 6\nprint(P().area())", "6\n"),
    ("print('%s-%d' % ('a', 3), f'{2 + 2}')", "a-3 4\n"),
])
def test_ordinary_python_works(code, expected):
    report = run(code)
    assert report["status"] == "ok", report["message"]
    assert report["stdout"] == expected


@pytest.mark.parametrize("name", ["type", "object", "vars", "dir", "globals", "locals", "open",
                                  "compile", "format", "bytes", "memoryview", "breakpoint",
                                  "input", "super", "id"])
def test_withheld_builtins_are_not_defined(name):
    report = run(f"x = {name}")
    assert report["status"] == "error"
    assert report["error"]["type"] in ("NameError", "PolicyError")


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_allowed_modules_import_as_views_without_submodules(module):
    view = guarded_import(module)
    assert repr(view) == f"<module {module!r}>"
    for name in dir(view):
        assert not name.startswith("_")
        assert type(getattr(view, name)).__name__ != "module"


def test_module_views_are_useful():
    code = ("import math, statistics, json, re, datetime, collections, fractions, decimal\n"
            "print(math.sqrt(16), statistics.median([1, 5, 3]), json.dumps({'a': 1}))\n"
            "print(re.findall('[0-9]+', 'a1b22'), datetime.date(2024, 2, 29).isoformat())\n"
            "print(collections.Counter('aab')['a'], fractions.Fraction(2, 4), decimal.Decimal('0.1') * 3)\n"
            "from itertools import islice\nprint(list(islice([5, 6, 7], 2)))")
    report = run(code)
    assert report["status"] == "ok", report["message"]
    assert report["stdout"] == ("4.0 3 {\"a\": 1}\n['1', '22'] 2024-02-29\n2 1/2 0.3\n[5, 6]\n")


def test_range_is_capped():
    report = run("r = range(10**8)")
    assert report["error"]["type"] == "ValueError"


def test_state_round_trips_between_runs():
    first = run("n = 3\nnames = ['a', 'b']\npair = (1, 2)\nnested = {'k': [1.5, None, True]}\n"
                "def helper():\n    return 1\nimport math")
    assert first["state"] == {"n": 3, "names": ["a", "b"], "pair": [1, 2],
                              "nested": {"k": [1.5, None, True]}, "math": {"$module": "math"}}
    assert "helper" not in first["state"] and "not kept" not in first["message"]
    second = run("print(n + len(names), nested['k'][0])", state_in=first["state"])
    assert second["stdout"] == "5 1.5\n"


def test_frames_survive_in_state():
    first = run("f = dataset('people').group_by('district').agg(count()).sort('district').collect()")
    revived = state.import_state(first["state"])["f"]
    assert revived.columns == ("district", "count")
    second = run("print(f.rows[0], len(f))", state_in=first["state"])
    assert second["stdout"] == "('east', 20) 3\n"


def test_lazy_tables_and_group_bys_survive_as_plans_and_query_again():
    first = run("t = dataset('people').filter(col('age') >= 18)\ng = t.group_by('district')")
    assert first["state"]["t"] == {"$lazy": {"source": "people", "steps": [
        {"op": "filter", "predicate": first["state"]["t"]["$lazy"]["steps"][0]["predicate"]}]}}
    assert first["state"]["g"]["$group"]["keys"] == ["district"]
    second = run("print(g.agg(count()).sort('district').collect().rows[0])\nprint(repr(t))",
                 state_in=first["state"])
    assert second["status"] == "ok", second
    assert second["stdout"].splitlines()[1] == "<lazy table 'people'>"


def test_a_revived_table_queries_through_the_new_runs_client_only():
    revived = state.import_state({"t": {"$lazy": {"source": "people", "steps": []}}})["t"]
    with pytest.raises(QueryRefused):
        revived.count()


def test_dates_survive_in_state():
    first = run("import datetime\nd = datetime.date(2024, 2, 29)\n"
                "ts = datetime.datetime(2024, 1, 2, 3, 4, 5)\nspan = ts - datetime.datetime(2024, 1, 1)\n"
                "at = datetime.time(12, 30)\ndays = [d, {'when': d}]")
    assert first["state"]["d"] == {"$date": "2024-02-29"}
    assert first["state"]["span"] == {"$timedelta": [1, 11045, 0]}
    second = run("print(d.year, (d + span).isoformat(), ts.hour, at.minute, days[1]['when'] == d)",
                 state_in=first["state"])
    assert second["stdout"] == "2024 2024-03-01 3 30 True\n", second


def test_imports_last_like_in_a_notebook_through_the_allow_list():
    first = run("import statistics\nfrom math import sqrt\nfrom datetime import date")
    assert first["state"] == {"statistics": {"$module": "statistics"}, "sqrt": {"$import": ["math", "sqrt"]},
                              "date": {"$import": ["datetime", "date"]}}
    second = run("print(sqrt(16), statistics.mean([1, 3]), date(2024, 1, 1).year)", state_in=first["state"])
    assert second["stdout"] == "4.0 2 2024\n", second
    forged = state.import_state({"m": {"$module": "os"}, "f": {"$import": ["os", "system"]},
                                 "g": {"$import": ["math", "__loader__"]}})
    assert forged == {"m": {"$module": "os"}, "f": {"$import": ["os", "system"]},
                      "g": {"$import": ["math", "__loader__"]}}


def test_tags_that_do_not_revive_stay_plain_dicts():
    revived = state.import_state({"a": {"$lazy": {"source": "../etc", "steps": []}},
                                  "b": {"$date": "not a date"}, "c": {"$group": {"table": 1}}})
    assert revived == {"a": {"$lazy": {"source": "../etc", "steps": []}}, "b": {"$date": "not a date"},
                       "c": {"$group": {"table": 1}}}


def test_state_skips_non_json_values_and_respects_the_cap():
    report = run("big = 'x' * 5000\nsmall = 1\nodd = float('nan')",
                 limits=Limits(state_bytes=1000))
    assert report["state"] == {"small": 1}
    assert "big" in report["message"] and "odd" in report["message"]


def test_state_cannot_set_hook_names():
    assert state.import_state({"_getattr_": 1, "ok": 2, "not valid": 3}) == {"ok": 2}


def test_system_exit_is_caught():
    report = run("raise SystemExit(3)")
    assert report["status"] == "error"
    assert report["error"]["type"] == "SystemExit"

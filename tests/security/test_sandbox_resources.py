"""Resource and plan attacks through the real pool, with small limits (CPU 1 s).

Each attack is contained (an error, a timeout, a cap or a refusal) and the pool runs a normal
job right after. No test asserts timings.
"""

import pytest

from sandbox import Limits, RunRequest, Sandbox, SandboxConfig
from tests.unit.sandbox.fakes import PEOPLE, FakeBroker

LIMITS = Limits(cpu_seconds=1, wall_seconds=10.0, output_bytes=4096, outputs=5, queries=20)
MEMORY_LIMITS = Limits(cpu_seconds=3, wall_seconds=10.0)
NORMAL = "print(dataset('people').count())"


@pytest.fixture(scope="module")
def pool():
    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        yield sandbox


def attack(pool, code, broker=None, limits=LIMITS):
    broker = broker or FakeBroker()
    result = pool.run(RunRequest(code=code, grants=("people",), limits=limits), broker)
    healthy = pool.run(RunRequest(code=NORMAL, grants=("people",)), FakeBroker())
    assert healthy.status == "ok" and healthy.stdout == f"{len(PEOPLE)}\n", "the pool was harmed"
    return result


@pytest.mark.parametrize("code", [
    "x = 'a' * 10**10",
    "x = [0] * 10**10",
    "x = '1'.zfill(10**10)",
    "x = '%999999999d' % 1",
    "x = []\nwhile True:\n    x.append('a' * 10**6)",
])
def test_memory_bombs_end_in_memory_error(pool, code):
    result = attack(pool, code, limits=MEMORY_LIMITS)
    assert result.status == "error"
    assert result.error.type == "MemoryError"


def test_slow_memory_bomb_is_contained(pool):
    """Filling 1 GB with random bytes costs CPU too: on a loaded machine the CPU limit may end it
    before the memory limit does. Either way it is stopped and the pool stays healthy."""
    code = "import random\nx = [random.randbytes(128 * 2**20) for i in range(8)]"
    result = attack(pool, code, limits=MEMORY_LIMITS)
    contained = (result.status == "error" and result.error.type == "MemoryError") or result.status == "timeout"
    assert contained, result


@pytest.mark.parametrize("code", [
    "while True:\n    pass",
    "x = 10**10**10",
    "import math\nx = math.factorial(10**8)",
    "import re\nre.match('(a+)+$', 'a' * 40 + 'b')",
])
def test_cpu_bombs_hit_the_cpu_limit(pool, code):
    result = attack(pool, code)
    assert result.status == "timeout"
    assert "CPU limit of 1 s" in result.message
    # SIGXCPU proves the limit fired; rusage's tick-sampled CPU time can read low on a busy VM.
    assert result.usage.cpu_seconds > 0


def test_deep_recursion(pool):
    result = attack(pool, "def f(n):\n    return f(n + 1)\nf(0)")
    assert result.error.type == "RecursionError"
    assert result.error.line == 2


def test_huge_int_to_str(pool):
    result = attack(pool, "s = str(10**100000)")
    assert result.error.type == "ValueError"


def test_huge_range(pool):
    result = attack(pool, "x = [i for i in range(10**9)]")
    assert result.error.type == "ValueError"


def test_print_flood_is_capped(pool):
    result = attack(pool, "for i in range(100000):\n    print('x' * 100)")
    assert result.status == "ok"
    assert result.stdout.endswith("[output truncated]\n")
    assert len(result.stdout.encode()) <= LIMITS.output_bytes + 50


def test_output_flood_is_capped(pool):
    result = attack(pool, "for i in range(1000):\n    show(i)")
    assert len(result.outputs) == LIMITS.outputs
    assert "995 outputs over the cap" in result.message


def test_state_flood_is_dropped_not_fatal(pool):
    result = attack(pool, "a = 'x' * 200000\nb = 'y' * 200000\nc = 1")
    assert result.state == {"a": "x" * 200000, "c": 1}
    assert "b" in result.message


def test_result_size_is_capped(pool):
    limits = Limits(cpu_seconds=1, result_bytes=50_000, state_bytes=200_000)
    result = attack(pool, "a = 'x' * 150000", limits=limits)
    assert result.status == "ok"
    assert result.state == {}
    assert "state dropped" in result.message


def test_400kb_source_is_refused_before_compiling(pool):
    result = attack(pool, "1+" * 200_000 + "1")
    assert result.status == "refused"
    assert "limit is 65536" in result.message


@pytest.mark.parametrize("code", [
    "x = " + "(" * 5000 + "1" + ")" * 5000,
    "x = " + "1+" * 30000 + "1",
    "x = " + "[" * 3000 + "]" * 3000,
])
def test_compile_bombs_are_errors(pool, code):
    result = attack(pool, code)
    assert result.status == "error"
    assert result.error.type == "SyntaxError"


def test_query_flood_hits_the_cap(pool):
    broker = FakeBroker()
    result = attack(pool, "for i in range(100):\n    dataset('people').count()", broker=broker)
    assert result.status == "refused"
    assert len(broker.plans) == LIMITS.queries
    assert len(result.released) == LIMITS.queries
    assert result.refused[0]["rule"] == "query-cap"


def test_caught_refusals_do_not_grow_the_result(pool):
    code = ("for i in range(500):\n    try:\n        dataset('people').count()\n"
            "    except QueryRefused:\n        pass")
    result = attack(pool, code, limits=Limits(cpu_seconds=2, queries=5))
    assert result.status == "ok"
    assert len(result.released) == 5
    assert len(result.refused) == 100


@pytest.mark.parametrize("code, rule", [
    ("dataset('people').select(col('x\"; DROP TABLE people; --')).collect()", "schema"),
    ("t = dataset('people')\nfor i in range(60):\n    t = t.filter(col('age') > i)\nt.count()", "plan"),
    ("e = col('age')\nfor i in range(100):\n    e = e + 1\ndataset('people').select(e).collect()", "plan"),
    ("dataset('people').filter(col('id').is_in(list(range(5000)))).count()", "plan"),
    ("dataset('people').filter(col('district').is_in(['x' * 900] * 900)).count()", "plan"),
    ("dataset('people').join(dataset('secret'), on='id').count()", "grant"),
    ("dataset('people').sort('age', descending=1).limit(10**7).collect()", "plan"),
    ("dataset('people').join(dataset('people'), on='id', how='cross').count()", "plan"),
])
def test_plan_attacks_are_refused(pool, code, rule):
    broker = FakeBroker()
    result = attack(pool, code, broker=broker)
    assert result.status == "refused", result.message
    assert result.refused[-1]["rule"] == rule
    assert broker.tables["people"] == PEOPLE


@pytest.mark.parametrize("code", [
    "col('age') == float('nan')",
    "col('age') == {'a': 1}",
    "col('age').is_in([len])",
    "col(5)",
    "col('a' * 100)",
    "dataset('../../etc/passwd')",
])
def test_non_json_values_never_leave_the_worker(pool, code):
    broker = FakeBroker()
    result = attack(pool, code, broker=broker)
    assert result.status == "error"
    assert result.error.type in ("TypeError", "ValueError")
    assert broker.plans == []


@pytest.mark.parametrize("code", [
    "import os\nwhile True:\n    os.fork()",
    "import subprocess",
    "import multiprocessing",
    "import threading",
    "import ctypes",
])
def test_fork_bombs_have_no_route(pool, code):
    """No process API is importable; below that, RLIMIT_NPROC and seccomp stop fork
    (tests/unit/sandbox/test_sandbox_isolation.py)."""
    result = attack(pool, code)
    assert result.error.type == "ImportError"

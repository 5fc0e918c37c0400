"""Language-level escape attempts through the real pool: every published advisory and more.

Each case is contained: refused at compile time (PolicyError), refused at run time with a
specific error, or harmless. After every case the same pool still runs a normal job.
The advisories are listed in docs/sandbox.md, section "Published advisories".
"""

import pytest

from sandbox import RunRequest, Sandbox, SandboxConfig
from tests.unit.sandbox.fakes import FakeBroker

NORMAL = "print(dataset('people').filter(col('age') > 0).count())"


@pytest.fixture(scope="module")
def pool():
    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        yield sandbox


def attempt(pool, code):
    broker = FakeBroker()
    result = pool.run(RunRequest(code=code, grants=("people",)), broker)
    healthy = pool.run(RunRequest(code=NORMAL, grants=("people",)), broker)
    assert healthy.status == "ok" and healthy.stdout == "60\n", "the pool was harmed"
    assert "ESCAPED" not in result.stdout
    return result


# (name, code, expected error type, words in the message)
CASES = [
    # CVE-2023-37271 / GHSA-wqc8-x2pr-7jqh: generator frame walk
    ("gi_frame", "def g():\n    yield 1\nx = g()\nf = x.gi_frame.f_back\nprint('ESCAPED')",
     "PolicyError", "is a restricted name"),
    ("gi_frame computed", "def g():\n    yield 1\nx = g()\nf = getattr(x, 'gi_' + 'frame')\nprint('ESCAPED')",
     "AttributeError", "restricted name"),
    ("gi_code computed", "def g():\n    yield 1\nc = getattr(g(), 'gi_' + 'code')\nprint('ESCAPED')",
     "AttributeError", "restricted name"),
    ("f_back computed", "def g():\n    yield 1\nf = getattr(getattr(g(), 'gi_fr' + 'ame', None), 'f_' + 'back')",
     "AttributeError", "restricted name"),
    ("tb_frame", "try:\n    1/0\nexcept Exception as e:\n    t = e.__traceback__.tb_frame",
     "PolicyError", "tb_frame"),
    ("with_traceback walk", "try:\n    1/0\nexcept Exception as e:\n    t = getattr(e, '__trace' + 'back__')",
     "AttributeError", "starts with"),
    # CVE-2023-41039 / GHSA-xjw2-6jm9-rf67 and AccessControl CVE-2023-41050: format traversal
    ("str.format", "s = '{0.__class__.__mro__}'.format(1)\nprint('ESCAPED', s)",
     "NotImplementedError", "format"),
    ("str.format_map", "s = '{a.__class__}'.format_map({'a': 1})\nprint('ESCAPED', s)",
     "NotImplementedError", "format"),
    ("str.format unbound", "f = getattr(str, 'format')\nprint('ESCAPED', f('{0.__class__}', 1))",
     "NotImplementedError", "format"),
    # AccessControl CVE-2026-77401: format on str subclasses
    ("str subclass format", "class S(str):\n    pass\ns = S('{0.__class__}').format(1)\nprint('ESCAPED', s)",
     "NotImplementedError", "format"),
    # AccessControl CVE-2021-32807 and CVE-2026-76825: string.Formatter (also via an import)
    ("string import", "import string\nprint('ESCAPED', string.Formatter)", "ImportError", "not allowed"),
    ("from string", "from string import Formatter\nprint('ESCAPED')", "ImportError", "not allowed"),
    # (no CVE) safer_getattr name-type confusion, including a lying str subclass
    ("getattr non-str", "getattr(1, 42)", "TypeError", "type(name) must be str"),
    ("getattr str subclass", "class N(str):\n    pass\nx = getattr(1, N('__class__'))\nprint('ESCAPED', x)",
     "TypeError", "type(name) must be str"),
    # CVE-2024-47532 / GHSA-5rfv-66g4-jr8h: AttributeError.obj
    ("AttributeError.obj", "import math\ntry:\n    math.nothing\nexcept AttributeError as e:\n    m = e.obj\n    print('ESCAPED', m)",
     "AttributeError", "withheld"),
    ("AttributeError.obj of a table", "t = dataset('people')\ntry:\n    t.nothing\nexcept AttributeError as e:\n    print('ESCAPED', e.obj)",
     "AttributeError", "withheld"),
    # CVE-2025-22153 / GHSA-gmj9-h825-chq2: try/except* type confusion
    ("except star", "try:\n    1/0\nexcept* ZeroDivisionError:\n    print('ESCAPED')",
     "PolicyError", "TryStar"),
    # CVE-2026-55830 / GHSA-ffg3-p8fm-mjx2: positional-only parameters shadowing hooks
    ("posonly _write_", "def f(_write_=None, /):\n    pass", "PolicyError", "_write_"),
    ("posonly _getattr_", "def f(x, _getattr_=getattr, /):\n    return x.real", "PolicyError", "_getattr_"),
    ("lambda posonly", "f = lambda _getitem_, /: 1", "PolicyError", "_getitem_"),
    # __class__ / __mro__ / __subclasses__ walks
    ("subclasses walk", "x = ().__class__.__mro__[1].__subclasses__()", "PolicyError", "invalid attribute name"),
    ("computed subclasses", "x = getattr(getattr((), '__cla' + 'ss__'), '__subclasses__')",
     "AttributeError", "starts with"),
    ("mro method", "o = str.mro()[1]\nx = getattr(o, '__subclasses__')", "AttributeError", "starts with"),
    ("func globals", "def f():\n    pass\ng = getattr(f, '__glo' + 'bals__')", "AttributeError", "starts with"),
    ("api closure", "c = getattr(dataset, '__clo' + 'sure__')", "AttributeError", "starts with"),
    ("table client", "c = getattr(dataset('people'), '_client')", "AttributeError", "starts with"),
    # import tricks
    ("__import__", "os = __import__('os')", "PolicyError", "__import__"),
    ("import os", "import os\nprint('ESCAPED')", "ImportError", "not allowed"),
    ("import sys", "import sys", "ImportError", "not allowed"),
    ("importlib", "import importlib", "ImportError", "not allowed"),
    ("submodule", "import collections.abc", "ImportError", "not allowed"),
    ("relative", "from . import x", "ImportError", "not allowed"),
    ("statistics.sys", "import statistics\nm = statistics.sys.modules", "AttributeError", "no attribute 'sys'"),
    ("fractions.sys", "import fractions\nm = fractions.sys", "AttributeError", "no attribute 'sys'"),
    ("datetime.sys", "import datetime\nm = datetime.sys", "AttributeError", "no attribute 'sys'"),
    ("json.codecs", "import json\nf = json.codecs.open('/etc/passwd')", "AttributeError", "no attribute 'codecs'"),
    ("json.decoder", "import json\nd = json.decoder", "AttributeError", "no attribute 'decoder'"),
    ("re.functools", "import re\nf = re.functools", "AttributeError", "no attribute"),
    ("random._os", "import random\no = getattr(random, '_os')", "AttributeError", "starts with"),
    ("random._os literal", "import random\no = random._os", "PolicyError", "_os"),
    ("UserString.format", "import collections\nu = collections.UserString('{0.__class__}')",
     "AttributeError", "no attribute 'UserString'"),
    ("singledispatch eval", "import functools\nf = functools.singledispatch", "AttributeError", "no attribute"),
    ("update_wrapper", "import functools\nf = functools.update_wrapper", "AttributeError", "no attribute"),
    # builtins that are not there
    ("eval", "eval('1')", "PolicyError", "Eval calls are not allowed"),
    ("exec", "exec('x = 1')", "PolicyError", "Exec calls are not allowed"),
    ("open", "open('/etc/passwd')", "NameError", "open"),
    ("type", "t = type(1)", "NameError", "type"),
    ("globals", "g = globals()", "NameError", "globals"),
    ("vars", "v = vars()", "NameError", "vars"),
    ("compile", "c = compile('1', 'x', 'eval')", "NameError", "compile"),
    # writes the write guard stops
    ("module write", "import math\nmath.pi = 3", "TypeError", "attribute-less"),
    ("api function write", "col.evil = 1", "TypeError", "attribute-less"),
    ("setattr on table", "setattr(dataset('people'), 'x', 1)", "TypeError", "attribute-less"),
    ("decimal context", "import decimal\ndecimal.getcontext().prec = 10", "TypeError", "attribute-less"),
    ("class attribute", "class P:\n    pass\np = P()\np.x = 1", "TypeError", "attribute-less"),
    # printing to a file-like object
    ("print file", "class F:\n    def write(self, s):\n        pass\nprint('x', file=F())", "TypeError", "file"),
]


@pytest.mark.parametrize("name, code, error_type, words", CASES, ids=[c[0] for c in CASES])
def test_escape_is_contained(pool, name, code, error_type, words):
    result = attempt(pool, code)
    assert result.status == "error", result.message
    assert result.error.type == error_type, result.message
    assert words in result.error.message


def test_module_write_does_not_persist(pool):
    result = attempt(pool, "import math\ntry:\n    math.pi = 3\nexcept TypeError:\n    pass\nprint(math.pi)")
    assert result.stdout.startswith("3.14159")


@pytest.mark.parametrize("exit_code", ["raise SystemExit(0)", "raise KeyboardInterrupt",
                                       "raise GeneratorExit"])
def test_base_exceptions_are_caught(pool, exit_code):
    result = attempt(pool, exit_code)
    assert result.status == "error"
    assert result.error.line == 1


def test_random_seeding_is_harmless_and_deterministic(pool):
    code = "import random\nrandom.seed(7)\nprint(random.randint(1, 10**6))"
    first, second = attempt(pool, code), attempt(pool, code)
    assert first.status == "ok" and first.stdout == second.stdout


def test_workers_do_not_share_random_state(pool):
    code = "import random\nprint(random.random())"
    outputs = {attempt(pool, code).stdout for _ in range(3)}
    assert len(outputs) == 3


def test_state_cannot_smuggle_objects(pool):
    result = pool.run(RunRequest(code="print(type)", state={"__builtins__": {"type": 1},
                                                          "_getattr_": 1}), FakeBroker())
    assert result.status == "error" and result.error.type == "NameError"


def test_worker_cannot_forge_chart_specs(pool):
    code = ("f = dataset('people').select('district', 'age').limit(2).collect()\n"
            "chart(f, x='district', y='age', title='<script>alert(1)</script>')")
    result = attempt(pool, code)
    spec = result.outputs[0]["spec"]
    assert set(spec) == {"$schema", "data", "mark", "encoding", "title"}
    assert set(spec["encoding"]) == {"x", "y"}
    assert spec["encoding"]["x"]["field"] == "x"  # never an analyst-chosen field path

"""A command that does not search, load workbooks, migrate or use the ε-budget mode does not
import what those need (decision 0021c): creating the app and importing the analysis service
and the command line leave jieba, opencc, pypinyin, openpyxl, alembic and OpenDP unloaded, and
compute no password hash. Checked in a fresh interpreter; no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("rjieba", "opencc", "pypinyin", "openpyxl", "alembic", "opendp")
ROOT = Path(__file__).resolve().parents[3]

PROBE = f"""
import json, sys
from pathlib import Path
from portal import create_app
import portal.cli, portal.analysis.cli, portal.analysis.service, portal.analysis.public
from portal.accounts import service
app = create_app({{"TESTING": True, "SECRET_KEY": "x"}}, instance=Path(sys.argv[1]))
print(json.dumps({{"loaded": [m for m in {HEAVY!r} if m in sys.modules],
                  "hashed": service.dummy_hash.cache_info().currsize}}))
"""


def test_creating_the_app_loads_no_heavy_module(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "instance")], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"loaded": [], "hashed": 0}


def test_the_lazy_modules_still_work_when_used():
    from portal.analysis import privacy
    from portal.search.analysis import pinyin, segment, simplified

    assert [w for w, _, _ in segment("开放数据", search_mode=False)]
    assert pinyin("天气") == "tianqi" and simplified("開放") == "开放"
    assert privacy.dp.atom_domain(T=float, nan=False) is not None


WEB = ("portal.api", "portal.site", "portal.search", "portal.catalog.views", "flask_wtf", "flask_babel",
       "flask_limiter", "pyarrow", "numpy", "duckdb")

COMMAND_PROBE = """
import json, sys
from pathlib import Path
import portal.cli
from portal import create_core_app
from portal.analysis.cli import sandbox_run
app = create_core_app({"TESTING": True, "SECRET_KEY": "x"}, instance=Path(sys.argv[1]))
web = %r
print(json.dumps({"loaded": [m for m in web if m in sys.modules],
                  "tables": sorted(__import__("portal.db").db.Base.metadata.tables)}))
"""


def test_sandbox_run_loads_neither_the_web_layers_nor_duckdb_before_a_dataset_is_read(tmp_path):
    """`kaifang sandbox-run` builds the core app (configuration, database, every model): no
    blueprint, Babel, limiter, search, pyarrow or numpy; DuckDB only when a run reads data."""
    done = subprocess.run([sys.executable, "-c", COMMAND_PROBE % (WEB,), str(tmp_path / "instance")], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert {"datasets", "grants", "analysis_runs", "analysis_sessions", "search_outbox"} <= set(found["tables"])


def test_the_sandbox_pool_starts_before_cryptography_is_loaded():
    """`kaifang sandbox-run` starts the zygote (`runtime.warm_pool`) once `portal.analysis.runtime`
    is imported: that import loaded `cryptography` (about 0.12 s, for the stewards' sealed copy
    of the code), so the zygote booted that much later. It is loaded when a code is sealed."""
    probe = ("import json, sys; import portal.analysis.runtime; "
             "print(json.dumps('cryptography' in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) is False


CORE_PROBE = """
import json, sys
from pathlib import Path
import portal.cli
from portal import create_core
from portal.analysis.cli import sandbox_run
from portal.sessions import cli, queue, worker
core = create_core({"TESTING": True, "SECRET_KEY": "x"}, instance=Path(sys.argv[1]))
print(json.dumps({"loaded": [m for m in ("flask", "werkzeug", "jinja2", "limits") if m in sys.modules],
                  "tables": sorted(__import__("portal.db").db.Base.metadata.tables),
                  "database": core.extensions["kaifang.db"].engine.url.get_backend_name()}))
"""


def test_sandbox_run_and_run_worker_start_without_flask_or_the_limits_package(tmp_path):
    """Both commands only call services: `portal.create_core` gives them the configuration,
    the database and every model without importing Flask, Werkzeug, Jinja or `limits`
    (decision 0023b)."""
    done = subprocess.run([sys.executable, "-c", CORE_PROBE, str(tmp_path / "instance")], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert {"datasets", "grants", "analysis_runs", "analysis_sessions"} <= set(found["tables"])
    assert found["database"] == "sqlite"


def test_the_command_group_lists_and_loads_every_command():
    from click.testing import CliRunner

    from portal.cli import LAZY_COMMANDS, main

    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0
    for name in (*LAZY_COMMANDS, "sandbox-run", "offline-run", "init", "load", "serve"):
        assert name in listed.output
        assert main.get_command(None, name) is not None
    assert main.get_command(None, "no-such-command") is None


def test_the_listing_of_commands_imports_no_domain_package():
    """`kaifang --help` listed the lazy commands through `get_command`, importing every domain
    package (0.6 s); it lists them from `LAZY_COMMANDS`' texts, which must say what each command says."""
    import inspect

    from portal.cli import LAZY_COMMANDS, main

    for name, (_, text) in LAZY_COMMANDS.items():
        own = inspect.cleandoc(main.get_command(None, name).help).split("\n\n")[0].replace("\n", " ")
        assert own == text, name
    probe = ("import json, sys; from click.testing import CliRunner; from portal.cli import main; "
             "CliRunner().invoke(main, ['--help']); "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('portal.') and m.endswith('.cli'))))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["portal.cli"]


def test_the_embedded_profile_runs_without_the_production_packages(tmp_path):
    """`bash scripts/serve` installs the project without its `production` extra: the app must be
    made and answer with redis, psycopg and gunicorn absent (a module-level `import redis`
    in the limiter once broke `kaifang init` on a fresh machine)."""
    probe = """
import sys
from pathlib import Path
for name in ("redis", "psycopg", "gunicorn"):
    sys.modules[name] = None  # an import of any of them now fails, as when not installed
from portal import create_app
app = create_app({"TESTING": True, "SECRET_KEY": "x"}, instance=Path(sys.argv[1]))
print(app.test_client().get("/robots.txt").status_code)
"""
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "instance")], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "200", done.stderr[-2000:]

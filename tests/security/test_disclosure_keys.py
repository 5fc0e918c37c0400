"""The disclosure key is its own secret: made by `kaifang init`, not derived from SECRET_KEY, and
rotated only on purpose (`kaifang rotate-disclosure-key`, which says what it costs)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from portal.analysis import keys
from portal.analysis.models import ReleasedCell
from portal.cli import main
from portal.db import session_scope

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]
CLINIC = "clinic-visits-synthetic"
COUNTS = """
import json
d = dataset("clinic-visits-synthetic")
print(json.dumps([d.filter(col("district") == x).count() for x in ["河东区", "和平区", "南开区", "河西区", "河北区", "红桥区"]]
                 + [list(r) for r in d.group_by("age_band").agg(count(), mean("cost")).collect().rows]))
"""


def test_init_writes_a_private_key_file(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setenv("KAIFANG_INSTANCE", str(instance))
    first = CliRunner().invoke(main, ["init"])
    assert first.exit_code == 0, first.output
    path = instance / keys.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text()
    assert len(secret.strip()) == 64 and "SECRET_KEY" not in secret
    CliRunner().invoke(main, ["init"])
    assert path.read_text() == secret  # init again keeps the key


def test_a_missing_or_shared_key_file_is_refused(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(keys.MissingKey, match="kaifang init"):
        keys.load_key(config)
    keys.create_key_file(tmp_path)
    (tmp_path / keys.KEY_FILE).chmod(0o644)
    with pytest.raises(keys.MissingKey, match="chmod 600"):
        keys.load_key(config)


def _answers(sandbox_run, attacker):
    result = sandbox_run(COUNTS, CLINIC, user=attacker)
    assert result["status"] == "ok", result
    return json.loads(result["stdout"].strip().splitlines()[-1])


def test_answers_follow_the_disclosure_key_not_the_secret_key(sandbox_run, attacker, monkeypatch):
    before = _answers(sandbox_run, attacker)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", "a-rotated-session-secret")
    assert _answers(sandbox_run, attacker) == before  # rotating SECRET_KEY changes no figure
    monkeypatch.setenv("KAIFANG_DISCLOSURE_KEY", "another-disclosure-key-" + "x" * 40)
    assert _answers(sandbox_run, attacker) != before  # another disclosure key: other noise


def test_rotation_says_what_it_costs_and_resets_the_memory(analysis_app, tmp_path, monkeypatch):
    from tests.conftest import make_app

    app = make_app(tmp_path / "instance")
    instance = Path(app.config["INSTANCE_PATH"])
    keys.create_key_file(instance)
    old = (instance / keys.KEY_FILE).read_text()
    with app.app_context(), session_scope(app) as session:
        session.add(ReleasedCell(signature="s@1", key_fingerprint="f", records=12, cell_key="1", sketch=[[], [], []],
                                 released={}))
        session.commit()
    monkeypatch.setenv("KAIFANG_INSTANCE", str(instance))
    monkeypatch.setenv("KAIFANG_SECRET_KEY", "test-secret")
    refused = CliRunner().invoke(main, ["rotate-disclosure-key"], input="n\n")
    assert refused.exit_code != 0 and (instance / keys.KEY_FILE).read_text() == old
    assert "answers" in refused.output.lower() or "figure" in refused.output.lower()
    done = CliRunner().invoke(main, ["rotate-disclosure-key", "--yes"])
    assert done.exit_code == 0, done.output
    assert "differencing memory" in done.output and "1 remembered cell(s) forgotten" in done.output
    assert (instance / keys.KEY_FILE).read_text() != old
    assert stat.S_IMODE((instance / keys.KEY_FILE).stat().st_mode) == 0o600
    with app.app_context(), session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(ReleasedCell)) == 0

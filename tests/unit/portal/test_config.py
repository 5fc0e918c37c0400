"""Settings: load order, type checks, the refusal of the default secret, and their documentation."""

from pathlib import Path

import pytest

from portal.config import DEFAULT_SECRET, SETTINGS, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_fill_instance_paths(tmp_path):
    values = load_config(tmp_path, {"TESTING": True})
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path / 'kaifang.db'}"
    assert values["DATA_DIR"] == str(tmp_path / "data")
    assert values["PREVIEW_PAGE_SIZE"] == 25


def test_file_then_environment_then_test_config(tmp_path, monkeypatch):
    (tmp_path / "kaifang.cfg").write_text("PREVIEW_PAGE_SIZE = 40\nLIST_PAGE_SIZE = 7\nSECRET_KEY = 'x'\n")
    monkeypatch.setenv("KAIFANG_LIST_PAGE_SIZE", "9")
    values = load_config(tmp_path, {"TESTING": False, "DEFAULT_LOCALE": "en"})
    assert values["PREVIEW_PAGE_SIZE"] == 40
    assert values["LIST_PAGE_SIZE"] == 9
    assert values["DEFAULT_LOCALE"] == "en"


def test_bad_types_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KAIFANG_PREVIEW_PAGE_SIZE", "many")
    with pytest.raises(ConfigError, match="PREVIEW_PAGE_SIZE"):
        load_config(tmp_path, {"TESTING": True})


def test_default_secret_refused_outside_testing(tmp_path, monkeypatch):
    monkeypatch.delenv("KAIFANG_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(tmp_path, {"SECRET_KEY": DEFAULT_SECRET})


def test_rate_limits_are_checked_by_the_processes_that_apply_them(tmp_path):
    """The web app refuses a bad rate limit at start; a command built on `create_core` (which
    applies none) starts, and every other setting is still checked for it."""
    from portal import create_app, create_core

    bad = {"TESTING": True, "SECRET_KEY": "x", "RATELIMIT_ANON": "lots"}
    with pytest.raises(ConfigError, match="rate limit"):
        create_app(bad, instance=tmp_path / "web")
    assert create_core(bad, instance=tmp_path / "core").config["RATELIMIT_ANON"] == "lots"
    with pytest.raises(ConfigError, match="MAIL_BACKEND"):
        create_core({**bad, "MAIL_BACKEND": "pigeon"}, instance=tmp_path / "core")


def test_every_setting_is_documented():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert not missing, f"docs/configuration.md does not list {missing}"

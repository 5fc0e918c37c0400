"""Outputs are escaped wherever they are rendered: an analyst's titles, labels, cells, printed
text and error messages cannot drive the operator's terminal or inject markup into a page.

Rendered places: `kaifang sandbox-run` (human and --json), `kaifang offline-run`, `kaifang
audit` and the steward's audit pages (Jinja autoescape, tested in test_audit_shows_attacks).
Chart specs carry titles as Vega-Lite text, never as field paths or expressions (unit tests of
sandbox/rendering.py).
"""

from __future__ import annotations

import json
import textwrap

from click.testing import CliRunner

from portal.cli import main

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]
OPEN = "china-smoking-lung-cancer"
# ESC/CSI colour and screen clear, an OSC 8 hyperlink, the one-byte C1 CSI, BEL, a carriage
# return that rewrites the line, a right-to-left override, and markup.
HOSTILE = "\x1b[2J\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07\x9b31m\r\u202e<script>x</script>"
CODE = f"""
hostile = {HOSTILE!r}
print("printed " + hostile)
label = "n <b onmouseover=x>"  # column names are printable text (no controls), markup allowed
t = dataset("{OPEN}").group_by("city").agg(count().alias(label)).sort("city").limit(3).collect()
show(t)
chart(t, x="city", y=label, title="title " + hostile)
raise ValueError("error " + hostile)
"""
FORBIDDEN = ("\x1b", "\x9b", "\x07", "\r", "\u202e")


def _invoke(analysis_app, monkeypatch, tmp_path, *extra):
    monkeypatch.setenv("KAIFANG_INSTANCE", analysis_app.instance_path)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", analysis_app.config["SECRET_KEY"])
    source = tmp_path / "hostile.py"
    source.write_text(textwrap.dedent(CODE), encoding="utf-8")
    return CliRunner().invoke(main, ["sandbox-run", str(source), "--user", "analyst@example.org",
                                     "--grant", OPEN, *extra])


def test_the_terminal_report_shows_hostile_text_inert(analysis_app, monkeypatch, tmp_path):
    done = _invoke(analysis_app, monkeypatch, tmp_path)
    assert done.exit_code == 1, done.output  # the run ends with the analyst's ValueError
    out = done.output
    assert not [ch for ch in FORBIDDEN if ch in out], repr(out[:500])
    assert "\\x1b[2J" in out and "\\x9b31m" in out and "\\u202e" in out  # shown, as visible escapes
    for where in ("printed", "title", "error", "n <b onmouseover=x>"):
        assert where in out


def test_the_json_report_is_valid_and_inert(analysis_app, monkeypatch, tmp_path):
    done = _invoke(analysis_app, monkeypatch, tmp_path, "--json")
    assert not [ch for ch in FORBIDDEN if ch in done.output]
    result = json.loads(done.output)
    chart = next(o for o in result["outputs"] if o["kind"] == "chart")
    assert chart["spec"]["title"] == "title " + HOSTILE  # nothing lost, only escaped
    assert HOSTILE in result["stdout"] and HOSTILE in result["message"]

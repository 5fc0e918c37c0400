"""A notebook exported as `.py` runs under `kaifang offline-run` over the downloaded samples:
finished cells in order (variables carry over, as in the session), failed cells as comments."""

from __future__ import annotations

import json
from datetime import datetime

from click.testing import CliRunner

from portal.cli import main
from portal.notebook.examples import CLINIC, HOUSEHOLDS, examples_for
from portal.notebook.export import ExportedCell, ExportedDataset, filename, notebook_source


def _sample(app, tmp_path, slug: str):
    response = app.test_client().get(f"/datasets/{slug}/sample.zip")
    assert response.status_code == 200
    path = tmp_path / f"{slug}-v1-sample.zip"
    path.write_bytes(response.get_data())
    return path


def test_an_exported_notebook_runs_offline(analysis_app, tmp_path):
    # `offline-run` answers the samples in the mode their datasets declare: the ε-budget one
    # for the bundled conditional data (decision 0030q), as a session of an outside analyst
    examples = examples_for({CLINIC: "dp", HOUSEHOLDS: "dp"})
    cells = [ExportedCell(e.code, "ok") for e in examples]
    cells.insert(1, ExportedCell("this is not python(\n", "error"))
    cells.append(ExportedCell('print("carried over:", by_district.columns)', "ok"))  # a variable of cell 1
    source = notebook_source(session_id=7, datasets=[ExportedDataset(CLINIC, "conditional", 1),
                                                     ExportedDataset(HOUSEHOLDS, "conditional", 1)],
                             cells=cells, exported_at=datetime(2026, 12, 1, 2, 0))
    assert f"--data {CLINIC}-v1-sample.zip --data {HOUSEHOLDS}-v1-sample.zip" in source
    assert "# this is not python(" in source and "# %% [2] not run in the export" in source
    path = tmp_path / filename(7)
    path.write_text(source, encoding="utf-8")

    result = CliRunner().invoke(main, ["offline-run", str(path), "--json",
                                       "--data", str(_sample(analysis_app, tmp_path, CLINIC)),
                                       "--data", str(_sample(analysis_app, tmp_path, HOUSEHOLDS))])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["status"] == "ok", out
    assert "carried over: ('district', 'visits', 'visits_low', 'visits_high')" in out["stdout"]
    assert sum(o["kind"] == "chart" for o in out["outputs"]) == sum("chart(" in e.code for e in examples) == 3


def test_an_open_dataset_is_passed_as_its_csv():
    source = notebook_source(session_id="abc", datasets=[ExportedDataset("nyc-flights-2013", "open", 2)],
                             cells=[], exported_at=datetime(2026, 12, 1))
    assert "--data nyc-flights-2013.csv" in source
    compile(source, "export.py", "exec")

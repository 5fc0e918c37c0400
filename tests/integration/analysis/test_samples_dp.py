"""The sample data of a dataset in the ε-budget mode through the portal (decision 0031a): its ε is
spent once per version and recorded on it, the page and the package say so, a download is the
same file every time, and once the samples' ε is spent a version's sample comes from the data
dictionary alone."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.analysis import private_samples
from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.catalog.models import Dataset, Version
from portal.db import session_scope
from tests import factories
from tests.conftest import make_app
from tests.integration.analysis.conftest import write_fixed_key

SLUG = "visits-dp"
LEVELS = ["呼吸", "循环", "消化", "罕见"]
FIELDS = [{"name": "visit_id", "type": "string"}, {"name": "pid", "type": "string"},
          {"name": "diagnosis", "type": "string", "constraints": {"enum": LEVELS}},
          {"name": "cost", "type": "integer", "constraints": {"minimum": 0, "maximum": 50000, "required": True}},
          {"name": "visit_date", "type": "date"}]
DP = {"mode": "dp", "person": "pid", "records_per_person": 5}


def _csv(seed: int) -> str:
    rng = random.Random(seed)
    rows = ["visit_id,pid,diagnosis,cost,visit_date"]
    for i in range(400):
        diagnosis = rng.choice(LEVELS[:3])
        rows += [f"V{i}-{v},P{i:04d},{diagnosis},{rng.randint(50, 20000)},2023-{rng.randint(1, 12):02d}-15"
                 for v in range(rng.randint(1, 3))]
    return "\n".join(rows) + "\n"


def _folder(root: Path, slug: str, disclosure: dict | None, csv: str | None = None) -> Path:
    """The visits' package (`csv`, else the default 400 patients), in the declared mode."""
    extra = {"disclosure": disclosure} if disclosure else {}
    folder = factories.dataset_folder(root, slug, csv=csv or _csv(1), open_class="conditional", title_zh="就诊",
                                      temporal_coverage={"start": "2023-01-01", "end": "2023-12-31"},
                                      fields={"visit_id": {"description_zh": "就诊", "identifier": True},
                                              "pid": {"description_zh": "患者", "identifier": True},
                                              "cost": {"description_zh": "费用", "sensitive": True}}, **extra)
    doc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    doc["resources"][0]["schema"]["fields"] = FIELDS
    (folder / "datapackage.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path / "instance", SAMPLE_EPSILON=0.5, SAMPLE_LIFETIME_EPSILON=1.0)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    factories.load(app, _folder(tmp_path / "src", SLUG, DP))
    return app


def _add_version(app, tmp_path: Path, seed: int) -> None:
    source = tmp_path / f"visits-{seed}.csv"
    source.write_text(_csv(seed), encoding="utf-8")
    with app.app_context(), session_scope(app) as session:
        publishing.add_version(session, SYSTEM, SLUG, source, data_dir=Path(app.config["DATA_DIR"]))


def _ledger(app, slug: str = SLUG) -> list[float | None]:
    with app.app_context(), session_scope(app) as session:
        return list(session.scalars(select(Version.sample_epsilon).join(Dataset, Dataset.id == Version.dataset_id)
                                    .where(Dataset.slug == slug).order_by(Version.number)))


def _download(app, slug: str = SLUG) -> bytes:
    response = app.test_client().get(f"/datasets/{slug}/sample.zip")
    assert response.status_code == 200
    return response.get_data()


def _package(data: bytes, slug: str = SLUG) -> tuple[dict, list[dict]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        descriptor = json.loads(archive.read("datapackage.json"))
        rows = list(csv.DictReader(io.StringIO(archive.read(f"{slug}-sample.csv").decode("utf-8"))))
    return descriptor, rows


def _page(app, language: str) -> str:
    return app.test_client().get(f"/datasets/{SLUG}", headers={"Accept-Language": language}).get_data(as_text=True)


def test_the_sample_spends_its_epsilon_once_per_version_and_says_so(app, tmp_path):
    assert _ledger(app) == [0.5]
    first = _download(app)
    assert _download(app) == first, "a re-download is the same file: the noise was drawn once"
    descriptor, rows = _package(first)
    assert descriptor["kaifang"]["sample"] == {"mode": "dp", "epsilon": 0.5}
    assert len(rows) == 1000 and {r["diagnosis"] for r in rows} <= set(LEVELS)
    assert all(r["pid"].startswith("S") for r in rows), "the person field is invented, like an identifier"
    assert all(0 <= int(r["cost"]) <= 50000 and r["visit_date"].startswith("2023-") for r in rows)
    assert "spending ε 0.5" in _page(app, "en")
    assert "花费 ε 0.5" in _page(app, "zh-CN")
    assert _ledger(app) == [0.5], "downloads and page views spend nothing"
    factories.load(app, _folder(tmp_path / "again", SLUG, DP))
    assert _ledger(app) == [0.5] and _download(app) == first, "the same file again adds no version, spends nothing"


def test_a_spent_sample_ledger_gives_a_sample_of_the_dictionary_alone(app, tmp_path, monkeypatch):
    _add_version(app, tmp_path, 2)
    assert _ledger(app) == [0.5, 0.5]

    def refuse(*args, **kwargs):
        raise AssertionError("a sample of the dictionary alone read the records")

    monkeypatch.setattr(private_samples, "read_cells", refuse)
    _add_version(app, tmp_path, 3)
    assert _ledger(app) == [0.5, 0.5, 0.0], "at most SAMPLE_LIFETIME_EPSILON over all versions"
    descriptor, rows = _package(_download(app))
    assert descriptor["kaifang"]["sample"] == {"mode": "dictionary", "epsilon": 0.0}
    counts = {level: sum(r["diagnosis"] == level for r in rows) for level in LEVELS}
    assert all(180 <= n <= 320 for n in counts.values()), counts  # uniform over the declared levels
    assert {r["visit_date"][:7] for r in rows} == {f"2023-{m:02d}" for m in range(1, 13)}
    costs = sorted(int(r["cost"]) for r in rows)
    assert 20000 < costs[500] < 30000 and costs[0] >= 0 and costs[-1] <= 50000, "uniform inside the bounds"
    assert "drawn from the data dictionary alone" in _page(app, "en")
    assert "仅依据数据字典" in _page(app, "zh-CN")


def test_a_statistical_dataset_keeps_its_statistical_sample(app, tmp_path):
    factories.load(app, _folder(tmp_path / "sdc-src", "visits-sdc", None))
    assert _ledger(app, "visits-sdc") == [None], "no ε ledger: the statistical mode protects a record"
    descriptor, rows = _package(_download(app, "visits-sdc"), "visits-sdc")
    assert descriptor["kaifang"]["sample"] == {"mode": "sdc"}
    assert "罕见" not in {r["diagnosis"] for r in rows}, "a level nobody has is never listed there"
    assert "sample-epsilon" not in app.test_client().get("/datasets/visits-sdc").get_data(as_text=True)


def test_declaring_the_epsilon_mode_with_the_same_data_draws_the_sample_again(app, tmp_path):
    """A dataset published in the statistical mode, then declared in the ε-budget mode with the
    same data (or published before decision 0031a and loaded again): no version is added, and its
    statistical sample, which a person of many records moves, used to stay. The load now draws
    the current version's sample again by the ε mode's rules, once, and shows its size as the
    private figure."""
    factories.load(app, _folder(tmp_path / "sdc-src", "visits-later", None))
    assert _ledger(app, "visits-later") == [None]
    before = _download(app, "visits-later")
    data_dir = Path(app.config["DATA_DIR"])
    with app.app_context(), session_scope(app) as session:
        old = session.scalar(select(Version.sample_path).join(Dataset, Dataset.id == Version.dataset_id)
                             .where(Dataset.slug == "visits-later"))

    outcome = factories.load(app, _folder(tmp_path / "dp-src", "visits-later", DP))
    assert outcome.version is None and outcome.sample_redrawn
    assert _ledger(app, "visits-later") == [0.5], "one version; the redrawn sample's ε is on its ledger"
    after = _download(app, "visits-later")
    assert after != before
    assert _package(after, "visits-later")[0]["kaifang"]["sample"] == {"mode": "dp", "epsilon": 0.5}
    assert not (data_dir / old).exists(), "the statistical sample is gone from the disk too"
    versions = app.test_client().get("/api/v1/datasets/visits-later/versions").get_json()
    latest = versions["data"][0] if isinstance(versions, dict) and "data" in versions else versions[0]
    assert latest["row_count"] is None and latest["row_count_approx"] is not None

    again = factories.load(app, _folder(tmp_path / "dp-again", "visits-later", DP))
    assert not again.sample_redrawn and _ledger(app, "visits-later") == [0.5], "drawn once, not at every load"
    assert _download(app, "visits-later") == after

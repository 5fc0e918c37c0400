"""Loading descriptors that name the department by a plain name and the theme by its name."""

from __future__ import annotations

from sqlalchemy import select

from portal.catalog.models import Dataset, Department
from portal.db import session_scope
from tests.factories import dataset_folder, load


def test_plain_department_name_creates_a_department(app, tmp_path):
    load(app, dataset_folder(tmp_path / "src", department="stats-bureau"))
    dataset_folder(tmp_path / "src2", slug="relief", theme="社会发展", update_frequency="每年")
    folder = tmp_path / "src2" / "relief"
    text = (folder / "datapackage.json").read_text(encoding="utf-8")
    text = text.replace('{"slug": "stats-bureau", "name_zh": "市统计局", "name_en": "Statistics Bureau"}', '"民政局"')
    (folder / "datapackage.json").write_text(text, encoding="utf-8")
    outcome = load(app, folder)
    assert outcome.created
    with session_scope(app) as s:
        dept = s.scalar(select(Department).where(Department.slug == "min-zheng-ju"))
        assert dept is not None and dept.name_zh == "民政局"
        dataset = s.scalar(select(Dataset).where(Dataset.slug == "relief"))
        assert dataset.department_id == dept.id and dataset.update_frequency == "annual"


def test_plain_name_reuses_the_department_of_that_name(app, tmp_path):
    load(app, dataset_folder(tmp_path / "src", department="stats-bureau"))
    folder = dataset_folder(tmp_path / "src2", slug="second")
    text = (folder / "datapackage.json").read_text(encoding="utf-8")
    text = text.replace('{"slug": "stats-bureau", "name_zh": "市统计局", "name_en": "Statistics Bureau"}', '"市统计局"')
    (folder / "datapackage.json").write_text(text, encoding="utf-8")
    load(app, folder)
    with session_scope(app) as s:
        assert s.scalars(select(Department.slug)).all() == ["stats-bureau"]
        assert s.scalar(select(Department.name_en)) == "Statistics Bureau", "a plain name renames nothing"

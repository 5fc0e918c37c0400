"""Axis titles name the field and its unit in the page's language, with one pair of brackets
(issue 13: `(min)` stood in English on Chinese charts; "ppmv（体积百万分比）" nested brackets)."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from portal.catalog.chartlabels import field_label
from portal.catalog.schemas import FieldInfo
from tests.conftest import make_app


def field(unit: str | None, zh: str = "起飞延误", en: str = "Departure delay") -> FieldInfo:
    return FieldInfo("dep_delay", "integer", zh, en, unit, False, False)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("labels") / "instance")


@pytest.mark.parametrize(("unit", "zh", "en"), [
    ("min", "起飞延误（分钟）", "Departure delay (min)"),
    ("ppmv", "起飞延误（ppmv）", "Departure delay (ppmv)"),
    ("CNY", "起飞延误（元）", "Departure delay (CNY)"),
    (None, "起飞延误", "Departure delay"),
])
def test_unit_in_the_page_language_with_single_brackets(app, unit, zh, en):
    with app.test_request_context():
        with force_locale("zh_CN"):
            assert field_label(field(unit)) == zh
        with force_locale("en"):
            assert field_label(field(unit)) == en


def test_a_unit_already_in_the_description_is_not_repeated(app):
    with app.test_request_context(), force_locale("en"):
        assert field_label(field("%", en="Share of votes in %")) == "Share of votes in %"

"""What the public catalog says of a version of conditional data: nothing read from its records
but their number (decision 0029e).

The version's load report said which lines of the source were skipped, blank or totals rows,
with their line numbers. A government table is often sorted by district with a 小计 (subtotal)
row closing each district: those rows' lines are the exact number of records of each district,
cumulated — counts without noise, free, on the dataset page and in the API.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests import factories
from tests.conftest import make_app
from tests.integration.analysis.conftest import write_fixed_key

SLUG = "subtotalled"
LEVELS = ["甲区", "乙区", "丙区"]
FIELDS = [{"name": "pid", "type": "string"},
          {"name": "district", "type": "string", "constraints": {"enum": LEVELS}},
          {"name": "income", "type": "integer", "constraints": {"minimum": 0, "maximum": 1000000}}]


def _source(sizes: dict[str, int]) -> str:
    """Records sorted by district, each district closed by its 小计 row, as bureaus write them."""
    rng, lines, n = random.Random(7), ["pid,district,income"], 0
    for district, size in sizes.items():
        for _ in range(size):
            lines.append(f"P{n:04d},{district},{rng.randint(20000, 90000)}")
            n += 1
        lines.append(f"小计,{district},")
    return "\n".join(lines) + "\n注：数据来源于抽样调查\n"


def _published(root: Path, sizes: dict[str, int]):
    app = make_app(root / "instance")
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    folder = factories.dataset_folder(root / "src", SLUG, csv=_source(sizes), open_class="conditional",
                                      fields={"pid": {"description_zh": "编号", "identifier": True},
                                              "income": {"description_zh": "收入", "sensitive": True}})
    doc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    doc["resources"][0]["schema"]["fields"] = FIELDS
    (folder / "datapackage.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    factories.load(app, folder)
    return app


def test_a_conditional_version_s_metadata_holds_no_line_of_its_source(tmp_path):
    """Found: 37, 52 and 11 households in 甲区, 乙区 and 丙区, each district closed by a 小计 row.
    The API's versions said `totals: [{"line": 39, ...}, {"line": 92, ...}, {"line": 104, ...}]`:
    38, 52 and 11 lines after the header and each other, less the subtotal rows — the exact
    counts 37, 52, 11, which disclosure control only ever releases rounded and perturbed. The
    dataset page showed the same in its dictionary (`小计` as a totals row) and versions table.
    Fixed for the class: a non-public version shows no load report at all, nor its detected
    encoding; only the number of records, the declared columns and the publisher's note."""
    app = _published(tmp_path, {"甲区": 37, "乙区": 52, "丙区": 11})
    client = app.test_client()
    listed = client.get(f"/api/v1/datasets/{SLUG}/versions").get_json()
    detail = client.get(f"/api/v1/datasets/{SLUG}").get_json()
    one = client.get(f"/api/v1/datasets/{SLUG}/versions/1").get_json()
    for version in (listed[0], detail["versions"][0], one):
        assert version["load_report"] is None and version["encoding"] is None, version
        assert version["row_count"] == 37 + 52 + 11 + 3  # the subtotal rows are kept as data: public
    page = client.get(f"/datasets/{SLUG}?lang=zh").get_data(as_text=True)
    assert "小计" not in page and "汇总行" not in page


def test_the_publisher_s_load_output_keeps_the_report(tmp_path):
    """The publisher, who holds the records, still sees what the load did with their file."""
    from portal.catalog import service
    from portal.db import session_scope

    app = _published(tmp_path, {"甲区": 3, "乙区": 2, "丙区": 1})
    with app.app_context(), session_scope(app) as session:
        (version,) = service.operator_versions(session, SLUG)
    assert [t["line"] for t in version.load_report["totals"]] == [5, 8, 10]
    assert version.encoding == "utf-8"

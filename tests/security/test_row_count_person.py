"""The record count the catalog shows of a dataset in the ε-budget mode, in two worlds a person
apart (decision 0031f).

Six hundred and one known patients have one to three visits each, in three common diagnosis groups. World
A adds the target: forty visits of P9999, all in the rare group 罕见. World B is world A without
the target — one person apart, forty records apart.

Found (free and anonymous: the dataset page, or API v1): every view of the version showed its
exact `row_count`, so the attacker the ε mode is built for, who knows every other patient, read
whether the target is in the data from the number alone (world A's count is world B's plus 40).

Fixed: of a dataset in the ε mode every public view shows `row_count: null` and
`row_count_approx`, the sum of the version's sample's released counts of one column (each a
differentially private count of records capped at 5 per person, released once when the version
was published): post-processing, no ε of its own. The exact count is in no public response of
any GET route of the url_map, in either world; the pages and API answers of the two worlds are
the same but for that figure (and times); the figure's distribution moves by the cap at most
(measured). A dataset in the statistical mode still shows its exact count, and the publisher's
`kaifang versions` the ε dataset's.
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import zipfile
from datetime import date
from pathlib import Path

import duckdb
import pytest

from portal import store
from portal.analysis import privacy, private_samples
from portal.analysis.private_samples import PrivateSample, coverage_months, write_private_sample
from tests import factories
from tests.conftest import make_app
from tests.integration.analysis.conftest import FIXED_KEY, write_fixed_key
from tests.integration.analysis.test_samples_dp import LEVELS, _folder

DP_SLUG, SDC_SLUG = "visits-dp", "visits-sdc"
COMMON = LEVELS[:3]
CAP = 5
DP = {"mode": "dp", "person": "pid", "records_per_person": CAP}
VISITS = 40
HEADER = "visit_id,pid,diagnosis,cost,visit_date"


def _known(people: int = 601, seed: int = 31) -> list[str]:
    rng = random.Random(seed)
    rows = []
    for i in range(people):
        diagnosis = rng.choice(COMMON)
        rows += [f"K{i}-{v},P{i:04d},{diagnosis},{rng.randint(50, 20000)},2023-{rng.randint(1, 11):02d}-15"
                 for v in range(rng.randint(1, 3))]
    return rows


TARGET = [f"T{i},P9999,罕见,40000,2023-12-{1 + i % 28:02d}" for i in range(VISITS)]
KNOWN = _known()
SDC_ROWS = _known(457, seed=7)  # the statistical dataset: another size, shown exactly


def _csv(rows: list[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def _world(root: Path, rows: list[str], **config):
    app = make_app(root / "instance", RATELIMIT_ANON="100000/minute", **config)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    factories.load(app, _folder(root / "src", DP_SLUG, DP, _csv(rows)))
    factories.load(app, _folder(root / "src", SDC_SLUG, None, _csv(SDC_ROWS)))
    return app


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """{"A": the world with the target, "B": without}."""
    return {"A": _world(tmp_path_factory.mktemp("with"), KNOWN + TARGET),
            "B": _world(tmp_path_factory.mktemp("without"), KNOWN)}


EXACT = {"A": len(KNOWN) + VISITS, "B": len(KNOWN)}


def _pattern(n: int) -> re.Pattern:
    """`n` as a number in any text: plain or grouped by thousands, not inside a longer number or word."""
    spelled = "|".join(re.escape(s) for s in {str(n), f"{n:,}"})
    return re.compile(rf"(?<![0-9A-Za-z.])(?<!\d,)(?:{spelled})(?![0-9A-Za-z]|[,.]\d)")


def _get_routes(app) -> list[str]:
    """Every GET route of the url_map an anonymous visitor reaches with the dataset, its theme and
    department filled in, and the CKAN actions and queries that list or sort by records."""
    client = app.test_client()
    summary = client.get(f"/api/v1/datasets/{DP_SLUG}").json["summary"]
    theme, department = summary["theme"]["key"], summary["department"]["key"]
    fill = {"slug": DP_SLUG, "number": "1", "fmt": "csv", "code": theme}
    departmental = {"catalog.department_page", "api.department", "site.feed_department"}
    personal = {"token", "application_id", "run_id", "session_id", "filename", "name"}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments & personal or rule.endpoint in {"site.set_locale",
                                                                                        "developers.problem_page"}:
            continue
        url = rule.rule
        for arg in rule.arguments:
            value = department if arg == "slug" and rule.endpoint in departmental else fill[arg]
            url = re.sub(rf"<(?:[a-z]+:)?{arg}>", value, url)
        urls.append(url)
    actions = ["package_list", f"package_show?id={DP_SLUG}", "package_search?q=就诊", "package_search?sort=records",
               "current_package_list_with_resources", f"resource_show?id={DP_SLUG}", "tag_list",
               "organization_list?all_fields=true", f"organization_show?id={department}", "group_list?all_fields=true"]
    urls += [f"/api/3/action/{a}" for a in actions]
    urls += ["/datasets?sort=records", "/api/v1/datasets?sort=records", "/search?q=就诊", "/search?q=就诊&sort=records",
             "/api/v1/search?q=就诊&sort=records", "/api/v1/search/suggest?q=就诊",
             f"/datasets/{DP_SLUG}/public-aggregate?by1=diagnosis", f"/api/v1/datasets/{DP_SLUG}/public-aggregate?by=diagnosis",
             f"/datasets/{DP_SLUG}/chart.json?x=diagnosis", f"/datasets/{DP_SLUG}/download/parquet"]
    return urls


def _bodies(response) -> list[str]:
    """A response's text, and each member of a zip (the sample package)."""
    data = response.get_data()
    if data[:2] == b"PK":
        archive = zipfile.ZipFile(io.BytesIO(data))
        return [archive.read(name).decode("utf-8", "replace") for name in archive.namelist()]
    return [data.decode("utf-8", "replace")]


def test_the_exact_count_is_in_no_public_response(worlds):
    """Found: the dataset page ("Version 1, N records", the versions table, 记录数), API v1
    `/datasets/{slug}`, `/versions`, `/versions/{n}`, the dataset lists and their sort by records,
    the CKAN extras, the search index's `records` and the home page's total of records each showed
    or summed the exact count, which moved by forty with the target. Fixed: it is in no body of any
    GET route, in English or Chinese, in either world."""
    assert all(n % 10 for n in EXACT.values()), "an exact count that the rounded figure could equal"
    for world, app in worlds.items():
        exact = _pattern(EXACT[world])
        urls = _get_routes(app)
        assert len(urls) > 50, urls
        for locale in ("zh", "en"):
            client = app.test_client()
            client.get(f"/locale/{locale}")
            for url in urls:
                for body in _bodies(client.get(url)):
                    found = exact.search(body)
                    assert found is None, (world, locale, url, body[max(0, found.start() - 80):found.end() + 80])


def _api(app) -> dict:
    client = app.test_client()
    return {"dataset": client.get(f"/api/v1/datasets/{DP_SLUG}").json,
            "versions": client.get(f"/api/v1/datasets/{DP_SLUG}/versions").json,
            "version": client.get(f"/api/v1/datasets/{DP_SLUG}/versions/1").json,
            "list": [d for d in client.get("/api/v1/datasets").json["items"] if d["slug"] == DP_SLUG]}


def test_the_api_shows_an_approximate_figure_and_null(worlds):
    """Every view of the version in API v1 carries `row_count: null` and `row_count_approx`, a
    figure near the capped total; the two worlds' answers are the same but for it and times."""
    answers = {world: _api(app) for world, app in worlds.items()}
    for world, a in answers.items():
        views = [a["dataset"]["summary"], a["dataset"]["versions"][0], a["versions"][0], a["version"], a["list"][0]]
        assert all(v["row_count"] is None for v in views), world
        figures = {v["row_count_approx"] for v in views}
        assert len(figures) == 1, figures  # one figure, stored on the version
        (figure,) = figures
        assert isinstance(figure, int) and figure % 10 == 0
        # near the capped total: the known visits and at most 5 of the target's (noise sd ≈ 85)
        capped = len(KNOWN) + (CAP if world == "A" else 0)
        assert abs(figure - capped) < 600, (world, figure, capped)

    def strip(value):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        text = re.sub(r'"row_count_approx": \d+', "", text)
        # times, and the view and download tallies (written in batches, whenever)
        return re.sub(r'"(created_at|updated_at)": "[^"]*"|"(view|download)_count": \d+', "", text)

    assert strip(answers["A"]) == strip(answers["B"])


def _page(app, locale: str) -> str:
    client = app.test_client()
    client.get(f"/locale/{locale}")
    return client.get(f"/datasets/{DP_SLUG}").get_data(as_text=True)


@pytest.mark.parametrize(("locale", "about", "hint"), [
    ("zh", "约 ", "差分隐私估计值"),
    ("en", "about ", "A differentially private estimate"),
])
def test_the_page_shows_the_figure_as_approximate(worlds, locale, about, hint):
    """The page says "about N" (约 N) with a hint why, and is otherwise the same in both worlds."""
    pages = {world: _page(app, locale) for world, app in worlds.items()}
    for world, page in pages.items():
        figure = worlds[world].test_client().get(f"/api/v1/datasets/{DP_SLUG}").json["summary"]["row_count_approx"]
        assert f"{about}{figure:,}" in page, world
        assert hint in page

    def strip(text: str) -> str:
        text = re.sub(r'(nonce|value)="[^"]*"|\d{4}-\d\d-\d\d[T ][\d:.]+(\+00:00|Z)?|\d{4}-\d\d-\d\d', "", text)
        text = re.sub(r"(</dt><dd>)[\d,]+(</dd>)", r"\1\2", text)  # views and downloads, tallied in batches
        return re.sub(rf"{about}[\d,]+", about, text)

    assert strip(pages["A"]) == strip(pages["B"])


def test_a_statistical_dataset_still_shows_its_exact_count(worlds):
    """Decisions 0026b, 0028c: the statistical mode's exact N is accepted and stays."""
    exact = len(SDC_ROWS)
    for app in worlds.values():
        client = app.test_client()
        detail = client.get(f"/api/v1/datasets/{SDC_SLUG}").json
        assert detail["summary"]["row_count"] == exact and detail["summary"]["row_count_approx"] is None
        assert detail["versions"][0]["row_count"] == exact
        assert client.get(f"/api/v1/datasets/{SDC_SLUG}/versions/1").json["row_count"] == exact
        for locale in ("zh", "en"):
            client.get(f"/locale/{locale}")
            assert f"{exact:,}" in client.get(f"/datasets/{SDC_SLUG}").get_data(as_text=True)


def test_the_publisher_s_cli_still_shows_the_exact_count(worlds, monkeypatch):
    """`kaifang versions` is the operator's: it keeps the exact count."""
    from click.testing import CliRunner  # noqa: PLC0415 - the CLI's test runner

    from portal.cli import main  # noqa: PLC0415

    app = worlds["A"]
    monkeypatch.setenv("KAIFANG_INSTANCE", app.config["INSTANCE_PATH"])
    monkeypatch.setenv("KAIFANG_SECRET_KEY", "test-secret")
    result = CliRunner().invoke(main, ["versions", DP_SLUG])
    assert result.exit_code == 0, result.output
    assert f"{EXACT['A']:,}" in result.output, result.output


def test_a_dictionary_sample_leaves_no_figure(tmp_path):
    """A version whose sample is drawn from the dictionary alone (no sample ε: here SAMPLE_EPSILON
    0) released no count: the catalog shows no figure, and says why."""
    app = _world(tmp_path, KNOWN, SAMPLE_EPSILON=0)
    client = app.test_client()
    version = client.get(f"/api/v1/datasets/{DP_SLUG}/versions/1").json
    assert version["row_count"] is None and version["row_count_approx"] is None
    assert version["sample_epsilon"] == 0
    for locale, words in (("zh", "不公布：确切条数"), ("en", "not shown: the exact number")):
        assert words in _page(app, locale)
    assert not _pattern(len(KNOWN)).search(_page(app, "en"))


# The figure as a mechanism: what reaches it in the two worlds, and how it is distributed.

COLUMNS = (store.Column("visit_id", "text"), store.Column("pid", "text"), store.Column("diagnosis", "text"),
           store.Column("cost", "integer"), store.Column("visit_date", "date"))
EPSILON = 0.5


def _table(root: Path, name: str, rows: list[str]) -> store.StoredTable:
    path = root / f"{name}.parquet"
    con = duckdb.connect()
    con.execute("CREATE TABLE t (visit_id VARCHAR, pid VARCHAR, diagnosis VARCHAR, cost BIGINT, visit_date DATE)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                    [(a, b, c, int(d), date.fromisoformat(e)) for a, b, c, d, e in (r.split(",") for r in rows)])
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return store.StoredTable(path, COLUMNS, bounds=(("cost", 0, 50000),))


def _spec() -> PrivateSample:
    salt = int(FIXED_KEY[:14], 16)  # which five of a person's records: from the disclosure key
    return PrivateSample("visits", frozenset({"visit_id"}), {"diagnosis": tuple(LEVELS)}, {"cost": (0.0, 50000.0)},
                         coverage_months(date(2023, 1, 1), date(2023, 12, 31)), "pid", CAP, salt, EPSILON)


def _inputs(tables, tmp_path, monkeypatch) -> dict[str, list[tuple[int, float, int]]]:
    """Per world, each count of the figure's column as it reaches the mechanism: (records, ε, cap)."""
    seen: dict[str, list[tuple[int, float, int]]] = {}
    original = privacy.release_count
    for world, table in tables.items():
        calls: list[tuple[int, float, int]] = []

        def release(records, epsilon, calls=calls, **kwargs):
            calls.append((records, epsilon, kwargs.get("per_person", 1)))
            return original(records, epsilon, **kwargs)

        monkeypatch.setattr(privacy, "release_count", release)
        released: dict[str, list[privacy.Noisy]] = {}
        write_private_sample(table, tmp_path / f"{world}.csv", _spec(), seed=FIXED_KEY, rows=10, released=released)
        assert private_samples.approximate_records(released) is not None
        chosen = min((c for c in released.values() if c), key=len)
        assert len(chosen) == len(LEVELS), "the figure reads the column with the fewest cells: the diagnosis"
        seen[world] = calls[:len(LEVELS)]  # the diagnosis is the first column that reads records
    monkeypatch.setattr(privacy, "release_count", original)
    return seen


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("count-worlds")
    return {"A": _table(root, "with", KNOWN + TARGET), "B": _table(root, "without", KNOWN)}


def test_the_figure_reads_capped_counts_for_one_person(tables, tmp_path, monkeypatch):
    """What reaches the mechanism for the figure: the diagnosis' four counts, each calibrated for
    the cap at the column's ε; the target moves them by 5 in all (its forty visits capped), where
    the exact count moved by forty."""
    seen = _inputs(tables, tmp_path, monkeypatch)
    a, b = ([records for records, _, _ in seen[w]] for w in ("A", "B"))
    assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) <= CAP
    assert sum(a) - sum(b) == CAP and EXACT["A"] - EXACT["B"] == VISITS
    assert {(eps, cap) for _, eps, cap in seen["A"] + seen["B"]} == {(EPSILON / 3, CAP)}  # diagnosis, cost, date


def _ks(xs: list[float], ys: list[float]) -> float:
    """The two-sample Kolmogorov–Smirnov distance."""
    points = sorted(set(xs) | set(ys))
    xs, ys = sorted(xs), sorted(ys)

    def cdf(sample, t):
        lo, hi = 0, len(sample)
        while lo < hi:
            mid = (lo + hi) // 2
            if sample[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        return lo / len(sample)

    return max(abs(cdf(xs, t) - cdf(ys, t)) for t in points)


def test_the_figure_is_distributed_alike_in_both_worlds(tables, tmp_path, monkeypatch):
    """The figure released from those counts, drawn 400 times a world: the two distributions are
    as close as two samples of one (KS distance under 0.15, the means within their noise), where
    the exact counts were forty apart; the rounding claims no digit finer than the noise."""
    seen = _inputs(tables, tmp_path, monkeypatch)
    runs = 400
    figures = {world: [private_samples.approximate_records(
        {"diagnosis": [privacy.release_count(records, eps, per_person=cap) for records, eps, cap in calls]})
        for _ in range(runs)] for world, calls in seen.items()}
    scale = privacy.release_count(0, EPSILON / 3, per_person=CAP).scale
    sd = math.sqrt(len(LEVELS) * 2 * scale ** 2)
    assert all(f % 10 ** math.floor(math.log10(1.96 * sd)) == 0 for f in figures["A"])
    assert _ks(figures["A"], figures["B"]) < 0.15
    means = {w: sum(f) / runs for w, f in figures.items()}
    # the capped totals differ by 5; the means of 400 figures of sd ≈ 85 (and rounding) by far less than 40
    assert abs(means["A"] - means["B"]) < CAP + 4 * (sd + 30) / math.sqrt(runs) * math.sqrt(2)

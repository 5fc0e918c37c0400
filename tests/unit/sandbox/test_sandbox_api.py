"""The data and output API end to end through a real pool and the fake broker."""

import pytest

from sandbox import Limits, RunRequest, Sandbox, SandboxConfig
from tests.unit.sandbox.fakes import PEOPLE, FakeBroker

GRANTS = ("people", "districts")


@pytest.fixture(scope="module")
def pool():
    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        yield sandbox


@pytest.fixture
def broker():
    return FakeBroker()


def go(pool, broker, code, **kwargs):
    kwargs.setdefault("grants", GRANTS)
    return pool.run(RunRequest(code=code, **kwargs), broker)


def test_group_by_sends_one_plan_and_returns_released_values(pool, broker):
    result = go(pool, broker, """
t = dataset("people").filter((col("age") >= 40) & ~col("district").is_in(["north"]))
f = t.group_by("district").agg(count(), mean("income").alias("avg"), max("age")).sort("district").collect()
print(f.columns)
for row in f:
    print(row)
""")
    assert result.status == "ok", result.message
    older = [p for p in PEOPLE if p["age"] >= 40 and p["district"] != "north"]
    east = [p for p in older if p["district"] == "east"]
    assert result.stdout.splitlines()[0] == "('district', 'count', 'avg', 'max_age')"
    assert result.stdout.splitlines()[1] == str(
        ("east", len(east), sum(p["income"] for p in east) / len(east), max(p["age"] for p in east)))
    assert len(broker.plans) == 1
    assert broker.plans[0]["steps"][0]["op"] == "filter"
    assert result.released == ({"query": 1, "datasets": ["people"], "action": "collect",
                                "rows": 2, "notes": ["fake broker"]},)


def test_join_with_columns_and_dates(pool, broker):
    result = go(pool, broker, """
t = dataset("people").join(dataset("districts"), on="district", how="left")
t = t.with_columns(col("born").dt.year().alias("year"), (col("income") * 2).alias("double"),
                   col("age").cast("float").alias("age_f"))
f = t.select("id", "area_km2", "year", "double", "age_f").sort("id").limit(2).collect()
print(f.to_dicts())
""")
    assert result.status == "ok", result.message
    first, second = PEOPLE[0], PEOPLE[1]
    assert result.stdout == str([
        {"id": 0, "area_km2": 12.5, "year": int(first["born"][:4]), "double": first["income"] * 2,
         "age_f": float(first["age"])},
        {"id": 1, "area_km2": 30.0, "year": int(second["born"][:4]), "double": second["income"] * 2,
         "age_f": float(second["age"])}]) + "\n"
    assert broker.plans[0]["steps"][0]["right"] == {"source": "districts", "steps": []}


def test_count_schema_and_null_checks(pool, broker):
    result = go(pool, broker, """
t = dataset("people")
print(t.count(), t.filter(col("age").is_null()).count(), t.filter(col("age").is_not_null()).count())
print(sorted(t.schema.items())[0])
print(t.select("age").columns)
""")
    assert result.stdout == f"{len(PEOPLE)} 0 {len(PEOPLE)}\n('age', 'integer')\n['age']\n"
    assert [p["action"] for p in broker.plans] == ["count", "count", "count", "schema", "schema"]


def test_lazy_table_holds_no_rows(pool, broker):
    result = go(pool, broker, """
t = dataset("people").filter(col("age") > 1)
print(repr(t))
for probe in ("iter", "len", "index"):
    try:
        if probe == "iter":
            list(t)
        elif probe == "len":
            len(t)
        else:
            t[0]
    except TypeError as exc:
        print(probe, "refused")
""")
    assert result.stdout == "<lazy table 'people'>\niter refused\nlen refused\nindex refused\n"
    assert broker.plans == []


def test_refusal_from_the_broker_is_catchable_and_reported(pool, broker):
    result = go(pool, broker, """
try:
    dataset("people").group_by("id").agg(count()).collect()
except QueryRefused as exc:
    print(exc.rule)
""")
    assert result.status == "ok"
    assert result.stdout == "min-cell\n"
    assert result.refused[0]["rule"] == "min-cell"


def test_uncaught_refusal_makes_the_run_refused(pool, broker):
    result = go(pool, broker, 'dataset("people").group_by("id").agg(count()).collect()')
    assert result.status == "refused"
    assert "fewer than 5" in result.message


def test_grants_are_checked_before_the_broker(pool, broker):
    result = go(pool, broker, 'dataset("people").join(dataset("districts"), on="district").count()',
                grants=("people",))
    assert result.status == "refused"
    assert result.refused[0]["rule"] == "grant"
    assert broker.plans == []


def test_show_caps_rows_and_cells(pool, broker):
    result = go(pool, broker, """
show(dataset("people").select("id", "born"))
show(dataset("people").select("id").collect())
show({"a": 1})
""", limits=Limits(show_rows=3, cell_chars=5))
    lazy, frame, text = result.outputs
    assert lazy == {"kind": "table", "columns": ["id", "born"], "total_rows": 3,
                    "rows": [[0, PEOPLE[0]["born"][:4] + "…"], [1, PEOPLE[1]["born"][:4] + "…"],
                             [2, PEOPLE[2]["born"][:4] + "…"]]}
    assert frame["total_rows"] == len(PEOPLE) and len(frame["rows"]) == 3
    assert text == {"kind": "text", "text": "{'a': 1}"}


def test_chart_is_a_vega_lite_spec_of_released_values(pool, broker):
    result = go(pool, broker, """
f = dataset("people").group_by("district").agg(count().alias("n")).sort("district").collect()
chart(f, x="district", y="n", kind="line", color="district")
""")
    (output,) = result.outputs
    spec = output["spec"]
    assert spec["$schema"] == "https://vega.github.io/schema/vega-lite/v5.json"
    assert spec["mark"] == {"type": "line", "tooltip": True}
    assert spec["data"]["values"] == [{"x": "east", "y": 20, "color": "east"},
                                      {"x": "north", "y": 20, "color": "north"},
                                      {"x": "west", "y": 20, "color": "west"}]
    assert spec["encoding"]["y"] == {"field": "y", "type": "quantitative", "title": "n"}
    assert spec["encoding"]["x"]["type"] == "nominal"
    assert spec["encoding"]["x"]["sort"] is None and spec["encoding"]["color"]["sort"] is None


def test_a_chart_keeps_the_tables_row_order():
    """Vega-Lite would sort a discrete axis alphabetically; `"sort": null` keeps the table's order
    (the cell's .sort(...)), for category names and for bars over numbers alike."""
    from sandbox.rendering import chart_spec

    spec = chart_spec(mark="bar", fields={"x": "district", "y": "n"}, values=[["west", 30], ["east", 20], ["north", 10]])
    assert [v["x"] for v in spec["data"]["values"]] == ["west", "east", "north"]
    assert spec["encoding"]["x"] == {"field": "x", "type": "nominal", "title": "district", "sort": None}
    assert "sort" not in spec["encoding"]["y"]  # a quantitative axis keeps its scale
    years = chart_spec(mark="bar", fields={"x": "year", "y": "n"}, values=[[2024, 3], [2023, 5]])
    assert years["encoding"]["x"]["type"] == "ordinal" and years["encoding"]["x"]["sort"] is None
    dates = chart_spec(mark="line", fields={"x": "day", "y": "n"}, values=[["2024-01-02", 3], ["2024-01-01", 5]])
    assert dates["encoding"]["x"]["type"] == "temporal" and "sort" not in dates["encoding"]["x"]


def test_chart_rejects_unknown_kind(pool, broker):
    result = go(pool, broker, 'chart(dataset("people").collect(), x="id", y="age", kind="pie")')
    assert result.status == "error"
    assert result.error.type == "ValueError"


def test_state_round_trips_through_the_pool(pool, broker):
    first = go(pool, broker, 'counts = dataset("people").group_by("district").agg(count()).collect()\nk = 2')
    second = go(pool, broker, "print(len(counts) * k)", state=first.state)
    assert second.stdout == "6\n"
    assert len(broker.plans) == 1


def test_result_carries_usage_and_isolation(pool, broker):
    result = go(pool, broker, "x = sum(range(1000))")
    assert result.state == {"x": 499500}
    assert result.usage.max_rss_bytes > 0
    assert result.usage.wall_seconds > 0
    assert result.isolation.fallback is False
    assert set(result.isolation.layers.values()) == {"active"}


def test_lazy_host_imports_work_inside_the_chroot(pool, broker):
    """datetime.strptime/strftime and codecs import lazily; the zygote pre-loads them."""
    result = go(pool, broker, """
import datetime, decimal
moment = datetime.datetime.strptime("2024-05-06", "%Y-%m-%d")
print(moment.strftime("%d.%m.%Y"), moment.timetuple().tm_yday, f"{decimal.Decimal('2.5'):.2f}")
print("汉字".encode("gb18030"), datetime.datetime.now().year > 2000)
""")
    assert result.status == "ok", result.message
    assert result.stdout == "06.05.2024 127 2.50\nb'\\xba\\xba\\xd7\\xd6' True\n"


def test_the_lazy_import_views_expose_nothing_else(pool, broker):
    result = go(pool, broker, "import time\nprint(time.sleep)")
    assert result.error.type == "AttributeError"

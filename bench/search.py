"""Benchmark of catalog search (`portal/search`) against SQLite FTS5 (trigram), same records,
same run.

    .venv/bin/python bench/search.py                 # 20,000 generated records
    .venv/bin/python bench/search.py --records 2000 --runs 30

Records are generated from the bundled catalog's own words (titles, tags, descriptions, data
dictionaries), half of them Chinese-only and half English-only, with realistic lengths (a
description of 3–7 sentences, 5–15 fields, 3–6 tags). They go through the portal's real document
builder and analyzer. Query latencies are of the search core (parse, synonyms and pinyin,
matching, ranking, top 20, facet counts) without the database round trip that loads the 20
summaries; FTS5 answers the same questions with bm25 and GROUP BY. Figures go in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from whoosh import index as whoosh_index  # noqa: E402

from portal.auth import ANONYMOUS  # noqa: E402
from portal.catalog.models import Dataset, Department, Field, Tag, Theme, Version  # noqa: E402
from portal.catalog.themes import THEMES  # noqa: E402
from portal.search import service  # noqa: E402
from portal.search.documents import to_document  # noqa: E402
from portal.search.engine import SearchEngine  # noqa: E402
from portal.search.schema import FACETS, build_schema  # noqa: E402
from portal.search.schemas import SearchParams  # noqa: E402
from portal.search.writer import open_writer  # noqa: E402

CITIES_ZH = ["天津市", "北京市", "上海市", "广州市", "深圳市", "成都市", "武汉市", "西安市", "南京市", "杭州市",
             "滨海新区", "和平区", "河西区", "南开区", "河北区", "红桥区", "东丽区", "西青区", "津南区", "北辰区"]
CITIES_EN = ["Tianjin", "Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Chengdu", "Wuhan", "Xi'an", "Nanjing",
             "Hangzhou", "New York", "Seattle", "Chicago", "Boston", "Denver", "Austin", "Portland", "Miami"]
SUFFIX_ZH = ["统计", "名录", "数据", "月报", "年报", "信息", "目录", "明细", "汇总", "清单"]
SUFFIX_EN = ["statistics", "register", "records", "monthly report", "annual report", "list", "catalogue",
             "summary", "inventory", "survey"]
DEPARTMENTS = [(f"dept-{i}", f"市第{i}局", f"Bureau {i}") for i in range(15)]
FORMATS = ["csv", "csv", "csv", "xlsx", "json", "geojson"]
FREQUENCIES = ["static", "annual", "quarterly", "monthly", "weekly", "daily", "realtime", "irregular"]


def vocabulary() -> dict[str, list]:
    """Words and sentences of the bundled descriptors, to make generated records read true."""
    pools: dict[str, list] = {k: [] for k in ("topic_zh", "topic_en", "sent_zh", "sent_en", "tag_zh", "tag_en", "fields")}
    for path in sorted((ROOT / "datasets").glob("*/datapackage.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        k = d["kaifang"]
        pools["topic_zh"] += [re.sub(r"[（(].*", "", k["title_zh"]).strip()]
        pools["topic_en"] += [re.sub(r"\(.*|\d{4}.*", "", d["title"]).strip()]
        pools["sent_zh"] += [s + "。" for s in k["description_zh"].split("。") if len(s) > 8]
        pools["sent_en"] += [s + "." for s in d["description"].split(". ") if len(s) > 20]
        pools["tag_zh"] += k["tags_zh"]
        pools["tag_en"] += d.get("keywords", [])
        for f in d["resources"][0]["schema"]["fields"]:
            pools["fields"].append((f["name"], k["fields"].get(f["name"], {}).get("description_zh", ""),
                                    f.get("description", "")))
    return pools


def records(n: int, seed: int = 7) -> list[Dataset]:
    rng, pools = random.Random(seed), vocabulary()
    themes = [Theme(code=c, name_zh=zh, name_en=en) for c, zh, en in THEMES]
    departments = [Department(id=i, slug=s, name_zh=zh, name_en=en) for i, (s, zh, en) in enumerate(DEPARTMENTS)]
    start = datetime(2020, 1, 1)
    out = []
    for i in range(1, n + 1):
        chinese = i % 2 == 0
        topic = rng.choice(pools["topic_zh"] if chinese else pools["topic_en"])
        year = rng.randint(2005, 2025)
        if chinese:
            title_zh, title_en = f"{rng.choice(CITIES_ZH)}{year}年{topic}{rng.choice(SUFFIX_ZH)}", ""
            desc_zh, desc_en = "".join(rng.sample(pools["sent_zh"], rng.randint(3, 7))), ""
            tags = [Tag(lang="zh", name=t) for t in dict.fromkeys(rng.sample(pools["tag_zh"], rng.randint(3, 6)))]
        else:
            title_zh, title_en = "", f"{rng.choice(CITIES_EN)} {topic} {year} {rng.choice(SUFFIX_EN)}"
            desc_zh, desc_en = "", " ".join(rng.sample(pools["sent_en"], rng.randint(3, 7)))
            tags = [Tag(lang="en", name=t) for t in dict.fromkeys(rng.sample(pools["tag_en"], rng.randint(3, 6)))]
        fields = [Field(name=name, description_zh=zh if chinese else "", description_en="" if chinese else en)
                  for name, zh, en in rng.sample(pools["fields"], rng.randint(5, 15))]
        department = rng.choice(departments)
        out.append(Dataset(
            id=i, slug=f"dataset-{i}", title_zh=title_zh, title_en=title_en, description_zh=desc_zh,
            description_en=desc_en, theme=rng.choice(themes), department=department, department_id=department.id,
            open_class=rng.choices(["open", "conditional", "closed"], [85, 10, 5])[0], published=True,
            update_frequency=rng.choice(FREQUENCIES), spatial_zh="", spatial_en="",
            temporal_start=None, temporal_end=None, tags=tags, fields=fields,
            current_version=Version(source_format=rng.choice(FORMATS), row_count=rng.randint(10, 5_000_000)),
            view_count=int(rng.paretovariate(1.2) * 10), download_count=int(rng.paretovariate(1.4) * 3),
            updated_at=start + timedelta(minutes=rng.randint(0, 3_000_000)),
        ))
    return out


QUERIES = {
    "one-word": ["flights", "weather", "population", "holidays", "airports", "crime", "income", "laws"],
    "two-word": ["weather daily", "crime rate", "public holidays", "life expectancy", "flight delays",
                 "area codes", "stock exchange", "solar inverters"],
    "Chinese": ["航班", "行政区划", "邮政编码", "天气", "失业率", "犯罪率", "二氧化碳", "节假日"],
    "pinyin": ["hangban", "tianqi", "youzhengbianma", "jiejiari", "dizhen", "quhua", "shiye", "renkou"],
    "phrase": ['"public holidays"', '"area codes"', '"life expectancy"', '"stock exchange"',
               '"行政区划"', '"邮政编码"', '"daily weather"', '"crime rates"'],
    "faceted": ["", "data", "统计", "weather", "天津市", "annual", "records", "report"],
}
FACET_FILTERS = [{}, {"open_class": "open"}, {"theme": "transport"}, {"format": "csv", "open_class": "open"}]
SUGGEST = ["tq", "航", "tian", "fli", "天津", "sea", "hb", "人口", "pop", "邮"]
FTS_SUGGEST = ["tq", "航", "tian", "fli", "天津", "sea", "hb", "人口", "pop", "邮"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn, args_list, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each call. On a shared, loaded machine the CPU time of
    this single-threaded code is the better estimate of its latency on an idle one."""
    wall, cpu = [], []
    for _ in range(runs):
        for args in args_list:
            started, started_cpu = time.perf_counter(), time.process_time()
            fn(*args)
            cpu.append((time.process_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
    return wall, cpu


class Clock:
    """CPU and wall-clock seconds of a block (CPU is the figure to trust on a loaded machine)."""

    def __enter__(self):
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall

    def __str__(self):
        return f"{self.cpu:.1f} s CPU ({self.wall:.1f} s wall)"


def build_whoosh(folder: Path, docs: list[dict]) -> Clock:
    with Clock() as clock:
        ix = whoosh_index.create_in(str(folder), build_schema())
        writer = open_writer(ix, timeout=1)
        for doc in docs:
            writer.add_document(**doc)
        writer.commit()
    return clock


def whoosh_engine(folder: Path) -> SearchEngine:
    engine = SearchEngine(folder, None, synonyms=None, lock_timeout=1)
    engine.index.open(background=False)
    return engine


def whoosh_search(engine: SearchEngine, text: str, filters: dict) -> int:
    searcher = engine.searcher()
    lexicon = engine.lexicon(searcher)
    params = SearchParams(q=text, **filters)
    run = service._best_run(engine, searcher, lexicon, ANONYMOUS, params, text)
    for field in FACETS:
        lexicon.facets.counts(field, run.matched)
    return run.total


FTS_COLUMNS = ("title", "pinyin", "tags", "description", "meta", "columns")


def build_fts(path: Path, docs: list[dict]) -> Clock:
    with Clock() as clock:
        db = sqlite3.connect(path)
        db.execute(f"CREATE VIRTUAL TABLE docs USING fts5({', '.join(FTS_COLUMNS)}, tokenize='trigram')")
        db.execute("CREATE TABLE facets (id INTEGER PRIMARY KEY, theme, department, open_class, format, "
                   "update_frequency, views, title_plain)")
        db.executemany(f"INSERT INTO docs(rowid, {', '.join(FTS_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(int(d["id"]), *(d[c] for c in FTS_COLUMNS)) for d in docs])
        db.executemany("INSERT INTO facets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(int(d["id"]), d["theme"], d["department"], d["open_class"], d["format"],
                         d["update_frequency"], d["views"], d["title"]) for d in docs])
        db.execute("CREATE INDEX ix_title ON facets(title_plain)")
        db.commit()
        db.close()
    return clock


def fts_match(text: str) -> tuple[str, list]:
    """The FTS5 condition for a query: MATCH for words of 3+ characters (trigram), LIKE below."""
    words = [w for w in re.findall(r'"[^"]+"|\S+', text)]
    clauses, params = [], []
    for word in words:
        bare = word.strip('"')
        if len(bare) >= 3:
            clauses.append("docs MATCH ?")
            params.append('"' + bare.replace('"', "") + '"')
        else:
            clauses.append("(docs.title LIKE ? OR docs.tags LIKE ? OR docs.description LIKE ?)")
            params += [f"%{bare}%"] * 3
    return " AND ".join(clauses) or "1", params


def fts_search(db: sqlite3.Connection, text: str, filters: dict) -> int:
    where, params = fts_match(text)
    for key, value in filters.items():
        where += f" AND f.{key} = ?"
        params.append(value)
    base = f"FROM docs JOIN facets f ON f.id = docs.rowid WHERE {where}"
    order = "bm25(docs, 8, 5, 4, 2, 1.5, 1)" if text else "f.views DESC"
    db.execute(f"SELECT docs.rowid {base} ORDER BY {order} LIMIT 20", params).fetchall()  # noqa: S608 - columns are constants
    total = db.execute(f"SELECT count(*) {base}", params).fetchone()[0]  # noqa: S608
    for facet in ("theme", "department", "open_class", "format", "update_frequency"):
        db.execute(f"SELECT f.{facet}, count(*) {base} GROUP BY 1", params).fetchall()  # noqa: S608
    return total


def fts_suggest(db: sqlite3.Connection, prefix: str) -> None:
    db.execute("SELECT title_plain FROM facets WHERE title_plain LIKE ? ORDER BY views DESC LIMIT 8",
               (f"%{prefix}%",)).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=12, help="repetitions of each query list")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, load average {load}; "
          f"{args.records:,} records, {args.runs} runs")
    started = time.process_time()
    docs = [to_document(d) for d in records(args.records)]
    print(f"documents generated and analysed for pinyin in {time.process_time() - started:.1f} s CPU")
    with tempfile.TemporaryDirectory() as tmp:
        folder, fts_path = Path(tmp) / "whoosh", Path(tmp) / "fts.sqlite"
        folder.mkdir()
        whoosh_build, fts_build = build_whoosh(folder, docs), build_fts(fts_path, docs)
        engine = whoosh_engine(folder)
        with Clock() as lexicon_build:
            engine.lexicon(engine.searcher())
        db = sqlite3.connect(fts_path)
        report(engine, db, args.runs, whoosh_build, fts_build, lexicon_build)
        db.close()


def _cell(samples: tuple[list[float], list[float]], q: float, digits: int = 1) -> str:
    wall, cpu = samples
    return f"{percentile(cpu, q):.{digits}f} ({percentile(wall, q):.{digits}f})"


def report(engine, db, runs: int, whoosh_build: Clock, fts_build: Clock, lexicon_build: Clock) -> None:
    print(f"\nindex build: Whoosh {whoosh_build} (+ {lexicon_build} for the autocomplete, facet and ranking "
          f"arrays on the first query) · FTS5 trigram {fts_build}")
    print("query latency in ms, CPU time (wall-clock in brackets, inflated by the machine's load)\n")
    print(f"{'query kind':<14}{'Whoosh p50':>12}{'p95':>16}{'hits':>7}   {'FTS5 p50':>12}{'p95':>16}{'hits':>7}")
    for kind, queries in QUERIES.items():
        filters = FACET_FILTERS if kind == "faceted" else [{}]
        cases = [(q, f) for q in queries for f in filters]
        w = timed(lambda q, f: whoosh_search(engine, q, f), cases, runs)
        s = timed(lambda q, f: fts_search(db, q, f), cases, runs)
        w_hits = statistics.mean(whoosh_search(engine, q, f) for q, f in cases)
        s_hits = statistics.mean(fts_search(db, q, f) for q, f in cases)
        print(f"{kind:<14}{_cell(w, .5):>12}{_cell(w, .95):>16}{w_hits:>7.0f}   "
              f"{_cell(s, .5):>12}{_cell(s, .95):>16}{s_hits:>7.0f}")
    searcher = engine.searcher()
    auto = engine.lexicon(searcher).autocomplete
    w = timed(lambda p: auto.complete(p), [(p,) for p in SUGGEST], runs * 4)
    s = timed(lambda p: fts_suggest(db, p), [(p,) for p in FTS_SUGGEST], runs * 4)
    print(f"{'autocomplete':<14}{_cell(w, .5, 2):>12}{_cell(w, .95, 2):>16}{'':>7}   "
          f"{_cell(s, .5, 2):>12}{_cell(s, .95, 2):>16}")
    print("\nWhoosh: BM25F over six weighted fields, synonyms, pinyin, facet counts over all hits, top 20. "
          "FTS5: bm25 over the same text (trigram: no segmentation, no synonyms; words under 3 characters "
          "by LIKE), 5 GROUP BY facet counts, top 20; autocomplete by LIKE on titles.")


if __name__ == "__main__":
    main()

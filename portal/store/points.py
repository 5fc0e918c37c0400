"""Map points of a table with longitude/latitude columns: every point (with its row) while there
are at most `limit` in the area asked for, else a grid of counts computed by DuckDB, so a map of
ten million rows sends a few hundred cells, never the rows.

Column names reach SQL only through `sql.quote_identifier`; the area and cell size are bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from portal.store import sql
from portal.store.charts import fetch_rows, nice_step
from portal.store.errors import QueryError
from portal.store.queries import NUMERIC, require_column
from portal.store.schema import StoredTable

GRID_CELLS = 48  # cells across the wider side of the area when points are binned
MAX_PROPERTIES = 30  # columns sent with each point (its popup)


@dataclass(frozen=True)
class PointSet:
    """`total` points in the area; either `points` [(lon, lat, values)] of `columns`, or `cells`
    [(lon, lat, count)] (the mean position of each cell's points) of width `cell` degrees.
    `bounds` (west, south, east, north) covers every point of the table."""

    total: int
    columns: tuple[str, ...]
    points: list[tuple]
    cells: list[tuple]
    cell: float | None
    bounds: tuple[float, float, float, float] | None
    located: int = 0  # rows of the whole table with usable coordinates
    rows: int = 0  # rows of the whole table


def points(table: StoredTable, lon: str, lat: str, *, bbox: tuple[float, float, float, float] | None,
           limit: int) -> PointSet:
    """The points inside `bbox` (west, south, east, north; None is everywhere), binned beyond `limit`.

    Raises:
        QueryError: `unknown-column`, `not-numeric`.
    """
    x, y = (_coordinate(table, name) for name in (lon, lat))
    scan, path = _SCAN, str(table.path)
    valid = sql.MAP_IN_WORLD.format(x=x, y=y)
    extent = fetch_rows(sql.SELECT_FROM.format(exprs=f"min({x}), min({y}), max({x}), max({y}), count(*)", scan=scan,
                                               where=sql.where([valid])), [path])[0]
    bounds = None if extent[0] is None else tuple(float(v) for v in extent[:4])
    counts = {"located": int(extent[4]),
              "rows": int(fetch_rows(sql.SELECT_FROM.format(exprs="count(*)", scan=scan, where=""), [path])[0][0])}
    conditions, params = [valid], []
    if bbox is not None:
        conditions.append(sql.MAP_IN_BOX.format(x=x, y=y))
        params = [bbox[0], bbox[2], bbox[1], bbox[3]]
    where = sql.where(conditions)
    total = int(fetch_rows(sql.SELECT_FROM.format(exprs="count(*)", scan=scan, where=where), [path, *params])[0][0])
    others = [c.name for c in table.columns if c.name not in (lon, lat)][:MAX_PROPERTIES]
    if total <= limit:
        exprs = ", ".join([x, y, *(sql.quote_identifier(n) for n in others)])
        found = fetch_rows(sql.SELECT_FROM.format(exprs=exprs, scan=scan, where=where), [path, *params])
        return PointSet(total, tuple(others), [(r[0], r[1], r[2:]) for r in found], [], None, bounds, **counts)
    west, south, east, north = bbox or bounds
    cell = nice_step(0.0, max(east - west, north - south, 1e-6), GRID_CELLS)
    found = fetch_rows(sql.MAP_CELLS.format(x=x, y=y, scan=scan, where=where), [path, *params, cell, cell])
    return PointSet(total, (), [], [(r[0], r[1], int(r[2])) for r in found], cell, bounds, **counts)


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    """`west,south,east,north` in degrees, clamped to the world.

    Raises:
        QueryError: `invalid-value` when it is not four finite numbers with west < east, south < north.
    """
    try:
        values = [float(part) for part in raw.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise QueryError("invalid-value", "bbox must be west,south,east,north in degrees", field="bbox")
    west, south, east, north = max(values[0], -180), max(values[1], -90), min(values[2], 180), min(values[3], 90)
    if west >= east or south >= north:
        raise QueryError("invalid-value", "bbox must have west < east and south < north", field="bbox")
    return west, south, east, north


_SCAN = sql.SCAN.format(path="?")


def _coordinate(table: StoredTable, name: str) -> str:
    column = require_column(table, name)
    if column.type not in NUMERIC:
        raise QueryError("not-numeric", f"coordinate column {name!r} is not numeric", field=name)
    return sql.AS_DOUBLE.format(column=sql.quote_identifier(column.name))

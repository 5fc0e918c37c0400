"""Map service: the points of a dataset with declared coordinates (`kaifang.coordinates`), for the
dataset page's map. Rows are read only where the actor may read rows (`rows.stored_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from portal import store
from portal.auth import Actor
from portal.catalog.rows import stored_table
from portal.catalog.schemas import FieldInfo
from portal.catalog.service import get_dataset
from portal.errors import BadRequest, NotFound


@dataclass(frozen=True)
class MapPoints:
    """The points (or grid cells) in the area asked for, and the dictionary entries of the
    columns each point carries (for its popup)."""

    points: store.points.PointSet
    fields: tuple[FieldInfo, ...]
    limit: int


def map_points(session: Session, actor: Actor, slug: str, *, bbox: str | None, data_dir: Path,
               limit: int) -> MapPoints:
    """Points of the dataset inside `bbox` ("west,south,east,north"; None is everywhere): each
    with its row while there are at most `limit`, else counts per grid cell.

    Raises:
        NotFound: no such visible dataset, or it declares no coordinates (code `map-not-found`).
        Forbidden: rows not open to the actor.
        BadRequest: a malformed bbox (`invalid-value`).
    """
    detail = get_dataset(session, actor, slug)
    coordinates = detail.coordinates or {}
    if not (coordinates.get("longitude") and coordinates.get("latitude")):
        raise NotFound("map", slug)
    _, table = stored_table(session, actor, slug, data_dir=data_dir)
    try:
        area = store.points.parse_bbox(bbox) if bbox else None
        found = store.points.points(table, coordinates["longitude"], coordinates["latitude"], bbox=area, limit=limit)
    except store.QueryError as exc:
        raise BadRequest(exc.message, code=exc.code) from exc
    described = {f.name: f for f in detail.fields}
    fields = tuple(described.get(name) or FieldInfo(name, "text", "", "", None, False, False) for name in found.columns)
    return MapPoints(points=found, fields=fields, limit=limit)

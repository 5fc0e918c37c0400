"""Template helpers: bilingual fields, numbers, sizes, and the query-string builder of links."""

from __future__ import annotations

from typing import Any

from flask import Flask, request, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import lazy_gettext as _l

from portal.auth import current_actor


def is_zh() -> bool:
    return str(get_locale() or "zh_CN").startswith("zh")


def localized(obj: Any, name: str) -> str:
    """`obj.name_zh` or `obj.name_en` by the page's language, falling back to the other."""
    zh, en = getattr(obj, f"{name}_zh", ""), getattr(obj, f"{name}_en", "")
    return (zh or en) if is_zh() else (en or zh)


def filesize(num: int | None) -> str:
    if num is None:
        return "–"
    size = float(num)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def number(value: int | float | None) -> str:
    return "–" if value is None else format_decimal(value)


def url_with(**changes: Any) -> str:
    """The current URL with some query parameters replaced (None removes one)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


OPEN_CLASS_LABELS = {"open": _l("Open"), "conditional": _l("Conditional"), "closed": _l("Closed")}
FACET_LABELS = {"theme": _l("Theme"), "department": _l("Publisher"), "open_class": _l("Openness"),
                "format": _l("Format"), "tag": _l("Tag"), "update_frequency": _l("Update frequency")}
FREQUENCY_LABELS = {
    "static": _l("Not updated (static)"), "annual": _l("Annually"), "quarterly": _l("Quarterly"),
    "monthly": _l("Monthly"), "weekly": _l("Weekly"), "daily": _l("Daily"), "realtime": _l("Real time"),
    "irregular": _l("Irregularly"),
}
TYPE_LABELS = {
    "integer": _l("Integer"), "float": _l("Number"), "decimal": _l("Decimal"), "boolean": _l("Yes/no"),
    "date": _l("Date"), "timestamp": _l("Date and time"), "text": _l("Text"), "geometry": _l("Geometry"),
}


def label(table: dict, key: str) -> str:
    return str(table.get(key, key))


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(filesize=filesize, number=number, cell=cell)
    app.context_processor(lambda: {"actor": current_actor()})
    app.jinja_env.globals.update(
        localized=localized, is_zh=is_zh, url_with=url_with,
        open_class_label=lambda key: label(OPEN_CLASS_LABELS, key),
        facet_label=lambda key: label(FACET_LABELS, key),
        frequency_label=lambda key: label(FREQUENCY_LABELS, key),
        type_label=lambda key: label(TYPE_LABELS, key),
    )

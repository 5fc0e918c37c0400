"""Template helpers: bilingual fields, numbers, sizes, and the query-string builder of links."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from portal.auth import current_actor
from portal.catalog import previewforms


def is_zh() -> bool:
    return str(get_locale() or "zh_CN").startswith("zh")


def localized(obj: Any, name: str) -> str:
    """`obj.name_zh` or `obj.name_en` by the page's language, falling back to the other."""
    zh, en = getattr(obj, f"{name}_zh", ""), getattr(obj, f"{name}_en", "")
    return (zh or en) if is_zh() else (en or zh)


CODE_SPAN = re.compile(r"`([^`]+)`")


def code_spans(text: str) -> Markup:
    """Text with Markdown-style `code` spans (as the API's summaries and parameter descriptions
    write them, for the OpenAPI document) shown as <code>, everything else escaped."""
    parts = CODE_SPAN.split(str(text))
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))


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
    """A value as the downloads write it: `true`/`false` as in CSV and JSON, not Python's `True`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
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


# ---- the preview's operators, units, licences and contacts in the page's language (issue 13) ----

OPERATOR_LABELS = {
    "eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "between": _l("between"),
    "contains": _l("contains"), "startswith": _l("starts with"), "in": _l("is one of"),
    "empty": _l("is empty"), "notempty": _l("is not empty"),
}
TEXT_EQUALS = _l("equals")
TEXT_NOT_EQUALS = _l("is not")

UNIT_LABELS = {
    "%": "%", "degree": _l("degree"), "person": _l("persons"), "billion USD": _l("billion USD"),
    "year": _l("years"), "min": _l("minutes"), "USD": _l("USD"), "mph": _l("miles per hour"),
    "mile": _l("miles"), "goal": _l("goals"), "CNY": _l("yuan (CNY)"), "thousand persons": _l("thousand persons"),
    "ppmv": _l("ppmv (parts per million by volume)"), "month": _l("months"), "mm": _l("mm"),
    "million": _l("million"), "millibar": _l("millibar"), "knot": _l("knots"), "km": _l("km"),
    "inch": _l("inches"), "hour": _l("hours"), "ft": _l("feet"), "day": _l("days"),
    "bushel/acre": _l("bushels per acre"), "births per woman": _l("births per woman"),
    "article": _l("articles"), "USD (inflation-adjusted)": _l("USD (inflation-adjusted)"),
    "DM": _l("Deutsche Mark (DM)"), "per 100,000": _l("per 100,000 people"),
}

LICENCE_LABELS = {
    "CC0-1.0": _l("Creative Commons Zero 1.0 (public domain dedication)"),
    "CC-BY-4.0": _l("Creative Commons Attribution 4.0"),
    "MIT": _l("MIT License"), "BSD-3-Clause": _l("BSD 3-Clause License"), "Apache-2.0": _l("Apache License 2.0"),
    "other-pd": _l("Public domain (U.S. Government work)"),
}


def operator_label(op: str, value: Any = None, column_type: str = "") -> str:
    """An operator as the preview shows it; `is_null` by its value (empty / not empty)."""
    if op == "is_null":
        op = "empty" if value not in (False, "0", "false", "no") else "notempty"
    if column_type == "text" and op in ("eq", "ne"):
        return str(TEXT_EQUALS if op == "eq" else TEXT_NOT_EQUALS)
    return str(OPERATOR_LABELS.get(op, op))


def unit_label(unit: str | None) -> str:
    """A data dictionary unit in the page's language (units are written in English in descriptors)."""
    return "" if not unit else str(UNIT_LABELS.get(unit, unit))


def licence_label(licence: dict[str, str]) -> tuple[str, str]:
    """(the licence's name in the page's language, the rest of its title: an attribution, as written)."""
    title = licence.get("title") or licence.get("name") or ""
    name, _sep, attribution = title.partition(" — ")
    known = LICENCE_LABELS.get(licence.get("name", ""))
    return (str(known) if known else name), attribution


def label(table: dict, key: str) -> str:
    return str(table.get(key, key))


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(code_spans=code_spans, filesize=filesize, number=number, cell=cell)
    app.context_processor(lambda: {"actor": current_actor()})
    app.jinja_env.globals.update(
        localized=localized, is_zh=is_zh, url_with=url_with,
        open_class_label=lambda key: label(OPEN_CLASS_LABELS, key),
        facet_label=lambda key: label(FACET_LABELS, key),
        frequency_label=lambda key: label(FREQUENCY_LABELS, key),
        type_label=lambda key: label(TYPE_LABELS, key),
        operator_label=operator_label, unit_label=unit_label, licence_label=licence_label,
        preview_operators=previewforms.operators_for, preview_form_state=previewforms.form_state,
    )

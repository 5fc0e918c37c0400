"""The Whoosh schema of the catalog index and the weights of its fields.

Full-text fields share one analyzer (`analysis.text_analyzer`); their weights make a title
match count above a tag, a tag above the description, the description above the data
dictionary (BM25F ranks with these boosts). Facet and filter fields are single tokens, stored in
columns where single-valued so sorting and faceting do not read stored documents. The numbers
are sorted by, never searched by range, so each is one term (`shift_step=0`), not sixteen.
"""

from __future__ import annotations

from whoosh.analysis import LowercaseFilter, SpaceSeparatedTokenizer
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from portal.search.analysis import text_analyzer
from portal.search.formats import IndexPositions

# Full-text fields a query searches, with their BM25F weights.
FIELD_BOOSTS = {"title": 8.0, "pinyin": 5.0, "tags": 4.0, "description": 2.0, "meta": 1.5, "columns": 1.0}

# Names users may put before a colon (`theme:weather`), mapped to index fields.
USER_FIELDS = {
    "title": "title", "tag": "tag", "tags": "tags", "description": "description", "desc": "description",
    "theme": "theme", "department": "department", "dept": "department", "class": "open_class",
    "open_class": "open_class", "format": "format", "frequency": "update_frequency",
    "update_frequency": "update_frequency", "field": "columns", "fields": "columns",
}

FACETS = ("theme", "department", "open_class", "format", "tag", "update_frequency")


def build_schema() -> Schema:
    schema = _fields()
    for name in FIELD_BOOSTS:
        field = schema[name]
        if field.analyzer.__class__ is text_analyzer().__class__:
            field.format = IndexPositions(field_boost=field.format.field_boost)
    return schema


def _fields() -> Schema:
    text = text_analyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        slug=ID(stored=True),
        title=TEXT(analyzer=text, stored=True, field_boost=FIELD_BOOSTS["title"]),
        pinyin=TEXT(analyzer=SpaceSeparatedTokenizer() | LowercaseFilter(), field_boost=FIELD_BOOSTS["pinyin"]),
        tags=TEXT(analyzer=text, field_boost=FIELD_BOOSTS["tags"]),
        description=TEXT(analyzer=text, field_boost=FIELD_BOOSTS["description"]),
        meta=TEXT(analyzer=text, field_boost=FIELD_BOOSTS["meta"]),
        columns=TEXT(analyzer=text, field_boost=FIELD_BOOSTS["columns"]),
        description_zh=STORED(),
        description_en=STORED(),
        theme=ID(stored=True, sortable=True),
        department=ID(stored=True, sortable=True),
        open_class=ID(stored=True, sortable=True),
        format=ID(stored=True, sortable=True),
        update_frequency=ID(stored=True, sortable=True),
        tag=KEYWORD(stored=True, commas=True),
        published=ID(stored=True),
        department_id=ID(stored=True),
        updated=NUMERIC(bits=64, sortable=True, stored=True, shift_step=0),
        views=NUMERIC(bits=64, sortable=True, stored=True, shift_step=0),
        downloads=NUMERIC(bits=64, sortable=True, stored=True, shift_step=0),
        records=NUMERIC(bits=64, sortable=True, stored=True, shift_step=0),
        title_sort=ID(sortable=True),
        titles=STORED(),  # (title_zh, title_en, [tags]) for autocomplete
    )

"""Input parsing and output shapes of search, shared by the pages, the JSON API and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from markupsafe import Markup

from portal.catalog.schemas import DatasetSummary, Facet, parse_positive_int
from portal.errors import BadRequest

SORTS = ("relevance", "updated", "views", "downloads", "records", "title")
FILTERS = ("theme", "department", "open_class", "format", "tag", "update_frequency")
MAX_RAW_QUERY = 5000  # longer input is refused; up to this it is cleaned and cut (see query.clean)


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    theme: str | None = None
    department: str | None = None
    open_class: str | None = None
    format: str | None = None
    tag: str | None = None
    update_frequency: str | None = None
    sort: str = ""
    page: int = 1
    per_page: int = 20
    tag_lang: str | None = None  # list only the tags of this language ('zh', 'en') in the tag facet

    @classmethod
    def parse(cls, args: Mapping[str, str], *, per_page: int) -> SearchParams:
        """Raises: BadRequest for an unknown sort or a bad page number."""
        q = args.get("q") or ""
        if len(q) > MAX_RAW_QUERY:
            q = q[:MAX_RAW_QUERY]
        sort = args.get("sort") or ""
        if sort and sort not in SORTS:
            raise BadRequest(f"unknown sort {sort[:40]!r}; one of {', '.join(SORTS)}", code="bad-parameter")
        filters = {k: (args.get(k) or "").strip()[:100] or None for k in FILTERS}
        return cls(q=q, **filters, sort=sort, page=parse_positive_int(args, "page", 1), per_page=per_page)

    @property
    def effective_sort(self) -> str:
        return self.sort or ("relevance" if self.q.strip() else "updated")

    @property
    def filters(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in FILTERS if getattr(self, k)}


@dataclass(frozen=True)
class SearchHit:
    summary: DatasetSummary
    score: float | None
    snippet_zh: Markup
    snippet_en: Markup


@dataclass(frozen=True)
class SearchPage:
    items: tuple[SearchHit, ...]
    total: int
    page: int
    pages: int
    facets: tuple[Facet, ...] = ()
    suggestion: str | None = None       # 'did you mean'
    corrected_from: str | None = None   # the results are for `suggestion`, since q found nothing
    any_word: bool = False              # no dataset had every word; these have some
    notices: tuple[str, ...] = field(default_factory=tuple)  # index-rebuilding, query-shortened


@dataclass(frozen=True)
class Suggestion:
    label: str
    kind: str
    slug: str | None
    url_query: str


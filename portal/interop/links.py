"""Absolute URLs of the portal's pages and files for the shaping code, plus stable identifiers.

A view builds `Links` around `url_for(..., _external=True)`, so the shapes follow the routes and
the host a client reached, without importing Flask. Identifiers (CKAN `id`s, DCAT node ids) are
UUID 5 of the slug: stable across restarts and databases, and the same on every worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

NAMESPACE = uuid.UUID("5d1f2b0e-7c1a-5b8e-9a37-6b6f6169666e")  # Kaifang's own namespace


def stable_id(kind: str, key: str) -> str:
    """A UUID that always names the same dataset, resource, theme or department."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


@dataclass(frozen=True)
class Catalog:
    """How the catalog names itself (settings `CATALOG_*`)."""

    title: str
    publisher: str
    contact_email: str


@dataclass(frozen=True)
class Links:
    url: Callable[..., str]  # url_for with _external=True

    def home(self) -> str:
        return self.url("site.home")

    def dataset(self, slug: str) -> str:
        return self.url("catalog.dataset_page", slug=slug)

    def download(self, slug: str, fmt: str) -> str:
        return self.url("catalog.download", slug=slug, fmt=fmt)

    def sample(self, slug: str) -> str:
        return self.url("catalog.sample", slug=slug)

    def datapackage(self, slug: str) -> str:
        return self.url("interop.datapackage_json", slug=slug)

    def theme(self, code: str) -> str:
        return self.url("catalog.theme_page", code=code)

    def department(self, slug: str) -> str:
        return self.url("catalog.department_page", slug=slug)

    def licence(self) -> str:
        return self.url("site.licence")

    def catalog(self, name: str) -> str:
        """`dcat` or `data_json`: the feeds themselves."""
        return self.url({"dcat": "interop.dcat_catalog", "data_json": "interop.data_json"}[name])

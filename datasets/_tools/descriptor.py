"""The dataset specification model and its rendering as a Frictionless Data Package descriptor.

Both generators (`build_real.py`, `synthesize.py`) describe each dataset once as a `Spec` and let
`render()` turn it into `datapackage.json`, so every descriptor has the same shape and the `kaifang`
extension is complete by construction. This module only builds dictionaries: it reads no package
and writes no file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# The bundled datasets are sample data of the demo instance: the contact is the instance, the
# department is the real publisher of the data (never a city bureau that did not publish it).
CONTACT = {"name": "Kaifang demo instance", "email": "opendata@example.gov.cn"}

# The publishers reused across the bundled catalog: slug -> (name_zh, name_en).
DEPARTMENTS: dict[str, tuple[str, str]] = {
    "transport-commission": ("市交通运输委员会", "Municipal Transport Commission"),
    "ecology-environment-bureau": ("市生态环境局", "Municipal Bureau of Ecology and Environment"),
    "health-commission": ("市卫生健康委员会", "Municipal Health Commission"),
    "meteorological-bureau": ("市气象局", "Municipal Meteorological Bureau"),
    "planning-resources-bureau": ("市规划和自然资源局", "Municipal Bureau of Planning and Natural Resources"),
    "statistics-bureau": ("市统计局", "Municipal Bureau of Statistics"),
    "public-security-bureau": ("市公安局", "Municipal Public Security Bureau"),
    "emergency-management-bureau": ("市应急管理局", "Municipal Emergency Management Bureau"),
    "agriculture-rural-commission": ("市农业农村委员会", "Municipal Agriculture and Rural Affairs Commission"),
    "market-regulation-commission": ("市市场监督管理委员会", "Municipal Market Regulation Commission"),
    "civil-affairs-bureau": ("市民政局", "Municipal Civil Affairs Bureau"),
    "justice-bureau": ("市司法局", "Municipal Justice Bureau"),
    "human-resources-bureau": ("市人力资源和社会保障局", "Municipal Human Resources and Social Security Bureau"),
    "financial-regulation-bureau": ("市地方金融管理局", "Municipal Local Financial Regulation Bureau"),
    "culture-tourism-bureau": ("市文化和旅游局", "Municipal Culture and Tourism Bureau"),
    # The real publishers of the bundled public datasets.
    "parliament-of-canada": ("加拿大议会", "Parliament of Canada"),
    "california-energy-commission": ("美国加利福尼亚州能源委员会", "California Energy Commission"),
    "mca-china": ("中华人民共和国民政部", "Ministry of Civil Affairs of the PRC"),
    "miit-china": ("中华人民共和国工业和信息化部", "Ministry of Industry and Information Technology of the PRC"),
    "npc-standing-committee": ("全国人民代表大会常务委员会", "Standing Committee of the National People's Congress"),
    "state-post-bureau": ("国家邮政局", "State Post Bureau of the PRC"),
    "state-council-office": ("国务院办公厅", "General Office of the State Council of the PRC"),
    "int-j-epidemiology": ("《国际流行病学杂志》（Liu Z., 1992）", "International Journal of Epidemiology (Liu Z., 1992)"),
    "nbs-china": ("国家统计局", "National Bureau of Statistics of China"),
    "openfootball": ("OpenFootball 开放足球数据项目", "OpenFootball project"),
    "us-faa": ("美国联邦航空管理局", "US Federal Aviation Administration"),
    "gapminder": ("Gapminder 基金会", "Gapminder Foundation"),
    "uci-ml-repository": ("加州大学欧文分校机器学习数据库", "UCI Machine Learning Repository"),
    "nasa-giss": ("美国国家航空航天局戈达德空间研究所", "NASA Goddard Institute for Space Studies"),
    "noaa": ("美国国家海洋和大气管理局", "US National Oceanic and Atmospheric Administration"),
    "minnesota-aes": ("美国明尼苏达农业试验站", "Minnesota Agricultural Experiment Station"),
    "us-bts": ("美国交通统计局", "US Bureau of Transportation Statistics"),
    "shanghai-stock-exchange": ("上海证券交易所", "Shanghai Stock Exchange"),
    "st-louis-fed": ("美国圣路易斯联邦储备银行", "Federal Reserve Bank of St. Louis"),
    "us-census-bureau": ("美国人口普查局", "US Census Bureau"),
    "us-bls": ("美国劳工统计局", "US Bureau of Labor Statistics"),
    "usgs": ("美国地质调查局", "US Geological Survey"),
    "world-bank": ("世界银行", "World Bank"),
}

LICENSES: dict[str, dict[str, str]] = {
    "CC0-1.0": {"name": "CC0-1.0", "title": "Creative Commons Zero v1.0",
                "path": "https://creativecommons.org/publicdomain/zero/1.0/"},
    "CC-BY-4.0": {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
                  "path": "https://creativecommons.org/licenses/by/4.0/"},
    "MIT": {"name": "MIT", "title": "MIT License", "path": "https://opensource.org/license/mit"},
    "BSD-3-Clause": {"name": "BSD-3-Clause", "title": "BSD 3-Clause License",
                     "path": "https://opensource.org/license/bsd-3-clause"},
    "Apache-2.0": {"name": "Apache-2.0", "title": "Apache License 2.0",
                   "path": "https://www.apache.org/licenses/LICENSE-2.0"},
    "US-PD": {"name": "other-pd", "title": "U.S. Government work (public domain)",
              "path": "https://www.usa.gov/government-works"},
}

# (format key) -> resource properties. "profile" makes Frictionless read JSON arrays as tables;
# GeoJSON has no tabular reader there, so it is declared as a plain data resource.
FORMATS: dict[str, dict[str, str]] = {
    "csv": {"format": "csv", "mediatype": "text/csv"},
    "csv.gz": {"format": "csv", "mediatype": "text/csv", "compression": "gz"},
    "json": {"profile": "tabular-data-resource", "format": "json", "mediatype": "application/json"},
    "geojson": {"format": "geojson", "mediatype": "application/geo+json"},
}

Rows = Iterable[dict]


@dataclass(frozen=True)
class Field:
    """One column: English and Chinese description, unit and disclosure flags."""

    name: str
    type: str
    en: str
    zh: str
    unit: str | None = None
    identifier: bool = False
    sensitive: bool = False
    constraints: dict | None = None  # Table Schema constraints: public bounds (minimum/maximum), levels (enum)


@dataclass(frozen=True)
class Spec:
    """Everything needed to write one dataset folder: metadata plus how to produce its rows."""

    slug: str
    title: str
    title_zh: str
    description: str
    description_zh: str
    keywords: tuple[str, ...]
    tags_zh: tuple[str, ...]
    theme: str
    department: str
    licenses: tuple[dict, ...]
    sources: tuple[dict, ...]
    temporal: tuple[str, str] | None
    spatial: tuple[str, str]
    fields: tuple[Field, ...]
    resource: str
    fmt: str = "csv"
    encoding: str = "utf-8"
    update_frequency: str = "static"
    open_class: str = "open"
    closed_reason: str | None = None
    synthetic: bool = False
    coordinates: tuple[str, str] | None = None
    package: tuple[str, str, str] | None = None  # (registry, name, version)
    disclosure: dict | None = None  # `kaifang.disclosure`: settings of disclosure control (docs/disclosure.md)
    rows: Callable[..., Rows] | None = field(default=None, compare=False, repr=False)

    @property
    def filename(self) -> str:
        return f"{self.resource}.{self.fmt}"


def license_with_notice(key: str, notice: str) -> dict:
    """A licence entry whose title keeps the source's own notice next to the licence name."""
    entry = dict(LICENSES[key])
    entry["title"] = f"{entry['title']} — {notice}"
    return entry


def render(spec: Spec) -> dict:
    """The full `datapackage.json` dictionary for `spec` (Data Package v1 + `kaifang`)."""
    return {
        "name": spec.slug,
        "title": spec.title,
        "description": spec.description,
        "version": "1.0.0",
        "keywords": list(spec.keywords),
        "licenses": list(spec.licenses),
        "sources": list(spec.sources),
        "resources": [_resource(spec)],
        "kaifang": _kaifang(spec),
    }


def _resource(spec: Spec) -> dict:
    fields = [{"name": f.name, "type": f.type, "description": f.en,
               **({"constraints": f.constraints} if f.constraints else {})} for f in spec.fields]
    resource = {"name": spec.resource, "path": spec.filename}
    resource.update(FORMATS[spec.fmt])
    resource["encoding"] = spec.encoding
    resource["schema"] = {"fields": fields}
    return resource


def _kaifang(spec: Spec) -> dict:
    name_zh, name_en = DEPARTMENTS[spec.department]
    start, end = spec.temporal if spec.temporal else (None, None)
    coordinates = None
    if spec.coordinates:
        coordinates = {"longitude": spec.coordinates[0], "latitude": spec.coordinates[1]}
    return {
        "title_zh": spec.title_zh,
        "description_zh": spec.description_zh,
        "tags_zh": list(spec.tags_zh),
        "theme": spec.theme,
        "department": {"slug": spec.department, "name_zh": name_zh, "name_en": name_en},
        "demo_sample": True,
        "open_class": spec.open_class,
        "closed_reason": spec.closed_reason,
        "update_frequency": spec.update_frequency,
        "temporal_coverage": {"start": start, "end": end} if spec.temporal else None,
        "spatial_coverage": {"en": spec.spatial[0], "zh": spec.spatial[1]},
        "contact": dict(CONTACT),
        "synthetic": spec.synthetic,
        "coordinates": coordinates,
        "fields": {f.name: {"description_zh": f.zh, "unit": f.unit, "identifier": f.identifier,
                            "sensitive": f.sensitive} for f in spec.fields},
        **({"disclosure": spec.disclosure} if spec.disclosure else {}),
    }

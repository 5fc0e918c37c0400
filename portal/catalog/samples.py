"""The synthetic sample (样本数据) of a conditional dataset, served as a small Data Package that
`kaifang offline-run` reads (`portal/catalog/packages.py`). It is written when the version is
published, by the writer `portal.analysis.samples` hands to `catalog.publishing`.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from sqlalchemy.orm import Session, selectinload

from portal.auth import Actor
from portal.catalog.models import Dataset, Version
from portal.catalog.queries import visible_datasets
from portal.catalog.schemas import Download
from portal.errors import NotFound


def open_sample(session: Session, actor: Actor, slug: str, *, data_dir: Path) -> Download:
    """The synthetic sample (样本数据) of a conditional dataset's current version, as a small Data
    Package: the invented rows and a descriptor with the data dictionary and its flags, so that
    `kaifang offline-run` applies the portal's rules to it. Public: it holds no real record
    (see portal/analysis/samples.py).

    Raises:
        NotFound: no such visible dataset, or it has no sample (only conditional data has one).
    """
    dataset = session.scalar(visible_datasets(actor).where(Dataset.slug == slug).options(
        selectinload(Dataset.current_version), selectinload(Dataset.fields)))
    version = dataset.current_version if dataset else None
    if version is None or not version.sample_path:
        raise NotFound("sample of dataset", slug)
    rows_name = f"{slug}-sample.csv"
    descriptor = json.dumps(_sample_descriptor(dataset, version, rows_name), ensure_ascii=False, indent=2)
    package = _package({rows_name: (data_dir / version.sample_path).read_bytes(),
                        "datapackage.json": descriptor.encode("utf-8")})
    return Download(filename=f"{slug}-v{version.number}-sample.zip", mimetype="application/zip",
                    chunks=iter([package]))


# The zip epoch: a member's date was the rows file's modification time, the moment the sample
# was written after reading the records (decision 0029i), and the descriptor's the request's.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _package(members: dict[str, bytes]) -> bytes:
    """The zip of `members`, a function of their names and bytes only (fixed dates and modes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


FRICTIONLESS = {"integer": "integer", "float": "number", "decimal": "number", "boolean": "boolean",
                "date": "date", "timestamp": "datetime", "text": "string"}


def _sample_descriptor(dataset: Dataset, version: Version, rows_name: str) -> dict:
    fields = {f.name: f for f in dataset.fields}
    return {
        "name": dataset.slug,
        "title": f"{dataset.title_en} (synthetic sample of version {version.number})",
        "description": "Invented rows drawn from released distributions; no real record. "
                       "Run analysis code on it with `kaifang offline-run FILE --data this.zip`.",
        "licenses": [{"name": dataset.licence_name or "CC0-1.0", "title": dataset.licence_title}],
        "resources": [{"name": "sample", "path": rows_name, "format": "csv", "encoding": "utf-8",
                       "schema": {"fields": [_sample_field(c, fields.get(c["name"])) for c in version.columns]}}],
        "kaifang": {
            "title_zh": f"{dataset.title_zh}（样本数据，合成）", "open_class": dataset.open_class,
            "synthetic": True, "disclosure": dataset.disclosure, "sample": sample_kind(version.sample_epsilon),
            "fields": {name: {"description_zh": f.description_zh, "unit": f.unit, "identifier": f.identifier,
                              "sensitive": f.sensitive} for name, f in fields.items()},
        },
    }


def sample_kind(epsilon: float | None) -> dict:
    """How the sample was drawn (decision 0031a): `sdc`, from released counts calibrated for one
    record; `dp`, from differentially private counts for one person, at `epsilon`, spent once
    for the version; `dictionary`, from the data dictionary alone (ε 0: the sample's ε was spent)."""
    if epsilon is None:
        return {"mode": "sdc"}
    return {"mode": "dp" if epsilon > 0 else "dictionary", "epsilon": epsilon}


def _sample_field(column: dict, described) -> dict:
    """A sample's schema field, with the declared bounds and levels: offline runs apply the same
    interval arithmetic and group limits as the portal."""
    out = {"name": column["name"], "type": FRICTIONLESS.get(column["type"], "string")}
    constraints = {}
    if described is not None and described.minimum is not None and described.maximum is not None:
        constraints = {"minimum": described.minimum, "maximum": described.maximum}
    if described is not None and described.levels:
        constraints["enum"] = list(described.levels)
    if described is not None and described.required:
        constraints["required"] = True
    if constraints:
        out["constraints"] = constraints
    return out

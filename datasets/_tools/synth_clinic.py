"""Synthetic clinic visits: people who do not exist, with realistic structure for disclosure tests.

Patients get a district, sex, age band and insurance scheme; older patients visit more often.
Each visit draws a diagnosis group from age- and sex-specific weights, a department from the
diagnosis, an outpatient/emergency/inpatient type, and a right-skewed cost whose level depends on
diagnosis, age and visit type, with a rare Pareto tail so that a few visits dominate some cells
(what dominance rules are for). Only `random.Random` methods that draw through `random()` are used
so the output does not change with the Python or numpy version.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator

from tianjin import DISTRICTS, WEIGHTS

AGE_BANDS = ("0-14", "15-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+")
AGE_SHARE = (13, 9, 15, 15, 15, 14, 11, 8)  # patients
VISIT_RATE = (1.0, 0.5, 0.6, 0.7, 0.9, 1.3, 1.8, 2.2)  # visits per patient, relative
AGE_COST = (0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6)

# diagnosis group -> (department, base outpatient cost in yuan, inpatient probability,
#                     weight by age band)
DIAGNOSES = {
    "呼吸系统疾病": ("呼吸内科", 260, 0.03, (30, 18, 14, 12, 10, 10, 11, 12)),
    "循环系统疾病": ("心血管内科", 420, 0.12, (1, 1, 2, 5, 11, 17, 21, 24)),
    "消化系统疾病": ("消化内科", 380, 0.05, (8, 10, 11, 11, 11, 10, 9, 8)),
    "内分泌、营养和代谢疾病": ("内分泌科", 350, 0.03, (2, 2, 4, 7, 11, 13, 13, 11)),
    "肌肉骨骼系统和结缔组织疾病": ("骨科", 330, 0.04, (2, 5, 8, 10, 12, 12, 10, 8)),
    "损伤、中毒和外因的某些其他后果": ("急诊科", 520, 0.10, (12, 14, 10, 8, 6, 5, 5, 6)),
    "肿瘤": ("肿瘤科", 1800, 0.25, (0.5, 0.5, 1, 2, 4, 6, 7, 7)),
    "泌尿生殖系统疾病": ("泌尿外科", 360, 0.05, (3, 6, 8, 8, 7, 7, 7, 7)),
    "精神和行为障碍": ("精神心理科", 300, 0.04, (2, 7, 7, 5, 4, 3, 2, 3)),
    "神经系统疾病": ("神经内科", 450, 0.06, (3, 3, 4, 4, 5, 6, 7, 9)),
    "皮肤和皮下组织疾病": ("皮肤科", 180, 0.01, (8, 10, 8, 6, 4, 3, 3, 2)),
    "眼和附器疾病": ("眼科", 240, 0.04, (6, 6, 5, 4, 4, 5, 7, 8)),
    "某些传染病和寄生虫病": ("感染科", 300, 0.06, (10, 5, 4, 3, 2, 2, 2, 2)),
    "妊娠、分娩和产褥期": ("妇产科", 600, 0.30, (0, 4, 16, 6, 0, 0, 0, 0)),
}
INSURANCE = ("城镇职工基本医疗保险", "城乡居民基本医疗保险", "商业医疗保险", "自费")
VISIT_TYPES = ("门诊", "急诊", "住院")
TYPE_COST = {"门诊": 1.0, "急诊": 2.2, "住院": 14.0}
WINTER = (1.6, 1.4, 1.1, 0.9, 0.7, 0.6, 0.6, 0.6, 0.8, 1.0, 1.3, 1.6)  # respiratory by month
YEAR = 2023


def _insurance(rng: random.Random, band: int, kind: str) -> str:
    if band == 0:
        weights = (0, 88, 7, 5)
    elif band >= 6:
        weights = (55, 40, 2, 3)
    else:
        weights = (70, 20, 6, 4) if kind != "outer" else (45, 45, 4, 6)
    return rng.choices(INSURANCE, weights)[0]


def _patients(rng: random.Random, count: int) -> list[dict]:
    ids = rng.sample(range(1_000_000, 9_999_999), count)
    patients = []
    for number in ids:
        district = rng.choices(DISTRICTS, WEIGHTS)[0]
        band = rng.choices(range(len(AGE_BANDS)), AGE_SHARE)[0]
        patients.append({"patient_id": f"P{number}", "district": district.name, "band": band,
                         "sex": "女" if rng.random() < 0.52 else "男",
                         "insurance_type": _insurance(rng, band, district.kind)})
    return patients


def _diagnosis(rng: random.Random, band: int, sex: str) -> str:
    names = list(DIAGNOSES)
    weights = [DIAGNOSES[n][3][band] for n in names]
    if sex == "男":
        weights[names.index("妊娠、分娩和产褥期")] = 0
    return rng.choices(names, weights)[0]


def _visit_date(rng: random.Random, diagnosis: str) -> dt.date:
    months = WINTER if diagnosis == "呼吸系统疾病" else (1.0,) * 12
    month = rng.choices(range(1, 13), months)[0]
    first = dt.date(YEAR, month, 1)
    days = ((first.replace(month=month + 1) if month < 12 else dt.date(YEAR + 1, 1, 1)) - first).days
    return first + dt.timedelta(days=int(rng.random() * days))


def _cost(rng: random.Random, diagnosis: str, band: int, visit_type: str) -> float:
    base = DIAGNOSES[diagnosis][1] * AGE_COST[band] * TYPE_COST[visit_type]
    cost = base * rng.lognormvariate(0.0, 0.6)
    if rng.random() < 0.0008:  # rare catastrophic cases: the dominance-rule tail
        cost *= 15 * rng.paretovariate(1.1)
    return round(max(cost, 15.0), 2)


def _visit(rng: random.Random, patient: dict) -> dict:
    band, sex = patient["band"], patient["sex"]
    diagnosis = _diagnosis(rng, band, sex)
    department, _base, p_inpatient, _w = DIAGNOSES[diagnosis]
    if band == 0 and diagnosis not in ("损伤、中毒和外因的某些其他后果", "眼和附器疾病"):
        department = "儿科"
    p_inpatient *= 1.0 + 0.15 * max(band - 4, 0)
    p_emergency = 0.35 if department == "急诊科" else 0.06
    draw = rng.random()
    visit_type = "住院" if draw < p_inpatient else "急诊" if draw < p_inpatient + p_emergency else "门诊"
    return {"patient_id": patient["patient_id"], "visit_date": _visit_date(rng, diagnosis),
            "district": patient["district"], "age_band": AGE_BANDS[band], "sex": sex,
            "diagnosis_group": diagnosis, "department": department, "visit_type": visit_type,
            "cost": _cost(rng, diagnosis, band, visit_type), "insurance_type": patient["insurance_type"]}


def clinic_visits(rows: int, seed: int) -> Iterator[dict]:
    """`rows` visits by about rows/2.6 patients, sorted by date, with sequential visit ids."""
    rng = random.Random(seed)
    patients = _patients(rng, max(1, math.ceil(rows / 2.6)))
    weights = [VISIT_RATE[p["band"]] for p in patients]
    chosen = rng.choices(patients, weights, k=rows)
    visits = sorted((_visit(rng, p) for p in chosen), key=lambda v: (v["visit_date"], v["patient_id"]))
    for number, visit in enumerate(visits, start=1):
        visit["visit_id"] = f"V{YEAR}{number:07d}"
        visit["visit_date"] = visit["visit_date"].isoformat()
        visit["cost"] = f"{visit['cost']:.2f}"
        yield visit

"""Synthetic household income survey: households that do not exist, shaped like a real survey.

Each district gets synthetic street and community codes under its real 6-digit district code, so
small areas exist for small-cell suppression. Education depends on the head's age and the district
type; household size on age and urban/rural; income is lognormal with multipliers for education,
district, urban/rural, earners and age, plus a rare Pareto tail of very high earners; housing
tenure and car ownership follow income and age. Only `random()`-based draws, for stable output.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from tianjin import DISTRICTS, WEIGHTS, District

HEAD_AGES = ("18-29", "30-39", "40-49", "50-59", "60-69", "70+")
HEAD_AGE_SHARE = (10, 19, 20, 21, 18, 12)
EDUCATION = ("小学及以下", "初中", "高中/中专", "大专", "本科", "研究生")
EDUCATION_INCOME = (0.55, 0.7, 0.9, 1.15, 1.5, 2.1)
# education weights by head age band (younger heads are better educated)
EDUCATION_BY_AGE = (
    (1, 12, 25, 25, 30, 7), (2, 15, 23, 22, 30, 8), (4, 28, 27, 17, 20, 4),
    (8, 38, 30, 12, 11, 1), (18, 42, 26, 7, 6, 1), (40, 35, 16, 5, 4, 0.5),
)
KIND_INCOME = {"core": 1.15, "suburb": 1.0, "outer": 0.82}
BINHAI = "120116"  # the new-area economy earns like the central city
URBAN_SHARE = {"core": 1.0, "suburb": 0.85, "outer": 0.5}
TENURE = ("自有住房（无贷款）", "自有住房（有贷款）", "租赁私房", "租赁公房", "其他")
SIZE_WEIGHTS = {"18-29": (35, 35, 20, 7, 2, 1), "30-39": (10, 22, 40, 18, 7, 3),
                "40-49": (8, 20, 38, 20, 10, 4), "50-59": (10, 35, 30, 15, 7, 3),
                "60-69": (15, 50, 18, 10, 5, 2), "70+": (30, 50, 10, 6, 3, 1)}
BASE_INCOME = 62_000.0


def _communities(rng: random.Random, district: District) -> list[tuple[str, str]]:
    streets = 8 + int(rng.random() * 18)
    codes = []
    for street in range(1, streets + 1):
        for community in range(1, 6 + int(rng.random() * 25)):
            street_code = f"{district.code}{street:03d}"
            codes.append((street_code, f"{street_code}{community:03d}"))
    return codes


def _income(rng: random.Random, district: District, urban: bool, head: tuple[int, int], size: int) -> int:
    age, education = head
    area = 1.18 if district.code == BINHAI else KIND_INCOME[district.kind]
    multiplier = EDUCATION_INCOME[education] * area * (1.0 if urban else 0.72)
    multiplier *= 1.0 + 0.28 * (min(size, 4) - 1)
    multiplier *= (0.8, 1.0, 1.08, 1.0, 0.82, 0.7)[age]
    income = BASE_INCOME * multiplier * rng.lognormvariate(0.0, 0.55)
    if rng.random() < 0.003:  # very high earners: the tail that dominance rules must catch
        income *= 6 * rng.paretovariate(1.4)
    return int(round(income, -2))


def _tenure(rng: random.Random, age: int, income: int, urban: bool) -> str:
    wealth = math.log(income / BASE_INCOME)
    owned = 0.55 + 0.07 * age + 0.12 * wealth + (0.15 if not urban else 0.0)
    owned = min(max(owned, 0.15), 0.95)
    if rng.random() < owned:
        mortgage = 0.55 if age <= 2 else 0.25 if age == 3 else 0.06
        return TENURE[1] if rng.random() < mortgage else TENURE[0]
    return rng.choices(TENURE[2:], (70, 22, 8))[0]


def _household(rng: random.Random, district: District, codes: tuple[str, str]) -> dict:
    urban = rng.random() < URBAN_SHARE[district.kind]
    age = rng.choices(range(len(HEAD_AGES)), HEAD_AGE_SHARE)[0]
    tilt = {"core": 1.3, "suburb": 1.0, "outer": 0.8}[district.kind] * (1.0 if urban else 0.7)
    weights = [w * tilt**i for i, w in enumerate(EDUCATION_BY_AGE[age])]
    education = rng.choices(range(len(EDUCATION)), weights)[0]
    size = rng.choices(range(1, 7), SIZE_WEIGHTS[HEAD_AGES[age]])[0] + (1 if not urban and rng.random() < 0.3 else 0)
    income = _income(rng, district, urban, (age, education), size)
    vehicle = 1 / (1 + math.exp(-(1.6 * math.log(income / BASE_INCOME) + (0.6 if not urban else 0.0) - 0.2)))
    return {"district": district.name, "street_code": codes[0], "community_code": codes[1],
            "urban_rural": "城镇" if urban else "乡村", "household_size": size,
            "head_sex": "女" if rng.random() < 0.32 else "男", "head_age_band": HEAD_AGES[age],
            "head_education": EDUCATION[education], "annual_income": income,
            "housing_tenure": _tenure(rng, age, income, urban), "has_vehicle": rng.random() < vehicle}


def households(rows: int, seed: int) -> Iterator[dict]:
    """`rows` households, ordered by community, with ids in that order."""
    rng = random.Random(seed)
    areas = {d.code: _communities(rng, d) for d in DISTRICTS}
    drawn = []
    for _ in range(rows):
        district = rng.choices(DISTRICTS, WEIGHTS)[0]
        codes = areas[district.code][int(rng.random() * len(areas[district.code]))]
        drawn.append(_household(rng, district, codes))
    drawn.sort(key=lambda h: h["community_code"])
    for number, household in enumerate(drawn, start=1):
        household["household_id"] = f"H{number:07d}"
        yield household

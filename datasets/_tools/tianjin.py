"""Geography shared by the synthetic generators: Tianjin's 16 districts.

Codes are the real GB/T 2260 district codes; the weights are approximate resident populations
(2020 census, in ten-thousands) and `kind` groups districts into the central city, the ring of
suburban districts and the outer districts, which drives the urban/rural and income effects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class District:
    name: str
    code: str
    population: float
    kind: str  # "core" | "suburb" | "outer"


DISTRICTS = (
    District("和平区", "120101", 35.5, "core"),
    District("河东区", "120102", 85.9, "core"),
    District("河西区", "120103", 82.2, "core"),
    District("南开区", "120104", 89.0, "core"),
    District("河北区", "120105", 64.7, "core"),
    District("红桥区", "120106", 48.3, "core"),
    District("东丽区", "120110", 85.7, "suburb"),
    District("西青区", "120111", 119.5, "suburb"),
    District("津南区", "120112", 92.8, "suburb"),
    District("北辰区", "120113", 90.9, "suburb"),
    District("武清区", "120114", 115.1, "outer"),
    District("宝坻区", "120115", 72.2, "outer"),
    District("滨海新区", "120116", 206.7, "suburb"),
    District("宁河区", "120117", 39.5, "outer"),
    District("静海区", "120118", 78.7, "outer"),
    District("蓟州区", "120119", 79.6, "outer"),
)

WEIGHTS = tuple(d.population for d in DISTRICTS)

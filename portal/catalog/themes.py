"""The 21 themes of a Chinese city open data platform (as on Tianjin's, Shanghai's portals).

They are reference data, seeded by the first migration and kept in step by `ensure_themes`;
datasets name them by `code` in their descriptors.
"""

from __future__ import annotations

THEMES: tuple[tuple[str, str, str], ...] = (
    ("economy", "经济建设", "Economic Development"),
    ("environment", "资源环境", "Resources & Environment"),
    ("transport", "道路交通", "Roads & Transport"),
    ("health", "卫生健康", "Health"),
    ("education", "教育科技", "Education & Science"),
    ("employment", "社保就业", "Social Security & Employment"),
    ("housing", "城建住房", "Urban Construction & Housing"),
    ("public-safety", "公共安全", "Public Safety"),
    ("culture", "文化休闲", "Culture & Leisure"),
    ("agriculture", "农业农村", "Agriculture & Rural Affairs"),
    ("weather", "气象服务", "Meteorological Services"),
    ("geospatial", "地理空间", "Geospatial"),
    ("credit", "信用服务", "Credit Services"),
    ("finance", "财税金融", "Finance & Taxation"),
    ("commerce", "商贸流通", "Commerce & Trade"),
    ("market-regulation", "市场监管", "Market Regulation"),
    ("work-safety", "安全生产", "Work Safety"),
    ("organisations", "机构团体", "Institutions & Organisations"),
    ("life-services", "生活服务", "Life Services"),
    ("social-development", "社会发展", "Social Development"),
    ("legal-services", "法律服务", "Legal Services"),
)

THEME_CODES = frozenset(code for code, _, _ in THEMES)

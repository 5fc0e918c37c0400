"""The broker's notes carry stable codes; their sentences are translated at the view layer from
the code and its public params alone, and every code has a Chinese sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.analysis import notes
from portal.analysis.disclosure import COUNT_STREAM, Aggregation, Rules
from portal.analysis.disclosure import notes as disclosure_notes

PO = Path(__file__).parents[3] / "portal/translations/zh/LC_MESSAGES/messages.po"


def test_the_listing_rule_comes_first_with_its_code_and_params():
    found = disclosure_notes([Aggregation(1, "count", False, COUNT_STREAM), Aggregation(2, "mean", True, "x")], Rules())
    assert [n["code"] for n in found] == ["min-cell", "count-rounding", "magnitude-noise"]
    assert found[0]["params"] == {"min_cell": Rules().min_cell}
    assert "fewer than about 10 records" in found[0]["text"]
    assert "at least +-3%" in found[2]["text"]


@pytest.fixture(scope="module")
def chinese():
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    return lambda msgid: catalog[msgid].string if msgid in catalog and catalog[msgid].string else msgid


@pytest.mark.parametrize("code", sorted(notes.TEMPLATES))
def test_every_code_has_a_chinese_sentence_with_the_same_params(code, chinese):
    translated = chinese(notes.TEMPLATES[code])
    assert translated != notes.TEMPLATES[code], f"no Chinese for note {code}"
    params = {"min_cell": 10, "rounding_base": 5, "percent": 3, "factor": "2", "figures": 3, "rows": 10000, "epsilon": "0.1",
              "name": "count", "mechanism": "laplace", "scale": "20", "count_scale": "40", "low": "1", "high": "9", "spent": "0.2",
              "daily": "1", "field": "patient_id", "cap": "5"}
    made = notes.note(code, **params)
    zh = notes.localise([made], chinese)[0]
    assert zh["code"] == code and zh["text"] == made["text"] and zh["message"] != made["text"]
    assert notes.localise([made], lambda s: s)[0]["message"] == made["text"]


@pytest.mark.parametrize("code", sorted(notes.TEMPLATES))
def test_every_english_note_reads_as_a_sentence(code):
    """Notes are footnotes of their own (the public-aggregate page, the notebook's cells): in
    English each starts with a capital, unless it starts with a symbol (ε) or a column's name."""
    template = notes.TEMPLATES[code]
    assert template[:1].isupper() or template.startswith(("ε", "%(name)s")), f"{code}: {template!r}"


def test_mechanism_names_are_translated_too(chinese):
    made = notes.note("dp-statistic", name="mean_cost", mechanism="discrete-laplace", scale="3")
    assert notes.localise([made], chinese)[0]["message"] == "mean_cost：离散拉普拉斯噪声，尺度 3"


@pytest.mark.parametrize("quantile", ["median", "quantile"])
def test_a_median_reads_as_the_exponential_mechanism_over_ranks(chinese, quantile):
    """A median or quantile is chosen by the exponential mechanism, not noise added: its note says
    so in one phrase (it once read "exponential mechanism, scale in ranks noise, scale 100")."""
    from portal.analysis.private_queries import _notes  # noqa: PLC0415 - the ε-mode's notes as written

    stat = type("Stat", (), {"func": quantile, "name": "median_cost"})()
    noisy = type("Noisy", (), {"scale": 100.0})()
    made = _notes([stat], [[("0-17", None), (5000, noisy)]], 0.1, 1)[-1]
    assert made["code"] == "dp-statistic" and made["params"]["mechanism"] == "exponential"
    assert made["text"] == "median_cost: exponential mechanism over ranks, noise scale 100"
    assert notes.localise([made], lambda s: s)[0]["message"] == made["text"]
    assert notes.localise([made], chinese)[0]["message"] == "median_cost：基于秩的指数机制，噪声尺度 100"
    stored = {**made, "text": "median_cost: exponential mechanism, scale in ranks noise, scale 100"}  # an older run
    assert notes.localise([stored], lambda s: s)[0]["message"] == made["text"]


@pytest.mark.parametrize("code", sorted(notes.HEADED))
def test_an_interval_note_can_name_the_columns_by_the_pages_titles(code, chinese):
    """The public aggregate page titles its columns ("Low end (95 in 100 interval)"): its notes use
    those words, the figure's column name beside its title; without titles they name the columns."""
    made = notes.note(code, name="count", mechanism="discrete-laplace", scale="50", count_scale="4")
    titles = {"count": "Number of records", "count_low": "Low end (95 in 100 interval)",
              "count_high": "High end (95 in 100 interval)"}
    english = notes.localise([made], lambda s: s, columns=titles)[0]["message"]
    assert english.startswith("Number of records (count): ") and "count_low" not in english
    assert english.endswith("its 95 % interval in the columns “Low end (95 in 100 interval)” and "
                            "“High end (95 in 100 interval)”")
    zh = notes.localise([made], chinese, columns={"count": "记录数", "count_low": "下限", "count_high": "上限"})[0]
    assert zh["message"].startswith("记录数（count）：") and zh["message"].endswith("95% 区间见“下限”和“上限”两列")
    assert "count_low/count_high" in notes.localise([made], lambda s: s)[0]["message"]  # the API's columns
    assert notes.localise([made], lambda s: s, columns={"n": "N"})[0]["message"] == made["text"]


def test_notes_stored_as_text_pass_unchanged():
    assert notes.localise(["first 10,000 rows only"], lambda s: s) == ["first 10,000 rows only"]
    assert notes.localise_result({"released": [{"notes": ["x"]}]}, lambda s: s) == {"released": [{"notes": ["x"]}]}
    assert notes.localise_result(None) is None


def test_refusals_of_known_rules_get_a_message_in_the_readers_language(chinese):
    result = {"released": [], "refused": [
        {"query": 1, "rule": "rows-not-released", "reason": "conditional data is released only as aggregates"},
        {"query": 2, "rule": "plan", "reason": "a malformed plan"}]}
    shown = notes.localise_result(result, chinese)["refused"]
    assert shown[0]["message"].startswith("有条件开放数据只以汇总结果发布") and shown[0]["reason"] == result["refused"][0]["reason"]
    assert "message" not in shown[1]


@pytest.mark.parametrize("rule", sorted(notes.REFUSALS))
def test_every_refusal_rule_has_chinese(rule, chinese):
    assert chinese(notes.REFUSALS[rule]) != notes.REFUSALS[rule]


@pytest.mark.parametrize("code", sorted(notes.RUN_ERRORS))
def test_a_cell_that_could_not_run_says_why_in_the_readers_language(code, chinese):
    stored = {"status": "error", "code": code, "message": "the queue worker's precise English reason"}
    shown = notes.localise_result(stored, chinese)
    assert shown["message"] == chinese(notes.RUN_ERRORS[code]) != notes.RUN_ERRORS[code]
    assert shown["text"] == stored["message"] and shown["code"] == code
    assert notes.localise_result({"status": "error", "code": "some-future-code", "message": "x"}, chinese) == {
        "status": "error", "code": "some-future-code", "message": "x"}


def test_a_finished_runs_message_is_in_the_readers_language(chinese):
    ran = notes.localise_result({"status": "ok", "message": "run finished", "stdout": ""}, chinese)
    assert ran == {"status": "ok", "message": "运行完成", "text": "run finished", "stdout": ""}
    cut = notes.localise_result({"status": "ok", "message": "run finished; state dropped: the result was over 9 bytes"},
                                chinese)
    assert cut["message"] == "运行完成; state dropped: the result was over 9 bytes"
    refused = notes.localise_result({"status": "refused", "message": "a query was refused: no limit before aggregating",
                                     "refused": [{"query": 1, "rule": "limit-before-aggregate", "reason": "x"}]}, chinese)
    assert refused["message"] == "有查询被拒绝：no limit before aggregating"
    assert refused["text"] == "a query was refused: no limit before aggregating"
    assert refused["refused"][0]["message"] == chinese(notes.REFUSALS["limit-before-aggregate"])


@pytest.mark.parametrize("status, english, chinese_text", [
    ("timeout", "stopped: the CPU limit of 3 s was reached", "3 秒的 CPU 时间上限"),
    ("timeout", "stopped: the wall-clock limit of 10 s was reached", "10 秒的运行时间上限"),
    ("killed", "killed: policy violation (a forbidden system call)", "被禁止的系统调用"),
    ("killed", "killed by the kernel (CPU hard limit or out of memory)", "内存不足"),
    ("killed", "the worker died with signal SIGSEGV", "SIGSEGV"),
    ("killed", "killed: the worker broke the protocol", "通信协议"),
    ("killed", "the worker ended without a result (exit status 1)", "退出状态 1"),
])
def test_a_stopped_runs_message_is_in_the_readers_language_with_its_figure(chinese, status, english, chinese_text):
    shown = notes.localise_result({"status": status, "message": english}, chinese)
    assert shown["text"] == english and chinese_text in shown["message"] and "变量保持" in shown["message"]
    assert "variables are as they were" in notes.localise_result({"status": status, "message": english},
                                                                 lambda s: s)["message"]


def test_other_finished_messages_pass_unchanged(chinese):
    for result in ({"status": "error", "message": "NameError on line 1: name 'x' is not defined"},
                   {"status": "refused", "message": "not run: sandbox isolation layers are missing on this server"},
                   {"status": "killed", "message": "a sentence the supervisor may say one day"},
                   {"status": "ok", "message": None}, {"status": "ok"}):
        assert notes.localise_result(result, chinese) == result
    assert notes.localise_result({"status": "ok", "message": "run finished"}, lambda s: s) == {
        "status": "ok", "message": "run finished", "text": "run finished"}

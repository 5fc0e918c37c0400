"""Every visible string is translated to zh_CN, and the compiled catalog is in step with the .po."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
LC = ROOT / "portal" / "translations" / "zh" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None, "N_": None,
            "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}


def _source_messages() -> set[tuple[str | None, str]]:
    """(context, msgid) of every marked string: a word with a context (pgettext) is its own entry."""
    method_map = [("portal/**.py", "python"), ("portal/templates/**.html", "jinja2")]
    found = set()
    for _, _, message, _, context in extract_from_dir(str(ROOT), method_map=method_map, keywords=KEYWORDS):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def test_every_message_has_a_chinese_translation():
    with open(LC / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    # a plural entry's id is (singular, plural) and its string one form per plural of zh (one)
    translated = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalog
                  if m.id and m.string and all(m.string if isinstance(m.string, tuple) else [m.string])
                  and not m.fuzzy}
    missing = sorted(_source_messages() - translated)
    assert not missing, f"untranslated (add to messages.po, then pybabel compile): {missing}"


def test_compiled_catalog_matches_po():
    with open(LC / "messages.po", "rb") as handle:
        po = {_key(m.id): _key(m.string) for m in read_po(handle) if m.id}
    with open(LC / "messages.mo", "rb") as handle:
        mo = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
    assert po == mo, "run: pybabel compile -d portal/translations"


def _key(value):
    """Plural ids and strings come back as lists from one reader and tuples from the other."""
    return tuple(value) if isinstance(value, list | tuple) else value


def test_code_spans_are_marked_up_and_the_rest_escaped():
    from portal.filters import code_spans

    assert str(code_spans("Theme code, e.g. `transport` <b>")) == "Theme code, e.g. <code>transport</code> &lt;b&gt;"
    assert str(code_spans("`<x>` and `y`")) == "<code>&lt;x&gt;</code> and <code>y</code>"

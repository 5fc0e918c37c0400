"""Issue 13's first check at 1366 px, in both languages: every public page passes WCAG 2 A/AA
(axe-core) and the contrast ratio computed from its styles, has its landmarks and `lang`, labels
its fields and does not scroll sideways (tests/browser/citizen.py)."""

from tests.browser.citizen import every_page_test

test_every_public_page_is_accessible_and_fits = every_page_test("desktop")

"""Citations checked in code: what ``check_citations`` and ``scorers.citations`` accept and refuse."""

import pytest

import workbench as wb
from workbench import scorers

SOURCES = [
    "The Orion desk lamp ships within 3 working days and costs 49 euros.",
    "The Vega chair is made of solid oak; its warranty lasts 5 years.",
    "Returns are free for 30 days if the item is unused.",
]


def test_format_sources_numbers_from_one_between_delimiters():
    text = wb.format_sources(SOURCES)
    assert text.splitlines()[0] == "<sources>" and text.splitlines()[-1] == "</sources>"
    assert "[1] The Orion desk lamp" in text and "[3] Returns are free" in text


def test_a_correct_quote_with_its_citation_passes():
    check = wb.check_citations('The lamp "ships within 3 working days" [1].', SOURCES, require_quote=True, expected=1)
    assert check.ok, check.explanation
    assert check.cited == [1] and check.quotes[0].source == 1


def test_quote_with_small_differences_still_counts_but_an_invented_one_does_not():
    near = wb.check_citations('“Its warranty lasts 5 years” [2]', SOURCES)
    assert near.ok, near.explanation
    invented = wb.check_citations('The chair "comes with a lifetime warranty" [2].', SOURCES)
    assert not invented.ok and "in no source" in invented.explanation


def test_a_quote_from_another_source_than_the_one_cited_is_caught():
    check = wb.check_citations('"Returns are free for 30 days" [1].', SOURCES)
    assert not check.ok
    assert "from [3], not from [1]" in check.explanation


def test_citation_of_a_source_that_does_not_exist():
    check = wb.check_citations("It costs 49 euros [4].", SOURCES)
    assert check.unknown == [4] and "not a source (there are 3)" in check.explanation


def test_missing_citation_missing_quote_and_wrong_source():
    assert "no citation" in wb.check_citations("It costs 49 euros.", SOURCES).explanation
    assert "no quoted passage" in wb.check_citations("It costs 49 euros [1].", SOURCES,
                                                      require_quote=True).explanation
    wrong = wb.check_citations("Free returns [3].", SOURCES, expected=1)
    assert "does not cite [1]" in wrong.explanation


def test_several_citations_in_one_marker():
    check = wb.check_citations("Oak [2]; shipping 3 days [1, 3].", SOURCES)
    assert check.cited == [1, 2, 3] and check.ok


def test_scorer_reads_the_sources_column_and_the_expected_source():
    score = scorers.citations(require_quote=True)('"made of solid oak" [2]', {"sources": SOURCES, "source": 2})
    assert score.passed and score.value == 1.0
    score = scorers.citations()("Made of oak [1]", {"sources": SOURCES, "source": 2})
    assert not score.passed and "does not cite [2]" in score.explanation


def test_scorer_without_the_column_names_the_fix():
    with pytest.raises(wb.ScorerError, match="add a 'sources' column"):
        scorers.citations()("x [1]", {"question": "q"})


def test_sources_given_as_one_string_is_refused_with_the_fix():
    with pytest.raises(wb.ScorerError, match=r"Fix: pass \[text1, text2"):
        wb.check_citations("x [1]", "one long text")


def test_scorer_exports_to_promptfoo_as_a_python_assertion():
    pf = scorers.citations(require_quote=True).promptfoo
    assert pf["type"] == "python" and "scorers.citations(" in pf["value"] and "require_quote=True" in pf["value"]


def test_the_lesson_10_exercise_grades_a_citation_a_reader_can_check():
    """10-verifiable-citation: one existing source, the answer's words copied from it; the right source is reported."""
    from workbench import exercises as E
    from workbench._course_retrieval import _verifiable

    case = E.get("10-verifiable-citation").cases[0]  # the Orion lamp, in source [1]
    verdicts = {answer: _verifiable(answer, case, None) for answer in (
        "[1] The Orion desk lamp weighs 2 kilograms.", "[2] The Fornax oven reaches 280 degrees.",
        "It weighs 2 kg [1].", "[4] The Orion desk lamp", "[1][2] The Orion desk lamp weighs 2 kilograms.",
        "[2] The Orion desk lamp weighs 2 kilograms.", "[1]", "The lamp weighs 2 kilograms.")}
    why = {answer: score.explanation for answer, score in verdicts.items()}
    assert [s.passed for s in verdicts.values()] == [True, True, False, False, False, False, False, False], why
    assert why["[1] The Orion desk lamp weighs 2 kilograms."].endswith("the source with the answer")
    assert "a true citation, though [1] holds the answer" in why["[2] The Fornax oven reaches 280 degrees."]
    assert "not copied from [1]" in why["It weighs 2 kg [1]."] and "not a source" in why["[4] The Orion desk lamp"]
    assert "cites [1, 2]" in why["[1][2] The Orion desk lamp weighs 2 kilograms."]
    assert "not copied from [2]" in why["[2] The Orion desk lamp weighs 2 kilograms."]
    assert "gives no words" in why["[1]"] and "no citation" in why["The lamp weighs 2 kilograms."]

"""Issue 18 items 14 and the parameter defaults, through the Compare widget (no browser): rename a
column, few-shot examples in each column, the inputs grid, and no made-up numbers for unset parameters."""

from __future__ import annotations

import workbench as wb

from .test_widgets import shown, text_of, with_class


def test_renaming_a_column_in_its_name_field(runner):
    cmp = wb.Compare(["Short: {q}", "Long: {q}"], "mock:echo", runner=runner, q="owls")
    name = cmp.columns[0].label
    assert "wb-variant-name" in name._dom_classes and name.value == "A"
    name.value = "terse"
    assert cmp.state.variants[0].label == "terse" and cmp.state.answers[0].label == "terse"
    name.value = "B"  # taken by the other column: refused, said, and the field goes back
    assert name.value == "terse" and "already called 'B'" in text_of(cmp.messages.error)
    cmp.inputs.add_row.click()
    heads = [text_of(h) for h in with_class(cmp.inputs, "wb-grid-variant")]
    assert heads == ["terse", "B"]


def test_each_column_shows_its_few_shot_examples_as_messages(runner):
    shot = wb.Prompt(system="Label sentiment.", user="{text}", examples=[("I love it", "positive"),
                                                                        ("Awful", "negative")])
    cmp = wb.Compare({"few-shot": shot, "zero-shot": wb.Prompt(user="Sentiment of {text}")}, "mock:echo",
                     runner=runner)
    first, second = (c.examples for c in cmp.columns)
    assert shown(first) and not shown(second)
    assert "few-shot examples (2)" in text_of(first)
    assert first.value.count("wb-msg-user") == 2 and first.value.count("wb-msg-assistant") == 2
    assert "I love it" in first.value and "negative" in first.value


def test_the_inputs_grid_runs_rows_through_columns_and_shows_answers(runner):
    cmp = wb.Compare({"plain": "Say {x}", "loud": "SHOUT {x}"}, "mock:echo", runner=runner, x="hi")
    grid = cmp.inputs
    assert grid.run.disabled and not shown(grid.table)
    grid.add_row.click()
    grid.add_row.click()
    assert shown(grid.table) and len(grid.fields) == 2 and not grid.run.disabled
    assert "2 rows x 2 variants = 4 calls" in text_of(grid.hint)
    grid.fields[0]["x"].value = "one"
    grid.fields[1]["x"].value = "two"
    grid.run.click()
    assert cmp.state.wait(20)
    cells = [[text_of(c) for c in row] for row in grid.cells]
    assert cells == [["Say one", "SHOUT one"], ["Say two", "SHOUT two"]]
    assert "4/4 answered" in cmp.status.value
    with_class(grid.table, "wb-grid-remove")[0].click()
    assert [[text_of(c) for c in row] for row in grid.cells] == [["Say two", "SHOUT two"]]


def test_unset_parameters_show_the_models_defaults_or_say_provider_default(runner):
    """The shared controls showed 0.70 and 256 where no chosen model states a default."""
    cmp = wb.Compare("Hi", ["local:smollm2", "mock:echo"], runner=runner)
    p = cmp.params
    temperature = p.hints["temperature"]
    assert shown(temperature) and text_of(temperature) == "smollm2 0.2 · echo: provider default"
    assert not shown(p.controls["temperature"]) and not shown(p.sliders["temperature"])  # no 0.70 on screen
    assert text_of(p.hints["max_tokens"]) == "smollm2 512 · echo: provider default"
    p.toggles["temperature"].value = True  # set: the control comes back, the label goes
    assert shown(p.controls["temperature"]) and not shown(temperature)
    cmp.columns[1].model.refresh("local:smollm2")
    cmp.state.update_variant(1, model="local:smollm2")
    assert not shown(p.hints["max_tokens"]) and p.controls["max_tokens"].value == 512  # the model's own

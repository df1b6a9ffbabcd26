from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import workbench as wb
from workbench._prompt import as_prompt


def test_variables_found_in_order_across_messages():
    p = wb.Prompt(system="You answer about {topic}.", user="Explain {topic} to a {audience}.",
                  examples=[("What is {topic}?", "A thing.")])
    assert p.variables == {"topic", "audience"}
    assert p.variable_order == ["topic", "audience"]


def test_render_builds_chat_messages_with_few_shot_turns():
    p = wb.Prompt(system="Be terse.", user="Translate: {text}", examples=[("Translate: cat", "chat")])
    assert p.render(text="dog") == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Translate: cat"},
        {"role": "assistant", "content": "chat"},
        {"role": "user", "content": "Translate: dog"},
    ]


def test_missing_variable_is_named_with_the_fix():
    p = wb.Prompt(user="Translate to French: {text}")
    with pytest.raises(wb.PromptError) as err:
        p.render()
    assert "'text'" in str(err.value) and "text=<text>" in str(err.value)


def test_unused_variable_suggests_the_close_name():
    p = wb.Prompt(user="Translate to French: {text}")
    with pytest.raises(wb.PromptError) as err:
        p.render(text="hi", txt="hi")
    message = str(err.value)
    assert "Unused variable 'txt'" in message and "Did you mean 'text'" in message


def test_non_strict_render_ignores_extra_columns():
    p = wb.Prompt(user="Say {word}")
    assert p.render({"word": "hi", "expected": "hi"}, strict=False)[-1]["content"] == "Say hi"


def test_literal_braces_are_escaped_by_doubling():
    p = wb.Prompt(user='Reply as JSON like {{"name": "{name}"}}')
    assert p.variables == {"name"}
    assert p.render(name="Ada")[-1]["content"] == 'Reply as JSON like {"name": "Ada"}'


def test_json_in_a_template_gets_a_helpful_error():
    with pytest.raises(wb.PromptError) as err:
        wb.Prompt(user='Reply as JSON like {"name": "x"}')
    assert "double them" in str(err.value)


def test_unmatched_brace_is_reported():
    with pytest.raises(wb.PromptError, match="unmatched brace"):
        wb.Prompt(user="Broken {oops")


@pytest.mark.parametrize("value", [None, ["a", "b"], {"a": 1}, math.nan])
def test_non_text_variables_are_refused(value):
    with pytest.raises(wb.PromptError, match="'text'"):
        wb.Prompt(user="Say {text}").render(text=value)


def test_numbers_are_accepted_as_text():
    assert wb.Prompt(user="Add {a} and {b}").render(a=2, b=0.5)[-1]["content"] == "Add 2 and 0.5"


def test_empty_user_message_is_refused():
    with pytest.raises(wb.PromptError, match="empty"):
        wb.Prompt(user="   ").render()


def test_hash_is_stable_and_content_based():
    a = wb.Prompt(system="s", user="u {x}")
    b = wb.Prompt(system="s", user="u {x}", name="other name")
    c = wb.Prompt(system="s", user="u {x}!")
    assert a.hash == b.hash != c.hash
    assert len(a.hash) == 16 and a.hash == wb.Prompt(system="s", user="u {x}").hash


def test_plain_string_is_literal_unless_variables_are_given():
    assert as_prompt("Use {braces} freely").render()[-1]["content"] == "Use {braces} freely"
    assert as_prompt("Hello {name}", template=True).render(name="Bo")[-1]["content"] == "Hello Bo"


def test_from_messages_round_trip():
    messages = [{"role": "system", "content": "S {x}"}, {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"}, {"role": "user", "content": "final"}]
    p = wb.Prompt.from_messages(messages)
    assert p.render() == messages  # braces in messages are text, not variables


def test_dict_round_trip():
    p = wb.Prompt(system="s", user="u {x}", examples=[("q", "a")], name="n")
    assert wb.Prompt.from_dict(p.to_dict()) == p


_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@given(st.dictionaries(_names, _text, min_size=1, max_size=4), _text)
def test_property_render_substitutes_every_variable_verbatim(values, literal):
    escaped = literal.replace("{", "{{").replace("}", "}}")
    template = escaped + " ".join("{" + name + "}" for name in values)
    p = wb.Prompt(user=template)
    assert p.variables == set(values)
    assert p.render(**values)[-1]["content"] == literal + " ".join(values.values())


@given(st.dictionaries(_names, _text, min_size=1, max_size=4))
def test_property_any_missing_variable_is_named(values):
    p = wb.Prompt(user=" ".join("{" + name + "}" for name in values))
    dropped = sorted(values)[0]
    partial = {k: v for k, v in values.items() if k != dropped}
    with pytest.raises(wb.PromptError) as err:
        p.render(**partial)
    assert repr(dropped) in str(err.value)

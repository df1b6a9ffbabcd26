from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import workbench as wb
from workbench._params import PARAM_NAMES, param_bounds
from workbench.providers._local import map_local_params
from workbench.providers._mistral import map_mistral_params
from workbench.providers._openai import map_openai_params


def test_out_of_range_names_the_allowed_range():
    with pytest.raises(wb.ParamsError) as err:
        wb.Params.build(temperature=3)
    message = str(err.value)
    assert "temperature=3" in message and "from 0 to 2" in message


def test_max_tokens_zero_is_refused_with_range():
    with pytest.raises(wb.ParamsError, match=r"max_tokens must be a whole number from 1 to 32768"):
        wb.Params.build(max_tokens=0)


def test_unknown_parameter_suggests_the_right_one():
    with pytest.raises(wb.ParamsError) as err:
        wb.Params.build(temprature=0.5)
    assert "Unknown parameter 'temprature'" in str(err.value) and "'temperature'" in str(err.value)


def test_stop_accepts_a_string_or_list_and_limits_to_four():
    assert wb.Params.build(stop="\n").stop == ("\n",)
    assert wb.Params.build(stop=["a", "b"]).set()["stop"] == ["a", "b"]
    with pytest.raises(wb.ParamsError, match="up to 4"):
        wb.Params.build(stop=list("abcde"))


def test_set_only_contains_given_values_and_drops_default_n():
    assert wb.Params.build(temperature=0.2, n=1).set() == {"temperature": 0.2}
    assert wb.Params.build(n=3).set() == {"n": 3}


def test_build_merges_base_and_overrides():
    base = wb.Params.build(temperature=0.2, seed=1)
    assert wb.Params.build(base, seed=2).set() == {"temperature": 0.2, "seed": 2}


def test_schema_carries_bounds_and_descriptions_for_widgets():
    schema = wb.Params.model_json_schema()["properties"]
    assert set(schema) == set(PARAM_NAMES)
    assert param_bounds("top_p") == (0.0, 1.0)
    assert all(schema[name].get("description") for name in PARAM_NAMES)


def test_openai_mapping():
    p = wb.Params.build(temperature=0.1, top_p=0.9, max_tokens=5, seed=3, stop=["x"], presence_penalty=0.5,
                        frequency_penalty=-0.5, n=2)
    assert map_openai_params(p) == {"temperature": 0.1, "top_p": 0.9, "max_completion_tokens": 5, "seed": 3,
                                    "stop": ["x"], "presence_penalty": 0.5, "frequency_penalty": -0.5, "n": 2}
    assert map_openai_params(p, max_tokens_field="max_tokens")["max_tokens"] == 5


def test_mistral_mapping_renames_seed():
    mapped = map_mistral_params(wb.Params.build(seed=7, max_tokens=9))
    assert mapped == {"random_seed": 7, "max_tokens": 9}


def test_local_mapping_bounds_max_tokens_and_loops_n_itself():
    assert map_local_params(wb.Params.build(n=3)) == {"max_tokens": 512}
    assert map_local_params(wb.Params.build(max_tokens=8, seed=1)) == {"max_tokens": 8, "seed": 1}


# tool_choice: a name; reasoning_effort: a word (tests/test_reasoning_caching.py)
_numeric = [n for n in PARAM_NAMES if n not in ("stop", "tool_choice", "logprobs", "reasoning_effort")]


@given(st.sampled_from(_numeric), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_property_values_are_accepted_exactly_within_bounds(name, value):
    low, high = param_bounds(name)
    integral = name in ("max_tokens", "seed", "n", "top_logprobs")
    if integral:
        value = round(value)
    inside = low <= value <= high
    extra = {"logprobs": True} if name == "top_logprobs" else {}  # top_logprobs needs logprobs
    if inside:
        assert getattr(wb.Params.build(**{name: value}, **extra), name) == value
    else:
        with pytest.raises(wb.ParamsError) as err:
            wb.Params.build(**{name: value}, **extra)
        assert name in str(err.value) and f"{low:g}" in str(err.value)


@given(st.text(min_size=1, max_size=12).filter(lambda s: s not in PARAM_NAMES and s.isidentifier()))
def test_property_unknown_names_are_always_refused(name):
    with pytest.raises(wb.ParamsError, match="Unknown parameter"):
        wb.Params.build(**{name: 1})

"""parse_json (orjson with the standard library behind it) gives what json.loads
gives, for every text json.dumps writes and for texts orjson refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestore.jsonvalue import parse_json

_SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=True, allow_infinity=True) | st.text()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)


def _same(a: object, b: object) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN compares equal this way


@settings(max_examples=300, deadline=None)
@given(_VALUES, st.booleans(), st.sampled_from([None, 0, 2]))
def test_parse_json_equals_json_loads(value, as_bytes, indent) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    raw = text.encode("utf-8", "surrogatepass") if as_bytes else text
    assert _same(parse_json(raw), json.loads(raw))


@pytest.mark.parametrize(
    "text", ['{"a": 1, "a": 2}', "NaN", "[-Infinity, 1e400]", "123456789012345678901234567890", "[1, -18446744073709551616]", '{"n":\n  99999999999999999999}', '"\\ud800"', '{"x": [1, 2.5, null]} ', " 5"]
)
def test_texts_orjson_refuses_or_reads_differently(text) -> None:
    assert _same(parse_json(text), json.loads(text))
    assert _same(parse_json(text.encode()), json.loads(text.encode()))


@pytest.mark.parametrize("text", ["", "{", "[1,]", "{'a': 1}", "nul", b"\xff\xfe\x00"])
def test_what_is_not_json_raises_value_error(text) -> None:
    with pytest.raises(ValueError):
        parse_json(text)


def test_long_digit_runs_inside_strings_keep_the_fast_parser_correct() -> None:
    text = json.dumps({"absorbed": [f"journal-{n:020d}-abc" for n in range(50)], "n": 2**70, "x": "a:12345678901234567890"})
    assert parse_json(text) == json.loads(text)
    assert isinstance(parse_json(text)["n"], int)

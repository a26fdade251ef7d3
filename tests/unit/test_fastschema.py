from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_history import HistoryBuilder, clean_runs

from reliability import schemas
from reliability.fastschema import compile_schema

SCHEMA = "history-record"
FAST = compile_schema(schemas.validator(SCHEMA).schema)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-2, 2)
    | st.sampled_from(["", "OK", "note", "x"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "ok", "name"]), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def real_events(tmp_path_factory):
    b = clean_runs(HistoryBuilder(tmp_path_factory.mktemp("fast")))
    b.skip(3)
    b.journal.append("quarantine", box=2, reason="unmount failed twice")
    b.journal.append("note", message="hello")
    b.snapshot("before", {"processes": []})
    b.end()
    return b.read().events


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _mutate(event: dict, path: tuple, value, delete: bool) -> object:
    if not path:
        return value
    doc = copy.deepcopy(event)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=json_values, delete=st.booleans())
def test_compiled_predicate_agrees_with_jsonschema_on_mutated_events(real_events, data, value, delete):
    event = data.draw(st.sampled_from(real_events))
    path = data.draw(st.sampled_from(list(_paths(event))))
    doc = _mutate(event, path, value, delete)
    assert FAST(doc) == schemas.validator(SCHEMA).is_valid(doc), (path, doc)


def test_every_real_event_is_valid_and_obvious_breakage_is_not(real_events):
    fast = compile_schema(schemas.validator(SCHEMA).schema)
    assert all(fast(e) for e in real_events)
    result = next(e for e in real_events if e["type"] == "result")
    assert not fast({**result, "result": {**result["result"], "verdict": "MAYBE"}})
    assert not fast({**result, "index": True})  # a boolean is not an integer in JSON
    assert not fast({k: v for k, v in result.items() if k != "stdout_ok"})


def test_a_keyword_it_does_not_know_is_refused_not_ignored():
    with pytest.raises(ValueError, match="'pattern' is not supported"):
        compile_schema({"type": "string", "pattern": "^a"})
    with pytest.raises(ValueError, match="unknown type 'text'"):
        compile_schema({"type": ["string", "text"]})
    with pytest.raises(ValueError, match="only local"):
        compile_schema({"$ref": "other.json#/x"})


def test_tagged_branches_follow_json_schema_when_the_tag_is_missing_or_odd():
    import jsonschema

    schema = {
        "allOf": [
            {"if": {"properties": {"k": {"const": "a"}}}, "then": {"required": ["x"]}},
            {"if": {"properties": {"k": {"const": "b"}}}, "then": {"required": ["y"]}},
        ]
    }
    fast = compile_schema(schema)
    for doc in (
        {},
        {"x": 1},
        {"x": 1, "y": 2},
        {"k": "a"},
        {"k": "a", "x": 1},
        {"k": "c"},
        {"k": 1},
        {"k": {}},
        5,
    ):
        assert fast(doc) == jsonschema.Draft202012Validator(schema).is_valid(doc), doc

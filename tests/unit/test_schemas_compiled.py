"""schemas.problems(): fastjsonschema's compiled answer must agree with jsonschema's on every document,
and a rejection is worded by jsonschema."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_history import HistoryBuilder, clean_runs

from reliability import schemas

SCHEMA = "history-record"
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
    assert (schemas.problems(SCHEMA, doc) == []) == schemas.validator(SCHEMA).is_valid(doc), (path, doc)


def test_every_real_event_is_valid_and_obvious_breakage_is_worded_by_jsonschema(real_events):
    assert all(schemas.problems(SCHEMA, e) == [] for e in real_events)
    result = next(e for e in real_events if e["type"] == "result")
    (bad_verdict,) = schemas.problems(SCHEMA, {**result, "result": {**result["result"], "verdict": "MAYBE"}})
    assert bad_verdict.startswith("result/verdict: 'MAYBE' is not one of")  # jsonschema's wording
    assert schemas.problems(SCHEMA, {**result, "index": True})  # a boolean is not an integer in JSON
    assert schemas.problems(SCHEMA, {k: v for k, v in result.items() if k != "stdout_ok"})


def test_a_schema_with_a_keyword_the_compiler_would_ignore_is_refused():
    # target.schema.json uses prefixItems (2020-12); it is only ever checked by jsonschema.
    with pytest.raises(ValueError, match="prefixItems"):
        schemas.problems("target", {})


def test_the_compiled_schemas_pass_the_keyword_guard():
    for name in ("history-record", "box-state"):
        assert schemas.problems(name, {}) != []  # compiled without refusal, and {} is not valid

"""A JSON Schema subset compiled to plain Python predicates: the fast path for validating hot records.

jsonschema costs about half a millisecond per history event here, which makes reading a 10,000-run
history take many seconds. The history schema only uses simple structural keywords, so they are compiled
once into closures. A keyword the compiler does not know is refused at compile time: the predicate can
never pass a record because it skipped a rule. Callers still ask jsonschema for the error message when
the predicate says no, so the two cannot disagree about what is reported.
"""

from __future__ import annotations

from collections.abc import Callable

Predicate = Callable[[object], bool]

# Keywords that describe and do not constrain.
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "$comment", "examples", "default"}


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int,),
    "null": (type(None),),
}


def _is_type(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return name == "boolean"
    if name == "integer" and isinstance(value, float):
        return value.is_integer()  # JSON Schema: 1.0 is an integer
    return isinstance(value, _PY_TYPES[name])


def _type_check(names: list[str]) -> Predicate:
    unknown = sorted(set(names) - set(_PY_TYPES))
    if unknown:
        raise ValueError(f"fastschema: unknown type {unknown[0]!r}")
    # The hot cases, without the general detours.
    if names in (["string"], ["object"], ["array"]):
        exact = _PY_TYPES[names[0]]
        return lambda v: isinstance(v, exact)
    if names == ["number"]:
        return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if names == ["integer"]:
        return lambda v: (isinstance(v, int) and not isinstance(v, bool)) or _is_type(v, "integer")
    return lambda v: any(_is_type(v, n) for n in names)


def _equal(a: object, b: object) -> bool:
    """JSON equality: true is not 1, as in jsonschema."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def compile_schema(schema: dict) -> Predicate:
    """A predicate equivalent to validating against `schema` (local $refs to #/$defs only)."""
    defs = schema.get("$defs", {})
    compiled: dict[str, Predicate] = {}

    def ref(name: str) -> Predicate:
        # Late binding: a $ref may point at a definition compiled after it (or at itself).
        return lambda v: compiled[name](v)

    def build(node: dict) -> Predicate:
        checks = [
            _keyword(key, arg, node, build, ref)
            for key, arg in node.items()
            if key not in _ANNOTATIONS and key not in ("then", "else")
        ]
        if len(checks) == 1:
            return checks[0]

        def all_hold(v: object) -> bool:
            for check in checks:
                if not check(v):
                    return False
            return True

        return all_hold

    for name, sub in defs.items():
        compiled[name] = build(sub)
    return build(schema)


def _keyword(key: str, arg, node: dict, build, ref) -> Predicate:
    if key == "type":
        return _type_check([arg] if isinstance(arg, str) else list(arg))
    if key == "required":
        return lambda v: not isinstance(v, dict) or all(k in v for k in arg)
    if key == "properties":
        subs = [(k, build(s)) for k, s in arg.items()]

        def properties_hold(v: object) -> bool:
            if isinstance(v, dict):
                for k, p in subs:
                    if k in v and not p(v[k]):
                        return False
            return True

        return properties_hold
    if key == "items":
        item = build(arg)
        return lambda v: not isinstance(v, list) or all(item(x) for x in v)
    if key == "enum":
        return lambda v: any(_equal(v, a) for a in arg)
    if key == "const":
        return lambda v: _equal(v, arg)
    if key in ("minimum", "exclusiveMinimum", "maximum"):
        ok = {
            "minimum": lambda v: v >= arg,
            "exclusiveMinimum": lambda v: v > arg,
            "maximum": lambda v: v <= arg,
        }[key]
        return lambda v: not _is_type(v, "number") or ok(v)
    if key in ("minLength", "minItems", "maxItems"):
        kind = str if key == "minLength" else list
        ok = (lambda n: n <= arg) if key == "maxItems" else (lambda n: n >= arg)
        return lambda v: not isinstance(v, kind) or ok(len(v))
    if key == "allOf" and (dispatch := _tagged_branches(arg, build)) is not None:
        return dispatch
    if key in ("allOf", "anyOf", "oneOf"):
        subs = [build(s) for s in arg]
        if key == "allOf":

            def all_of(v: object) -> bool:
                for p in subs:
                    if not p(v):
                        return False
                return True

            return all_of
        if key == "anyOf":
            return lambda v: any(p(v) for p in subs)
        return lambda v: sum(1 for p in subs if p(v)) == 1
    if key == "if":
        cond = build(arg)
        then = build(node.get("then", {}))
        otherwise = build(node.get("else", {}))
        return lambda v: then(v) if cond(v) else otherwise(v)
    if key == "$ref":
        prefix = "#/$defs/"
        if not arg.startswith(prefix):
            raise ValueError(f"fastschema: only local {prefix} references are supported, not {arg!r}")
        return ref(arg[len(prefix) :])
    raise ValueError(f"fastschema: keyword {key!r} is not supported")


def _tagged_branches(branches: list, build) -> Predicate | None:
    """allOf of `if: {properties: {TAG: {const: "name"}}}, then: ...` branches, as one dict lookup.

    Evaluating every branch's condition dominated the cost of a record; a lookup by the tag's value
    applies the same rule. As in JSON Schema, when the tag is absent (or the value is not an object)
    every condition holds, so every branch applies.
    """
    tag, table = None, {}
    for b in branches:
        cond = b.get("if") if isinstance(b, dict) else None
        if not cond or set(b) - {"if", "then"} or set(cond) != {"properties"} or len(cond["properties"]) != 1:
            return None
        ((key, rule),) = cond["properties"].items()
        if set(rule) != {"const"} or not isinstance(rule["const"], str) or (tag or key) != key:
            return None
        tag = key
        if rule["const"] in table:
            return None
        table[rule["const"]] = build(b.get("then", {}))
    every = list(table.values())

    def by_tag(v: object) -> bool:
        if not isinstance(v, dict) or tag not in v:
            return all(p(v) for p in every)
        value = v[tag]
        branch = table.get(value) if isinstance(value, str) else None
        return branch is None or branch(v)

    return by_tag

#!/usr/bin/python3
"""validate_trace.py — validates cairn ask traces against schemas/trace.schema.json.

    /usr/bin/python3 tests/validate_trace.py SCHEMA FILE...

Each FILE holds one JSON trace, or JSON Lines (one trace a line, as
`cairn trace KB export --format jsonl` writes). Uses python3-jsonschema
(Draft 2020-12) when it is installed, else a checker of the subset of JSON
Schema the trace schema uses (type, const, enum, pattern, minimum, required,
properties, additionalProperties, items, minItems, $ref). Prints the
number of traces validated; exits 1 naming the first invalid one.
"""
import json, re, sys


def subset_check(v, s, root, path):
    if "$ref" in s:
        s = root["$defs"][s["$ref"].split("/")[-1]]
    ty = s.get("type")
    tys = ty if isinstance(ty, list) else [ty] if ty else []
    pyt = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
           "integer": int, "number": (int, float)}
    if tys and not any(isinstance(v, pyt[x]) and not (x in ("integer", "number") and isinstance(v, bool))
                       for x in tys):
        raise ValueError(f"{path}: {v!r} is not of type {ty}")
    if "const" in s and v != s["const"]:
        raise ValueError(f"{path}: {v!r} is not {s['const']!r}")
    if "enum" in s and v not in s["enum"]:
        raise ValueError(f"{path}: {v!r} is not one of {s['enum']}")
    if "pattern" in s and isinstance(v, str) and not re.search(s["pattern"], v):
        raise ValueError(f"{path}: {v!r} does not match {s['pattern']}")
    if "minimum" in s and isinstance(v, (int, float)) and v < s["minimum"]:
        raise ValueError(f"{path}: {v} < {s['minimum']}")
    if isinstance(v, dict):
        for r in s.get("required", []):
            if r not in v:
                raise ValueError(f"{path}: '{r}' is a required property")
        for k, x in v.items():
            sub = s.get("properties", {}).get(k, s.get("additionalProperties"))
            if isinstance(sub, dict):
                subset_check(x, sub, root, path + "." + k)
    if isinstance(v, list):
        if "minItems" in s and len(v) < s["minItems"]:
            raise ValueError(f"{path}: fewer than {s['minItems']} items")
        if "items" in s:
            for i, x in enumerate(v):
                subset_check(x, s["items"], root, f"{path}[{i}]")


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    schema = json.load(open(sys.argv[1]))
    try:
        import jsonschema
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        try:
            from importlib.metadata import version
            how = "jsonschema " + version("jsonschema")
        except Exception:
            how = "jsonschema"

        def check(t):
            errs = sorted(validator.iter_errors(t), key=lambda e: list(e.path))
            if errs:
                e = errs[0]
                raise ValueError("$." + ".".join(str(p) for p in e.path) + ": " + e.message)
    except ImportError:
        how = "subset checker (python3-jsonschema is not installed)"

        def check(t):
            subset_check(t, schema, schema, "$")
    n = 0
    for f in sys.argv[2:]:
        text = open(f).read()
        docs = [text] if text.lstrip().startswith("{") and "\n{" not in text.strip() else \
            [l for l in text.splitlines() if l.strip()]
        for i, d in enumerate(docs):
            t = json.loads(d)
            try:
                check(t)
            except ValueError as e:
                print(f"{f}: trace {t.get('trace_id', i + 1)} is invalid: {e}", file=sys.stderr)
                return 1
            n += 1
    print(f"{n} traces valid ({how})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

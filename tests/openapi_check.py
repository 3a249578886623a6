"""openapi_check.py — checks real responses against schemas/openapi.json.

Usage: openapi_check.py OPENAPI LOG
LOG has one response per line: METHOD<TAB>PATH<TAB>STATUS<TAB>CONTENT-TYPE<TAB>BODY-FILE.
Each path is matched to a path of the document ({x} = one segment); the
status must be documented for that operation (401, 403, 404, 405, 413, 415,
429, 503 are common to every route and need not be; 431 comes from
libmicrohttpd itself and is skipped), and a JSON body must
validate against the documented schema (Error for the common statuses).
Prints one line per problem; exit 1 if any. Without python3-jsonschema
only statuses are checked (and it says so)."""
import json, re, sys

COMMON = {"401", "403", "404", "405", "413", "415", "429", "503"}

def main():
    doc = json.load(open(sys.argv[1]))
    try:
        import jsonschema
        resolver = jsonschema.RefResolver.from_schema(doc)
    except ImportError:
        jsonschema = None
        print("note: python3-jsonschema missing: bodies not validated")
    paths = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in doc["paths"]]
    bad = n = 0
    for line in open(sys.argv[2]):
        method, path, status, ctype, body_file = line.rstrip("\n").split("\t")
        path = path.split("?")[0]
        n += 1
        if status == "431":   # libmicrohttpd's own answer to oversized headers
            continue
        tmpl = next((p for rx, p in paths if rx.match(path)), None)
        if tmpl is None:
            if status != "404":
                print(f"{method} {path}: {status} but the path is not in the document"); bad += 1
            continue
        op = doc["paths"][tmpl].get(method.lower())
        if op is None:
            if status != "405":
                print(f"{method} {path}: {status} but the method is not in the document"); bad += 1
            continue
        resp = op["responses"].get(status)
        if resp is None and status not in COMMON:
            print(f"{method} {tmpl}: status {status} not documented"); bad += 1
            continue
        if resp is None:
            resp = {"$ref": "#/components/responses/Error"}
        if "$ref" in resp:
            resp = doc["components"]["responses"][resp["$ref"].split("/")[-1]]
        ct = ctype.split(";")[0].strip()
        content = resp.get("content", {})
        if ct not in content:
            print(f"{method} {tmpl} {status}: content type {ct!r} not documented ({list(content)})"); bad += 1
            continue
        if ct != "application/json" or jsonschema is None:
            continue
        try:
            body = json.load(open(body_file))
        except ValueError as e:
            print(f"{method} {tmpl} {status}: body is not JSON: {e}"); bad += 1
            continue
        try:
            jsonschema.validate(body, content[ct]["schema"], resolver=resolver)
        except jsonschema.ValidationError as e:
            print(f"{method} {tmpl} {status}: {e.message} at {list(e.absolute_path)}"); bad += 1
    print(f"openapi_check: {n} responses, {bad} problems")
    return 1 if bad else 0

sys.exit(main())

/* fuzz_schema.c — libFuzzer harness: the JSON-schema subset for
 * constrained decoding (llm/json.c). The input up to its first NUL byte is
 * a schema; it is compiled or refused with a message. The bytes after the
 * NUL drive a generation: at each step the allowed next bytes are those
 * cl_json_feed accepts (what cl_generate's mask computes per token), and the
 * driver byte picks one of them; when the driver is spent, a fixed policy
 * (close what is open, else the smallest allowed byte) finishes the value.
 * Properties:
 * - before the value is complete, some byte is always allowed; once it is
 *   complete and closed, none is;
 * - the value completes within a bounded number of bytes;
 * - the text is UTF-8, parses as JSON (cJSON), and is accepted again when
 *   fed in one piece;
 * - where cJSON reads the schema too (and it has no duplicate keys), the
 *   value is an instance of it: types, enum values, property names,
 *   required properties, array items, maxLength in code points. */
#include "llm_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

#define MAX_DRIVEN 1024          /* bytes chosen by the input */
#define MAX_FINISH (1 << 16)     /* bytes the policy may add to finish */

/* UTF-8 well-formedness (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], need, cp, min;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (i + need >= n) return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += need + 1;
    }
    return 1;
}

static size_t utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* 1 when some object in j (recursively) repeats a key. */
static int dup_keys(const cJSON *j)
{
    const cJSON *a, *b;
    for (a = j ? j->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(j))
            for (b = a->next; b; b = b->next)
                if (a->string && b->string && !strcmp(a->string, b->string)) return 1;
        if (dup_keys(a)) return 1;
    }
    return 0;
}

/* Whether v is an instance of schema node sc, as the subset means it. */
static int valid(const cJSON *sc, const cJSON *v)
{
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(sc, "enum");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(sc, "type");
    const cJSON *e;
    const char *t;
    if (en) {
        if (!cJSON_IsString(v)) return 0;
        cJSON_ArrayForEach(e, en) if (cJSON_IsString(e) && !strcmp(e->valuestring, v->valuestring)) return 1;
        return 0;
    }
    if (!cJSON_IsString(ty)) return 0;
    t = ty->valuestring;
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    if (!strcmp(t, "string")) {
        const cJSON *ml = cJSON_GetObjectItemCaseSensitive(sc, "maxLength");
        if (!cJSON_IsString(v)) return 0;
        return !cJSON_IsNumber(ml) || utf8_count(v->valuestring) <= (size_t)ml->valuedouble;
    }
    if (!strcmp(t, "array")) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(sc, "items");
        if (!cJSON_IsArray(v)) return 0;
        cJSON_ArrayForEach(e, v) if (!valid(it, e)) return 0;
        return 1;
    }
    if (!strcmp(t, "object")) {
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(sc, "properties");
        const cJSON *rq = cJSON_GetObjectItemCaseSensitive(sc, "required");
        if (!cJSON_IsObject(v)) return 0;
        cJSON_ArrayForEach(e, v) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(pr, e->string);
            if (!p || !valid(p, e)) return 0;
        }
        cJSON_ArrayForEach(e, rq) if (!cJSON_GetObjectItemCaseSensitive(v, e->valuestring)) return 0;
        return 1;
    }
    return 0;
}

/* The bytes that may come next: allowed[c] = 1; returns how many. */
static int allowed_set(const cl_json_state *st, uint8_t allowed[256])
{
    int c, n = 0;
    for (c = 0; c < 256; c++) {
        cl_json_state t;
        uint8_t b = (uint8_t)c;
        t.sc = st->sc;          /* copy only the live frames, as sample.c does */
        t.depth = st->depth;
        t.ws_run = st->ws_run;
        memcpy(t.f, st->f, (size_t)st->depth * sizeof *t.f);
        allowed[c] = (uint8_t)cl_json_feed(&t, &b, 1);
        n += allowed[c];
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char finish[] = "\"]}0t:,";
    const uint8_t *nul = memchr(data, 0, size);
    size_t slen = nul ? (size_t)(nul - data) : size, dpos = slen + 1, len = 0, steps;
    cl_json_schema *sc = NULL;
    cl_json_state st, again;
    uint8_t allowed[256];
    char *out;
    cl_status s = cl_json_schema_parse((const char *)data, slen, &sc);
    if (s != CL_OK) {
        FUZZ_ASSERT(!sc && *cl_errmsg());
        return 0;
    }
    FUZZ_ASSERT(sc);
    FUZZ_ASSERT((out = malloc(MAX_DRIVEN + MAX_FINISH + 1)));
    cl_json_state_init(&st, sc);
    for (steps = 0; steps < MAX_DRIVEN + MAX_FINISH; steps++) {
        int n = allowed_set(&st, allowed), complete = cl_json_complete(&st), pick = -1, c;
        if (!complete) FUZZ_ASSERT(n > 0);
        if (complete && st.depth == 0) FUZZ_ASSERT(n == 0);
        if (!n) break;
        if (dpos < size && steps < MAX_DRIVEN) {
            int k = data[dpos++] % (n + complete); /* a complete value may also stop here */
            if (k == n) break;
            for (c = 0; c < 256; c++)
                if (allowed[c] && k-- == 0) { pick = c; break; }
        } else {
            const char *f;
            if (complete) break;
            for (f = finish; *f && pick < 0; f++)
                if (allowed[(uint8_t)*f]) pick = (uint8_t)*f;
            for (c = 0; c < 256 && pick < 0; c++)
                if (allowed[c] && c != ' ' && c != '\t' && c != '\n' && c != '\r') pick = c;
            for (c = 0; c < 256 && pick < 0; c++)
                if (allowed[c]) pick = c;
        }
        FUZZ_ASSERT(pick >= 0);
        out[len] = (char)pick;
        FUZZ_ASSERT(cl_json_feed(&st, (const uint8_t *)out + len, 1));
        len++;
    }
    FUZZ_ASSERT(cl_json_complete(&st));
    out[len] = 0;
    if (getenv("FUZZ_PRINT")) fprintf(stderr, "%.*s\n", (int)len, out);   /* to read what a case makes */
    cl_json_state_init(&again, sc);   /* the same text in one piece */
    FUZZ_ASSERT(cl_json_feed(&again, (const uint8_t *)out, len) && cl_json_complete(&again));
    FUZZ_ASSERT(utf8_ok((const unsigned char *)out, len));
    {
        const char *end = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(out, len, &end, 0), *js;
        if (!v) fprintf(stderr, "not JSON: %.*s\n", (int)len, out);
        FUZZ_ASSERT(v);
        FUZZ_ASSERT(end == out + len);
        js = cJSON_ParseWithLength((const char *)data, slen);
        if (js && !dup_keys(js)) {
            if (!valid(js, v)) fprintf(stderr, "not an instance: %.*s\n", (int)len, out);
            FUZZ_ASSERT(valid(js, v));
        }
        cJSON_Delete(js);
        cJSON_Delete(v);
    }
    free(out);
    cl_json_schema_free(sc);
    return 0;
}

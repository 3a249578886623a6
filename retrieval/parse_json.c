/* parse_json.c — records out of .json (one object, or an array of objects)
 * and .jsonl (one object per line, read line by line). One document per
 * record: the text field is the text, the id and title fields name it,
 * every other field goes to meta_json. Every record is checked before the
 * first one is handed on, so a bad record or line means no callback at all. */
#include "retrieval.h"
#include "parse_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

typedef struct jctx {
    const char *uri;
    const cr_parse_opts *o;
    cr_doc_fn fn;
    void *ud;
    cc_buf *err;
    cc_buf uri_buf, meta, idtxt;
} jctx;

/* Checks one record and, when `emit`, hands it on. `where` names it in
 * messages ("line 7", "record at index 3"). */
static cc_status record(jctx *c, const cJSON *obj, size_t index, const char *where,
                        size_t repaired, int emit)
{
    const cr_parse_opts *o = c->o;
    const cJSON *t, *id, *ti, *it;
    cr_doc d;
    cc_status s;
    size_t tlen;
    if (!cJSON_IsObject(obj)) return crp_err(c->err, CC_INVALID, "%s: not a JSON object", where);
    t = cJSON_GetObjectItemCaseSensitive(obj, o->json_text_field);
    if (!t) return crp_err(c->err, CC_INVALID, "%s: no \"%s\" field", where, o->json_text_field);
    if (!cJSON_IsString(t) || !t->valuestring)
        return crp_err(c->err, CC_INVALID, "%s: \"%s\" is not a string", where, o->json_text_field);
    tlen = strlen(t->valuestring);
    if (crp_all_ws(t->valuestring, tlen))
        return crp_err(c->err, CC_INVALID, "%s: empty document", where);
    if (cc_utf8_check(t->valuestring, tlen) != tlen)
        return crp_err(c->err, CC_INVALID, "%s: invalid UTF-8 in \"%s\"", where, o->json_text_field);
    id = cJSON_GetObjectItemCaseSensitive(obj, o->json_id_field);
    if (id && !cJSON_IsNull(id) && !cJSON_IsString(id) && !cJSON_IsNumber(id))
        return crp_err(c->err, CC_INVALID, "%s: \"%s\" must be a string or a number", where,
                       o->json_id_field);
    ti = cJSON_GetObjectItemCaseSensitive(obj, o->json_title_field);
    if (ti && !cJSON_IsNull(ti) && !cJSON_IsString(ti))
        return crp_err(c->err, CC_INVALID, "%s: \"%s\" must be a string", where,
                       o->json_title_field);
    if (!emit) return CC_OK;

    cc_buf_reset(&c->uri_buf);
    cc_buf_reset(&c->idtxt);
    s = CC_OK;
    if (cJSON_IsString(id) && id->valuestring && id->valuestring[0])
        s = cc_buf_puts(&c->idtxt, id->valuestring);
    else if (cJSON_IsNumber(id)) {
        double v = id->valuedouble;
        if (v == floor(v) && fabs(v) < 9007199254740992.0) s = cc_buf_printf(&c->idtxt, "%.0f", v);
        else s = cc_buf_printf(&c->idtxt, "%.17g", v);
    } else
        s = cc_buf_printf(&c->idtxt, "%zu", index);
    if (!s) s = cc_buf_printf(&c->uri_buf, "%s#%s", c->uri, c->idtxt.data);

    cc_buf_reset(&c->meta);
    for (it = obj->child; it && !s; it = it->next) {
        char *v;
        if (!it->string || !strcmp(it->string, o->json_text_field) ||
            !strcmp(it->string, o->json_id_field) || !strcmp(it->string, o->json_title_field))
            continue;
        if (!(v = cJSON_PrintUnformatted(it))) { s = CC_NOMEM; break; }
        if (!(s = cc_buf_putc(&c->meta, c->meta.len ? ',' : '{')) &&
            !(s = cc_buf_json_str(&c->meta, it->string, strlen(it->string))) &&
            !(s = cc_buf_putc(&c->meta, ':')))
            s = cc_buf_puts(&c->meta, v);
        cJSON_free(v);
    }
    if (!s && c->meta.len) s = cc_buf_putc(&c->meta, '}');
    if (s) return crp_err(c->err, s, "%s: out of memory", where);

    memset(&d, 0, sizeof d);
    d.uri = c->uri_buf.data;
    d.title = cJSON_IsString(ti) && ti->valuestring && ti->valuestring[0] ? ti->valuestring : NULL;
    d.meta_json = c->meta.len ? c->meta.data : NULL;
    d.text = t->valuestring;
    d.len = tlen;
    d.repaired = repaired;
    return c->fn(c->ud, &d);
}

static void jctx_free(jctx *c)
{
    cc_buf_free(&c->uri_buf);
    cc_buf_free(&c->meta);
    cc_buf_free(&c->idtxt);
}

/* ================================================================ .json */

cc_status crp_parse_json(const char *uri, const char *data, size_t n, const cr_parse_opts *o,
                         cr_doc_fn fn, void *ud, cc_buf *err)
{
    jctx c;
    cc_buf fixed = CC_BUF_INIT(0);
    crp_input in;
    cJSON *root = NULL;
    const cJSON *it;
    const char *end = NULL;
    char where[64];
    size_t idx;
    int pass;
    cc_status s;

    if (n > o->max_json_bytes)
        return crp_err(err, CC_TOOBIG,
                       "JSON file of %zu bytes is over the %zu-byte limit for .json; "
                       "split it into .jsonl (one object per line)", n, o->max_json_bytes);
    memset(&c, 0, sizeof c);
    c.uri = uri; c.o = o; c.fn = fn; c.ud = ud; c.err = err;
    if ((s = crp_prepare(data, n, o, CRP_REPAIR_COPY, &fixed, &in, err))) goto out;
    root = cJSON_ParseWithLengthOpts(in.p, in.n, &end, 0);
    if (!root) {
        size_t at = end && end >= in.p && end <= in.p + in.n ? (size_t)(end - in.p) : in.n;
        if (at >= in.n) s = crp_err(err, CC_INVALID, "invalid JSON: unexpected end of input");
        else s = crp_err(err, CC_INVALID, "invalid JSON at byte %zu", in.base + at);
        goto out;
    }
    if (end && end < in.p + in.n && !crp_all_ws(end, (size_t)(in.p + in.n - end))) {
        size_t at = (size_t)(end - in.p);
        while (crp_is_ws((unsigned char)in.p[at])) at++;
        s = crp_err(err, CC_INVALID, "unexpected data after the JSON value at byte %zu",
                    in.base + at);
        goto out;
    }
    if (cJSON_IsObject(root)) {
        for (pass = 0; pass < 2; pass++)
            if ((s = record(&c, root, 0, "record", in.repaired, pass))) goto out;
    } else if (cJSON_IsArray(root)) {
        if (!root->child) { s = crp_err(err, CC_INVALID, "empty document (no records)"); goto out; }
        for (pass = 0; pass < 2; pass++)
            for (it = root->child, idx = 0; it; it = it->next, idx++) {
                snprintf(where, sizeof where, "record at index %zu", idx);
                /* repairs are counted for the whole input: given to the first record */
                if ((s = record(&c, it, idx, where, idx ? 0 : in.repaired, pass))) goto out;
            }
    } else {
        s = crp_err(err, CC_INVALID, "the JSON value must be an object or an array of objects");
    }
out:
    cJSON_Delete(root);
    cc_buf_free(&fixed);
    jctx_free(&c);
    return s;
}

/* ================================================================ .jsonl */

/* One pass over the lines: checks every line (emit = 0) or hands the
 * records on (emit = 1). Only one line is parsed at a time. */
static cc_status jsonl_pass(jctx *c, const char *p, size_t n, size_t base, int emit,
                            size_t *n_records)
{
    cc_buf fixed = CC_BUF_INIT(0);
    size_t pos = 0, line = 0, idx = 0;
    char where[48];
    cc_status s = CC_OK;
    cc_buf_init(&fixed, crp_buf_max(c->o->max_json_bytes));
    while (pos < n && !s) {
        const char *l = p + pos, *nl = memchr(l, '\n', n - pos), *lp, *end = NULL, *nul;
        size_t len = nl ? (size_t)(nl - l) : n - pos, lstart = pos, ln, v, repaired = 0;
        cJSON *obj;
        pos += len + (nl != NULL);
        line++;
        if (crp_all_ws(l, len)) continue;
        snprintf(where, sizeof where, "line %zu", line);
        if (len > c->o->max_json_bytes) {
            s = crp_err(c->err, CC_TOOBIG, "%s: record of %zu bytes is over the %zu-byte limit",
                        where, len, c->o->max_json_bytes);
            break;
        }
        if ((nul = memchr(l, 0, len))) {
            s = crp_err(c->err, CC_INVALID, "%s: binary file (NUL byte at byte %zu)", where,
                        base + lstart + (size_t)(nul - l));
            break;
        }
        lp = l;
        ln = len;
        v = cc_utf8_check(l, len);
        if (v < len) {
            if (!c->o->repair_utf8) {
                s = crp_err(c->err, CC_INVALID, "%s: invalid UTF-8 at byte %zu", where,
                            base + lstart + v);
                break;
            }
            cc_buf_reset(&fixed);
            if ((s = crp_utf8_repair(l, len, &fixed, &repaired))) {
                s = crp_err(c->err, s, "%s: out of memory repairing UTF-8", where);
                break;
            }
            lp = fixed.data;
            ln = fixed.len;
        }
        obj = cJSON_ParseWithLengthOpts(lp, ln, &end, 0);
        if (!obj) {
            size_t at = end && end >= lp && end <= lp + ln ? (size_t)(end - lp) : ln;
            if (lp != l) s = crp_err(c->err, CC_INVALID, "%s: invalid JSON", where);
            else if (at >= ln) s = crp_err(c->err, CC_INVALID, "%s: invalid JSON: unexpected end of line", where);
            else s = crp_err(c->err, CC_INVALID, "%s: invalid JSON at byte %zu", where,
                             base + lstart + at);
            break;
        }
        if (end && end < lp + ln && !crp_all_ws(end, (size_t)(lp + ln - end))) {
            s = crp_err(c->err, CC_INVALID, "%s: unexpected data after the JSON value", where);
        } else {
            s = record(c, obj, idx, where, repaired, emit);
            idx++;
        }
        cJSON_Delete(obj);
    }
    cc_buf_free(&fixed);
    *n_records = idx;
    return s;
}

cc_status crp_parse_jsonl(const char *uri, const char *data, size_t n, const cr_parse_opts *o,
                          cr_doc_fn fn, void *ud, cc_buf *err)
{
    jctx c;
    size_t base = 0, nrec = 0;
    cc_status s;
    if (!data || n == 0) return crp_err(err, CC_INVALID, "empty document");
    if (n >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB &&
        (unsigned char)data[2] == 0xBF)
        base = 3;
    memset(&c, 0, sizeof c);
    c.uri = uri; c.o = o; c.fn = fn; c.ud = ud; c.err = err;
    s = jsonl_pass(&c, data + base, n - base, base, 0, &nrec);
    if (!s && nrec == 0) s = crp_err(err, CC_INVALID, "empty document");
    if (!s) s = jsonl_pass(&c, data + base, n - base, base, 1, &nrec);
    jctx_free(&c);
    return s;
}

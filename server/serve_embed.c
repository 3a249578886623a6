/* serve_embed.c — POST /v1/embeddings, shaped as OpenAI's embeddings API so
 * its client libraries work unchanged, in front of the KB's configured
 * embedder (settings embedder.name/dim/model; "hash" by default).
 *
 * Request:  {"model": str, "input": str | [str, ...], "encoding_format":
 *            "float" | "base64", "dimensions": int, "user": str}
 *   model must be the embedder's name ("hash") or identity
 *   ("hash/1:dim=384"); dimensions, if given, must equal the embedder's;
 *   at most 2048 inputs. Token-array inputs are refused (400).
 * Response: {"object": "list", "data": [{"object": "embedding", "index": i,
 *            "embedding": [floats] | "base64 of little-endian float32"}],
 *            "model": identity, "usage": {"prompt_tokens", "total_tokens"}}
 *   usage counts whitespace-separated words (the hash embedder has no
 *   tokenizer). */
#define _GNU_SOURCE
#include "serve.h"

#include <string.h>

#define MAX_INPUTS 2048

static size_t count_words(const char *s)
{
    size_t n = 0;
    int in = 0;
    for (; *s; s++) {
        int sp = *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

static void base64(cc_buf *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;
    for (i = 0; i + 2 < n; i += 3) {
        char q[4] = {tab[p[i] >> 2], tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
                     tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)], tab[p[i + 2] & 63]};
        cc_buf_append(b, q, 4);
    }
    if (n - i == 1) {
        char q[4] = {tab[p[i] >> 2], tab[(p[i] & 3) << 4], '=', '='};
        cc_buf_append(b, q, 4);
    } else if (n - i == 2) {
        char q[4] = {tab[p[i] >> 2], tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
                     tab[(p[i + 1] & 15) << 2], '='};
        cc_buf_append(b, q, 4);
    }
}

enum MHD_Result serve_embeddings(serve_req *r)
{
    static const char *const fields[] = {"model", "input", "encoding_format", "dimensions",
                                         "user", NULL};
    cJSON *j, *model, *input, *fmt, *dims, *m, *out, *data;
    const char **texts = NULL;
    float *vec = NULL;
    size_t n = 0, i, words = 0;
    int b64 = 0, dim;
    cr_embedder *e = NULL;
    serve_slot *s;
    cc_status st;
    enum MHD_Result ret;
    if (!(j = serve_parse_body(r))) return MHD_YES;
    if (serve_check_fields(r, j, fields, "s*sns")) { cJSON_Delete(j); return MHD_YES; }
    model = cJSON_GetObjectItemCaseSensitive(j, "model");
    input = cJSON_GetObjectItemCaseSensitive(j, "input");
    fmt = cJSON_GetObjectItemCaseSensitive(j, "encoding_format");
    dims = cJSON_GetObjectItemCaseSensitive(j, "dimensions");
    if (!model || !input) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "fields \"model\" and \"input\" are required");
    }
    if (fmt) {
        if (!strcmp(fmt->valuestring, "base64")) b64 = 1;
        else if (strcmp(fmt->valuestring, "float")) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"encoding_format\": use float or base64");
        }
    }
    if (cJSON_IsString(input)) {
        n = 1;
    } else if (cJSON_IsArray(input)) {
        n = (size_t)cJSON_GetArraySize(input);
        if (n == 0 || n > MAX_INPUTS) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"input\": 1..%d strings", MAX_INPUTS);
        }
        cJSON_ArrayForEach(m, input)
            if (!cJSON_IsString(m)) {
                cJSON_Delete(j);
                return serve_send_error(r, 400, "bad_field", "field \"input\" must be a string or "
                                        "an array of strings (token arrays are not supported)");
            }
    } else {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "field \"input\" must be a string or an array of strings");
    }
    if (!(texts = calloc(n, sizeof *texts))) {
        cJSON_Delete(j);
        return serve_send_error(r, 500, "internal", "out of memory");
    }
    if (cJSON_IsString(input)) texts[0] = input->valuestring;
    else { i = 0; cJSON_ArrayForEach(m, input) texts[i++] = m->valuestring; }
    for (i = 0; i < n; i++) words += count_words(texts[i]);

    s = serve_slot_take();
    st = s->kb ? cr_embedder_from_kb(s->kb, &e) : CC_IO;
    if (st) {
        ret = serve_send_error(r, 500, "internal", "%s", s->kb ? cc_kb_errmsg(s->kb) : cc_errmsg());
        serve_slot_give(s);
        goto out;
    }
    serve_slot_give(s);
    dim = cr_embedder_dim(e);
    if (strcmp(model->valuestring, cr_embedder_name(e)) &&
        strcmp(model->valuestring, cr_embedder_identity(e))) {
        ret = serve_send_error(r, 404, "model_not_found", "model \"%.80s\" is not served here: "
                               "use \"%s\" (or \"%s\")", model->valuestring, cr_embedder_name(e),
                               cr_embedder_identity(e));
        goto out;
    }
    if (dims && dims->valuedouble != dim) {
        ret = serve_send_error(r, 400, "bad_field", "field \"dimensions\": this embedder makes %d", dim);
        goto out;
    }
    if (n * (size_t)dim > ((size_t)16 << 20)) {
        ret = serve_send_error(r, 413, "body_too_large", "%zu inputs of %d dimensions is too much "
                               "for one request: send fewer inputs", n, dim);
        goto out;
    }
    if (!(vec = malloc(n * (size_t)dim * sizeof *vec))) {
        ret = serve_send_error(r, 500, "internal", "out of memory");
        goto out;
    }
    if (cr_embedder_embed(e, texts, NULL, n, vec) != CC_OK) {
        ret = serve_send_error(r, 500, "internal", "%s", cr_embedder_errmsg(e));
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "object", "list");
    data = cJSON_AddArrayToObject(out, "data");
    for (i = 0; i < n; i++) {
        cJSON *d = cJSON_CreateObject();
        const float *v = vec + i * (size_t)dim;
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", (double)i);
        if (b64) {
            cc_buf b = CC_BUF_INIT(0);
            base64(&b, (const unsigned char *)v, (size_t)dim * sizeof *v);   /* x86/ARM: LE */
            cJSON_AddStringToObject(d, "embedding", b.data ? b.data : "");
            cc_buf_free(&b);
        } else {
            /* float32 needs 9 significant digits to round-trip, not 17 */
            cc_buf b = CC_BUF_INIT(0);
            cc_buf_putc(&b, '[');
            for (int k = 0; k < dim; k++) cc_buf_printf(&b, k ? ",%.9g" : "%.9g", (double)v[k]);
            cc_buf_putc(&b, ']');
            cJSON_AddItemToObject(d, "embedding", cJSON_CreateRaw(b.data ? b.data : "[]"));
            cc_buf_free(&b);
        }
        cJSON_AddItemToArray(data, d);
    }
    cJSON_AddStringToObject(out, "model", cr_embedder_identity(e));
    {
        cJSON *u = cJSON_AddObjectToObject(out, "usage");
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)words);
        cJSON_AddNumberToObject(u, "total_tokens", (double)words);
    }
    ret = serve_send_json(r, 200, out);
out:
    cr_embedder_close(e);
    free(vec);
    free(texts);
    cJSON_Delete(j);
    return ret;
}

/* cmd_model.c — `cairn model info|tokenize|make-tiny|run|logits`: inspect a
 * GGUF model or vocabulary, write a tiny test model, run a decoder greedily
 * or print its logits, with llm/. */
#include "cli.h"
#include "llm.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char *gtype_str(cl_gguf_type t)
{
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64",
                              "i64", "f64"};
    return (unsigned)t < CL_GGUF_TYPE_COUNT ? n[t] : "?";
}

/* Prints s (len bytes) quoted, with control bytes escaped, at most max bytes. */
static void print_quoted(const char *s, size_t len, size_t max)
{
    size_t i;
    putchar('"');
    for (i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('"');
    if (len > max) printf("...");
}

static void print_arr(const cl_gguf_arr *a, int depth)
{
    uint64_t i, show = a->n < 8 ? a->n : 8;
    printf("[%s x %" PRIu64 "]", gtype_str(a->type), a->n);
    if (depth > 2) return;
    printf(" ");
    for (i = 0; i < show; i++) {
        int64_t iv;
        float f;
        const char *s;
        size_t sl;
        cl_gguf_arr c;
        if (i) printf(", ");
        if (cl_gguf_arr_get_int(a, i, &iv) == CL_OK) printf("%" PRId64, iv);
        else if (cl_gguf_arr_get_f32(a, i, &f) == CL_OK) printf("%g", f);
        else if (cl_gguf_arr_get_str(a, i, &s, &sl) == CL_OK) print_quoted(s, sl, 40);
        else if (cl_gguf_arr_get_arr(a, i, &c) == CL_OK) print_arr(&c, depth + 1);
    }
    if (show < a->n) printf(", ...");
}

static int model_info(const char *path)
{
    cl_gguf *g = NULL;
    int64_t i;
    if (cl_gguf_open(path, &g) != CL_OK) return cli_error("%s", cl_errmsg());
    printf("file: %s\nsize: %zu bytes\ngguf version: %u\nalignment: %zu\ndata offset: %" PRIu64 "\n", path,
           cl_gguf_file_size(g), cl_gguf_version(g), cl_gguf_alignment(g), cl_gguf_data_offset(g));
    printf("metadata: %" PRId64 " keys\n", cl_gguf_n_kv(g));
    for (i = 0; i < cl_gguf_n_kv(g); i++) {
        const char *k = cl_gguf_key(g, i);
        cl_gguf_type t = cl_gguf_kv_type(g, i);
        printf("  %-40s %-4s ", k, gtype_str(t));
        if (t == CL_GGUF_STRING) {
            const char *s;
            size_t sl;
            cl_gguf_get_str(g, k, &s, &sl);
            print_quoted(s, sl, 120);
        } else if (t == CL_GGUF_ARRAY) {
            cl_gguf_arr a;
            cl_gguf_get_arr(g, k, &a);
            print_arr(&a, 0);
        } else if (t == CL_GGUF_BOOL) {
            int b;
            cl_gguf_get_bool(g, k, &b);
            printf("%s", b ? "true" : "false");
        } else if (t == CL_GGUF_FLOAT32 || t == CL_GGUF_FLOAT64) {
            float f;
            cl_gguf_get_f32(g, k, &f);
            printf("%g", f);
        } else {
            uint64_t u;
            int32_t v;
            if (cl_gguf_get_u64(g, k, &u) == CL_OK) printf("%" PRIu64, u);
            else if (cl_gguf_get_i32(g, k, &v) == CL_OK) printf("%d", v);
            else printf("(negative)");
        }
        printf("\n");
    }
    printf("tensors: %" PRId64 "\n", cl_gguf_n_tensors(g));
    for (i = 0; i < cl_gguf_n_tensors(g); i++) {
        const cl_tensor *t = cl_gguf_tensor(g, i);
        int d;
        printf("  %-40s %-5s [", t->name, cl_type_name(t->type));
        for (d = 0; d < t->n_dims; d++) printf("%s%" PRIu64, d ? ", " : "", t->ne[d]);
        printf("] %zu bytes%s\n", t->n_bytes, cl_type_supported(t->type) ? "" : " (type not supported)");
    }
    cl_gguf_close(g);
    return 0;
}

static int model_tokenize(const char *path, const char *text, int special)
{
    cl_gguf *g = NULL;
    cl_tokenizer *t = NULL;
    cl_token *ids = NULL;
    size_t n = 0, i;
    char *back = NULL;
    if (cl_gguf_open(path, &g) != CL_OK) return cli_error("%s", cl_errmsg());
    if (cl_tokenizer_new(g, &t) != CL_OK) {
        cl_gguf_close(g);
        return cli_error("%s", cl_errmsg());
    }
    cl_gguf_close(g);
    if (cl_tokenize(t, text, strlen(text), special, special, &ids, &n) != CL_OK) {
        cl_tokenizer_free(t);
        return cli_error("%s", cl_errmsg());
    }
    printf("%zu tokens\n", n);
    for (i = 0; i < n; i++) {
        const char *s = cl_tokenizer_token_text(t, ids[i]);
        printf("%8d  ", ids[i]);
        print_quoted(s, strlen(s), 80);
        printf("\n");
    }
    if (cl_detokenize(t, ids, n, special, &back, NULL) == CL_OK) {
        printf("detokenized: ");
        print_quoted(back, strlen(back), 4096);
        printf("\n");
    }
    free(back);
    free(ids);
    cl_tokenizer_free(t);
    return 0;
}

/* make-tiny --arch bert: the vocabulary from --vocab FILE (a WordPiece GGUF)
 * or, with --vocab builtin or none, the built-in one. */
static int make_tiny_bert(int type, uint64_t seed, const char *pooling, const char *vocab, const char *path)
{
    cl_tiny_bert_opts o;
    memset(&o, 0, sizeof o);
    o.type = type;
    o.seed = seed;
    o.pooling = pooling ? cl_pooling_from_name(pooling) : CL_POOL_UNSET;
    o.vocab_path = vocab && strcmp(vocab, "builtin") ? vocab : NULL;
    if (cl_make_tiny_bert(&o, path) != CL_OK) return cli_error("%s", cl_errmsg());
    return 0;
}

/* Parses a size option value in 1..max into *out. */
static int parse_u32(const char *opt, const char *v, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (end == v || *end || x < 1 || x > max) return cli_error("%s wants a whole number from 1 to %u, not '%s'", opt, max, v);
    *out = (uint32_t)x;
    return 0;
}

static int model_make_tiny(int argc, char **argv)
{
    const char *type = "f32", *path = NULL, *pooling = NULL, *vocab = NULL;
    cl_tiny_opts o;
    int i, t;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    for (i = 2; i + 1 < argc; i += 2) {
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--arch")) o.arch = v;
        else if (!strcmp(argv[i], "--type")) type = v;
        else if (!strcmp(argv[i], "--out")) path = v;
        else if (!strcmp(argv[i], "--seed")) o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(argv[i], "--pooling")) pooling = v;
        else if (!strcmp(argv[i], "--vocab")) vocab = v;
        else if (!strcmp(argv[i], "--embd")) { if (parse_u32(argv[i], v, 65536, &o.n_embd)) return 1; }
        else if (!strcmp(argv[i], "--layers")) { if (parse_u32(argv[i], v, 512, &o.n_layer)) return 1; }
        else if (!strcmp(argv[i], "--heads")) { if (parse_u32(argv[i], v, 1024, &o.n_head)) return 1; }
        else if (!strcmp(argv[i], "--kv-heads")) { if (parse_u32(argv[i], v, 1024, &o.n_head_kv)) return 1; }
        else if (!strcmp(argv[i], "--ff")) { if (parse_u32(argv[i], v, 262144, &o.n_ff)) return 1; }
        else if (!strcmp(argv[i], "--n-vocab")) { if (parse_u32(argv[i], v, 1000000, &o.n_vocab)) return 1; }
        else if (!strcmp(argv[i], "--ctx")) { if (parse_u32(argv[i], v, 1000000, &o.n_ctx)) return 1; }
        else if (!strcmp(argv[i], "--rope-scaling")) o.rope_scaling = v;
        else if (!strcmp(argv[i], "--rope-factor")) {
            char *end;
            o.rope_factor = strtof(v, &end);
            if (end == v || *end) return cli_error("make-tiny: --rope-factor wants a number, not '%s'", v);
        } else return cli_error("make-tiny: unknown option %s", argv[i]);
    }
    if (i != argc || !o.arch || !path) return cli_error("make-tiny: needs --arch A --out FILE (see --help)");
    if (!strcmp(type, "f32")) t = CL_TYPE_F32;
    else if (!strcmp(type, "f16")) t = CL_TYPE_F16;
    else if (!strcmp(type, "q8_0")) t = CL_TYPE_Q8_0;
    else if (!strcmp(type, "q4_0")) t = CL_TYPE_Q4_0;
    else if (!strcmp(type, "q4_k")) t = CL_TYPE_Q4_K;
    else if (!strcmp(type, "q6_k")) t = CL_TYPE_Q6_K;
    else return cli_error("make-tiny: --type must be f32, f16, q8_0, q4_0, q4_k or q6_k, not %s", type);
    if (pooling && cl_pooling_from_name(pooling) < 0)
        return cli_error("make-tiny: --pooling must be none, mean, cls or last, not %s", pooling);
    if (!strcmp(o.arch, "bert")) {
        if (t != CL_TYPE_F32 && t != CL_TYPE_F16 && t != CL_TYPE_Q8_0)
            return cli_error("make-tiny: --arch bert takes --type f32, f16 or q8_0");
        return make_tiny_bert(t, o.seed, pooling, vocab, path);
    }
    if (vocab) return cli_error("make-tiny: --vocab FILE is for --arch bert (--n-vocab N sets a decoder's size)");
    o.type = t;
    if (o.rope_scaling && !(o.rope_factor > 0)) o.rope_factor = 1.0f;
    if (cl_make_tiny_opts(&o, path) != CL_OK) return cli_error("%s", cl_errmsg());
    if (pooling && cl_gguf_set_pooling(path, cl_pooling_from_name(pooling)) != CL_OK)
        return cli_error("%s", cl_errmsg());
    return 0;
}

/* Parses "1,2,3" into a malloc'd array. */
static int parse_ids(const char *s, cl_token **out, size_t *n)
{
    size_t cap = strlen(s) / 2 + 1;
    *n = 0;
    if (!(*out = malloc(cap * sizeof **out))) return -1;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || (*end && *end != ',') || *n == cap) return -1;
        (*out)[(*n)++] = (cl_token)v;
        s = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

/* Parses a float option value into *out; -1 with a message when it is not a number. */
static int parse_f(const char *opt, const char *v, float *out)
{
    char *end;
    *out = strtof(v, &end);
    if (end == v || *end) return cli_error("model: %s wants a number, not '%s'", opt, v);
    return 0;
}

static int parse_l(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    *out = strtol(v, &end, 10);
    if (end == v || *end || *out < lo || *out > hi)
        return cli_error("model: %s wants a whole number from %ld to %ld, not '%s'", opt, lo, hi, v);
    return 0;
}

static int stream_piece(void *user, cl_token t, const char *piece, size_t len)
{
    (void)user;
    (void)t;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

#define MAX_STOP 16

/* model run FILE --prompt TEXT [-n N] [--ids] [sampling] [--stop S]... [--threads N] [--chat [--system S]]
 * model logits FILE --tokens 1,2,3 [--threads N] */
static int model_run(int argc, char **argv, int logits_mode)
{
    const char *prompt = NULL, *ids_arg = NULL, *system = NULL, *stops[MAX_STOP], *schema_path = NULL;
    cl_json_schema *schema = NULL;
    long n_new = 16, threads = 0, v;
    int show_ids = 0, chat = 0, i, rc = 1;
    cl_model *m = NULL;
    cl_token *ids = NULL;
    size_t n = 0, k;
    float *lg = NULL;
    char *text = NULL;
    const cl_model_info *I;
    cl_gen_opts g;
    cl_gen_result r;
    memset(&g, 0, sizeof g);
    memset(&r, 0, sizeof r);
    cl_sample_opts_default(&g.sample);
    g.stop = stops;
    for (i = 3; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--ids")) { show_ids = 1; continue; }
        if (!strcmp(o, "--chat")) { chat = 1; continue; }
        if (!val) return cli_error("model %s: unknown or incomplete option %s", argv[1], o);
        i++;
        if (!strcmp(o, "--prompt")) prompt = val;
        else if (!strcmp(o, "--tokens")) ids_arg = val;
        else if (!strcmp(o, "--system")) system = val;
        else if (!strcmp(o, "--json-schema")) schema_path = val;
        else if (!strcmp(o, "-n")) { if (parse_l(o, val, 0, 1000000, &n_new)) return 1; }
        else if (!strcmp(o, "--threads")) { if (parse_l(o, val, 1, 256, &threads)) return 1; }
        else if (!strcmp(o, "--temp")) { if (parse_f(o, val, &g.sample.temperature)) return 1; }
        else if (!strcmp(o, "--top-p")) { if (parse_f(o, val, &g.sample.top_p)) return 1; }
        else if (!strcmp(o, "--min-p")) { if (parse_f(o, val, &g.sample.min_p)) return 1; }
        else if (!strcmp(o, "--repeat-penalty")) { if (parse_f(o, val, &g.sample.repeat_penalty)) return 1; }
        else if (!strcmp(o, "--top-k")) { if (parse_l(o, val, 0, INT32_MAX, &v)) return 1; g.sample.top_k = (int32_t)v; }
        else if (!strcmp(o, "--seed")) {
            char *end;
            g.sample.seed = strtoull(val, &end, 10);
            if (end == val || *end) return cli_error("model run: --seed wants a whole number, not '%s'", val);
        } else if (!strcmp(o, "--stop")) {
            if (g.n_stop == MAX_STOP) return cli_error("model run: at most %d --stop strings", MAX_STOP);
            if (!*val) return cli_error("model run: --stop wants a non-empty string");
            stops[g.n_stop++] = val;
        } else return cli_error("model %s: unknown option %s", argv[1], o);
    }
    if (logits_mode ? !ids_arg : !prompt) return cli_error("model %s: needs %s", argv[1], logits_mode ? "--tokens 1,2,3" : "--prompt TEXT");
    if (schema_path) {
        FILE *f = fopen(schema_path, "rb");
        char buf[65536];
        size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
        int full = f && feof(f);
        if (f) fclose(f);
        if (!f || !full) return cli_error("model run: cannot read %s (or it is over 64 KiB)", schema_path);
        if (cl_json_schema_parse(buf, len, &schema) != CL_OK) return cli_error("%s: %s", schema_path, cl_errmsg());
        g.schema = schema;
    }
    if (cl_model_open(argv[2], 0, &m) != CL_OK) {
        cl_json_schema_free(schema);
        return cli_error("%s", cl_errmsg());
    }
    if (threads && cl_model_set_threads(m, (int)threads) != CL_OK) {
        cli_error("%s", cl_errmsg());
        goto out;
    }
    I = cl_model_get_info(m);
    if (logits_mode) {
        if (parse_ids(ids_arg, &ids, &n)) {
            cli_error("model logits: --tokens wants comma-separated token ids, got '%s'", ids_arg);
            goto out;
        }
        if (!(lg = malloc(n * I->n_vocab * sizeof *lg))) goto out;
        if (cl_model_eval_batch(m, ids, n, 0, lg, 1) != CL_OK) { /* one prefill batch: all logits */
            cli_error("%s", cl_errmsg());
            goto out;
        }
        for (k = 0; k < n; k++) {
            uint32_t vv;
            for (vv = 0; vv < I->n_vocab; vv++) printf("%s%.9g", vv ? " " : "", lg[k * I->n_vocab + vv]);
            printf("\n");
        }
        rc = 0;
        goto out;
    }
    if (chat) {
        cl_chat_template t;
        cl_chat_msg msgs[2];
        size_t nm = 0;
        if (cl_chat_template_from_gguf(cl_model_gguf(m), &t) != CL_OK) {
            cli_error("model run --chat: %s", cl_errmsg());
            goto out;
        }
        if (system) msgs[nm].role = "system", msgs[nm++].content = system;
        msgs[nm].role = "user";
        msgs[nm++].content = prompt;
        if (cl_chat_render(&t, msgs, nm, 1, &text, NULL) != CL_OK ||
            cl_tokenize(cl_model_tokenizer(m), text, strlen(text), 0, 1, &ids, &n) != CL_OK) {
            cli_error("%s", cl_errmsg());
            goto out;
        }
    } else if (cl_tokenize(cl_model_tokenizer(m), prompt, strlen(prompt), 1, 0, &ids, &n) != CL_OK) {
        cli_error("%s", cl_errmsg());
        goto out;
    }
    if (!n_new) {
        if (!show_ids) printf("%s\n", chat ? "" : prompt);
        rc = 0;
        goto out;
    }
    g.max_tokens = (size_t)n_new;
    if (!show_ids) {
        if (!chat) fputs(prompt, stdout);
        g.on_token = stream_piece;
    }
    if (cl_generate(m, ids, n, &g, &r) != CL_OK) {
        if (!show_ids) putchar('\n');
        cli_error("%s", cl_errmsg());
        goto out;
    }
    if (show_ids)
        for (k = 0; k < r.n_tokens; k++) printf("%s%d", k ? "," : "", r.tokens[k]);
    printf("\n");
    rc = 0;
out:
    cl_gen_result_free(&r);
    cl_json_schema_free(schema);
    free(text);
    free(lg);
    free(ids);
    cl_model_free(m);
    return rc;
}

/* CPU seconds (user + system) this process has used. */
static double cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* model bench --gpu FILE [--ctx 128,4096] [--decode N] [--prompt N]: the
 * CUDA backend (llm/bench_gpu.c): prefill of an N-token prompt (512), decode
 * at each context, bandwidth against the device's copy bandwidth. */
static int model_bench_gpu(int argc, char **argv)
{
    long n_dec = 64, n_prompt = 512;
    const char *ctx_arg = "128,4096", *file = NULL;
    cl_token *ctxs = NULL;
    uint32_t c32[16];
    size_t n_ctx = 0, k;
    int i;
    for (i = 2; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--gpu")) continue;
        if (o[0] != '-') { file = o; continue; }
        if (!val) return cli_error("model bench: option %s wants a value", o);
        i++;
        if (!strcmp(o, "--decode")) { if (parse_l(o, val, 1, 100000, &n_dec)) return 1; }
        else if (!strcmp(o, "--prompt")) { if (parse_l(o, val, 1, 1000000, &n_prompt)) return 1; }
        else if (!strcmp(o, "--ctx")) ctx_arg = val;
        else return cli_error("model bench --gpu: unknown option %s", o);
    }
    if (!file) return cli_error("model bench --gpu: needs a FILE");
    if (parse_ids(ctx_arg, &ctxs, &n_ctx) || !n_ctx || n_ctx > 16) {
        free(ctxs);
        return cli_error("model bench: --ctx wants up to 16 comma-separated context sizes, got '%s'", ctx_arg);
    }
    for (k = 0; k < n_ctx; k++) {
        if (ctxs[k] < 1) {
            free(ctxs);
            return cli_error("model bench: context sizes must be at least 1");
        }
        c32[k] = (uint32_t)ctxs[k];
    }
    free(ctxs);
    if (cl_bench_gpu(file, (uint32_t)n_prompt, c32, n_ctx, (uint32_t)n_dec) != CL_OK)
        return cli_error("%s", cl_errmsg());
    return 0;
}

/* model bench FILE [--threads N] [--ctx 128,1024,4096] [--decode N] [--prefill-max N] [--kv f16|f32|q8_0]
 * Prefill: the first min(ctx, prefill-max) tokens in batches; the rest of
 * the KV cache up to ctx is filled with copies (cl_model_kv_fill); decode:
 * N tokens after ctx. "of roofline" is the measure: decode tokens/s
 * over bandwidth / weight bytes per token; "incl. KV" also counts the K/V
 * bytes that attention reads per token (at the mean position decoded). */
static int model_bench(int argc, char **argv)
{
    long threads = 0, n_dec = 16, pmax = 256;
    int kv = CL_KV_DEFAULT;
    cl_model_params mp;
    const char *ctx_arg = "128,1024,4096";
    cl_token *ctxs = NULL, *toks = NULL;
    size_t n_ctx = 0, k, i;
    uint32_t max_ctx = 0;
    cl_model *m = NULL;
    float *lg = NULL;
    double bw = 0, wb, kvb;
    int rc = 1;
    uint64_t rng = 12345;
    struct rusage ru;
    const cl_model_info *I;
    for (i = 3; i + 1 < (size_t)argc; i += 2) {
        const char *o = argv[i], *val = argv[i + 1];
        if (!strcmp(o, "--threads")) { if (parse_l(o, val, 1, 256, &threads)) return 1; }
        else if (!strcmp(o, "--decode")) { if (parse_l(o, val, 1, 100000, &n_dec)) return 1; }
        else if (!strcmp(o, "--prefill-max")) { if (parse_l(o, val, 1, 1000000, &pmax)) return 1; }
        else if (!strcmp(o, "--ctx")) ctx_arg = val;
        else if (!strcmp(o, "--kv")) {
            if ((kv = cl_kv_type_parse(val)) < 0)
                return cli_error("model bench: --kv wants f16, f32 or q8_0 (the KV cache's element type), got '%s'",
                                 val);
        }
        else return cli_error("model bench: unknown option %s", o);
    }
    if (i != (size_t)argc) return cli_error("model bench: option %s wants a value", argv[i]);
    if (parse_ids(ctx_arg, &ctxs, &n_ctx)) {
        free(ctxs);
        return cli_error("model bench: --ctx wants comma-separated context sizes, got '%s'", ctx_arg);
    }
    for (k = 0; k < n_ctx; k++) {
        if (ctxs[k] < 1) {
            free(ctxs);
            return cli_error("model bench: context sizes must be at least 1");
        }
        if ((uint32_t)ctxs[k] > max_ctx) max_ctx = (uint32_t)ctxs[k];
    }
    mp.n_ctx = max_ctx + (uint32_t)n_dec;
    mp.kv_type = kv;
    if (cl_model_open_params(argv[2], &mp, &m) != CL_OK) {
        free(ctxs);
        return cli_error("%s", cl_errmsg());
    }
    I = cl_model_get_info(m);
    if (I->n_ctx < max_ctx + (uint32_t)n_dec) {
        cli_error("model bench: the model's context (%u) is shorter than %u + %ld decoded tokens", I->n_ctx, max_ctx,
                  n_dec);
        goto out;
    }
    if (threads && cl_model_set_threads(m, (int)threads) != CL_OK) {
        cli_error("%s", cl_errmsg());
        goto out;
    }
    if (!(lg = malloc(I->n_vocab * sizeof *lg)) || !(toks = malloc((max_ctx + (size_t)n_dec) * sizeof *toks))) {
        cli_error("model bench: out of memory");
        goto out;
    }
    for (i = 0; i < max_ctx + (size_t)n_dec; i++) { /* random ids inside the tokenizer's vocabulary */
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (cl_token)((rng >> 33) % (uint64_t)cl_tokenizer_n_vocab(cl_model_tokenizer(m)));
    }
    if (cl_bench_copy_gbps((size_t)256 << 20, cl_model_threads(m), 5, &bw) != CL_OK) {
        cli_error("%s", cl_errmsg());
        goto out;
    }
    wb = (double)cl_model_weight_bytes(m);
    printf("model: %s (%s, %u layers, embd %u, vocab %u)\n", argv[2], I->arch, I->n_layer, I->n_embd, I->n_vocab);
    printf("threads: %d (CPU kernels: %s)\nweights read per token: %.1f MiB\n", cl_model_threads(m),
           cl_cpu_kernels(), wb / 1048576.0);
    printf("copy bandwidth (STREAM copy, read+write, 2 x 256 MiB, %d threads): %.2f GB/s\n", cl_model_threads(m), bw);
    printf("KV cache: %s, %llu bytes (%.1f MiB) for %u positions\n", cl_kv_type_name(I->kv_type),
           (unsigned long long)cl_model_kv_bytes(I, I->n_ctx), cl_model_kv_bytes(I, I->n_ctx) / 1048576.0, I->n_ctx);
    printf("roofline decode (bandwidth / weight bytes per token): %.1f tokens/s\n", bw * 1e9 / wb);
    printf("%8s %10s %14s %13s %12s %9s %9s %9s\n", "context", "prefilled", "prefill tok/s", "decode tok/s",
           "of roofline", "KV MiB/t", "incl. KV", "cpu busy");
    for (k = 0; k < n_ctx; k++) {
        uint32_t c = (uint32_t)ctxs[k], np = c < (uint32_t)pmax ? c : (uint32_t)pmax, p;
        double t0 = now_s(), tp, td, c0;
        if (cl_model_eval_batch(m, toks, np, 0, lg, 0) != CL_OK) {
            cli_error("%s", cl_errmsg());
            goto out;
        }
        tp = now_s() - t0;
        if (np < c && cl_model_kv_fill(m, np, c) != CL_OK) {
            cli_error("%s", cl_errmsg());
            goto out;
        }
        t0 = now_s();
        c0 = cpu_s();
        for (p = 0; p < (uint32_t)n_dec; p++)
            if (cl_model_eval(m, toks[c + p], c + p, lg) != CL_OK) {
                cli_error("%s", cl_errmsg());
                goto out;
            }
        td = now_s() - t0;
        /* KV bytes read per token at the mean position decoded (c + (n_dec + 1) / 2 positions seen) */
        kvb = (double)cl_model_kv_bytes(I, 1) * (c + (n_dec + 1) / 2.0);
        /* cpu busy: CPU time over wall time times threads during decode (1 = every thread ran all the time) */
        printf("%8u %10u %14.1f %13.2f %12.2f %9.1f %9.2f %9.2f\n", c, np, np / tp, n_dec / td,
               (n_dec / td) / (bw * 1e9 / wb), kvb / 1048576.0, (n_dec / td) / (bw * 1e9 / (wb + kvb)),
               (cpu_s() - c0) / td / cl_model_threads(m));
        fflush(stdout);
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0) printf("peak RSS: %.1f MiB\n", ru.ru_maxrss / 1024.0);
    rc = 0;
out:
    free(ctxs);
    free(toks);
    free(lg);
    cl_model_free(m);
    return rc;
}

/* model embed FILE TEXT... [--json] [--pooling P]: one vector per text,
 * all texts embedded in one batch. */
static int model_embed(int argc, char **argv)
{
    cl_embed_params P = {CL_POOL_UNSET, 0, 1};
    const char **texts;
    size_t n = 0, i, d;
    int json = 0, k, rc = 1;
    cl_embed *e = NULL;
    const cl_embed_info *I;
    float *v = NULL;
    if (!(texts = calloc((size_t)argc, sizeof *texts))) return cli_error("out of memory");
    for (k = 3; k < argc; k++) {
        if (!strcmp(argv[k], "--json")) json = 1;
        else if (!strcmp(argv[k], "--threads") && k + 1 < argc) {
            char *end;
            long t = strtol(argv[++k], &end, 10);
            if (end == argv[k] || *end || t < 1 || t > 64) {
                cli_error("model embed: --threads must be 1..64, not %s", argv[k]);
                goto out;
            }
            P.n_threads = (int)t;
        } else if (!strcmp(argv[k], "--max-tokens") && k + 1 < argc) {
            char *end;
            long t = strtol(argv[++k], &end, 10);
            if (end == argv[k] || *end || t < 1 || t > (1 << 20)) {
                cli_error("model embed: --max-tokens must be 1..1048576, not %s", argv[k]);
                goto out;
            }
            P.n_ctx = (uint32_t)t;
        } else if (!strcmp(argv[k], "--pooling") && k + 1 < argc) {
            if ((P.pooling = cl_pooling_from_name(argv[++k])) < 0) {
                cli_error("model embed: --pooling must be mean, cls or last, not %s", argv[k]);
                goto out;
            }
        } else if (argv[k][0] == '-' && argv[k][1] == '-') {
            cli_error("model embed: unknown or incomplete option %s", argv[k]);
            goto out;
        } else texts[n++] = argv[k];
    }
    if (!n) {
        cli_error("model embed: needs FILE and at least one TEXT");
        goto out;
    }
    if (cl_embed_open(argv[2], &P, &e) != CL_OK) {
        cli_error("%s", cl_errmsg());
        goto out;
    }
    I = cl_embed_get_info(e);
    if (!(v = malloc(n * I->dim * sizeof *v))) {
        cli_error("out of memory");
        goto out;
    }
    if (cl_embed_texts(e, texts, NULL, n, v) != CL_OK) {
        cli_error("%s", cl_errmsg());
        goto out;
    }
    if (json) {
        printf("{\"model\":");
        print_quoted(argv[2], strlen(argv[2]), 4096);
        printf(",\"arch\":\"%s\",\"dim\":%u,\"pooling\":\"%s\",\"vectors\":[", I->arch, I->dim,
               cl_pooling_name(I->pooling));
        for (i = 0; i < n; i++) {
            printf("%s[", i ? "," : "");
            for (d = 0; d < I->dim; d++) printf("%s%.9g", d ? "," : "", v[i * I->dim + d]);
            printf("]");
        }
        printf("]}\n");
    } else {
        for (i = 0; i < n; i++) {
            for (d = 0; d < I->dim; d++) printf("%s%.9g", d ? " " : "", v[i * I->dim + d]);
            printf("\n");
        }
    }
    rc = 0;
out:
    free(v);
    free(texts);
    cl_embed_free(e);
    return rc;
}

int cmd_model(int argc, char **argv)
{
    static const char *usage =
        "model info FILE\n"
        "       cairn model tokenize FILE TEXT [--special]\n"
        "       cairn model make-tiny --arch llama|qwen2|qwen3|bert [--type f32|f16|q8_0|q4_0|q4_k|q6_k]\n"
        "             --out FILE [--seed N] [--embd N --layers N --heads N --kv-heads N --ff N\n"
        "             --n-vocab N --ctx N] [--rope-scaling linear|yarn --rope-factor F]\n"
        "             [--pooling mean|cls|last] [--vocab FILE|builtin]\n"
        "       cairn model run FILE --prompt TEXT [-n N] [--ids] [--temp T] [--top-k K] [--top-p P]\n"
        "             [--min-p P] [--repeat-penalty R] [--seed S] [--stop S]... [--threads N]\n"
        "             [--chat [--system TEXT]] [--json-schema FILE]\n"
        "       cairn model logits FILE --tokens ID,ID,... [--threads N]\n"
        "       cairn model embed FILE TEXT... [--json] [--pooling mean|cls|last] [--threads N]\n"
        "                         [--max-tokens N]\n"
        "       cairn model bench FILE [--threads N] [--ctx 128,1024,4096] [--decode N] [--prefill-max N] [--kv f16|f32|q8_0]\n"
        "       cairn model bench --gpu FILE [--ctx 128,4096] [--decode N] [--prompt N]\n"
        "  info: GGUF header, metadata and tensors of FILE.\n"
        "  tokenize: token ids of TEXT with FILE's tokenizer; --special adds BOS/EOS as\n"
        "  the model asks and turns special-token text (e.g. <s>) into those tokens.\n"
        "  make-tiny: a small GGUF decoder with seeded random weights, for tests.\n"
        "  run: generation of up to N (default 16) tokens after TEXT, streamed to\n"
        "  stdout; greedy unless --temp > 0; --stop ends the text before S; --chat\n"
        "  wraps TEXT as a user message in the model's chat template (--ids: print\n"
        "  the generated token ids instead of text); --json-schema: the output is one\n"
        "  JSON value of the schema in FILE (a subset: see llm.h).\n"
        "  logits: one line of logits per position after running the given tokens.\n"
        "  embed: one L2-normalised vector per TEXT (a bert model, or a decoder whose\n"
        "  metadata names a pooling), all texts in one batch.\n"
        "  bench: prefill and decode tokens/s at each context (decode after filling\n"
        "  the KV cache to it), STREAM-like copy bandwidth, peak RSS; --kv: the KV\n"
        "  cache's element type (default f16 on the CPU, or CAIRN_KV=f32|f16|q8_0 for\n"
        "  every command that opens a decoder; q8_0: 8-bit blocks of 32, heads a\n"
        "  multiple of 32).\n"
        "  bench --gpu: the same on the CUDA backend, against the device's copy\n"
        "  bandwidth (CAIRN_GPU=0/1 otherwise picks the CPU or insists on the GPU).\n"
        "  make-tiny --arch bert [--pooling mean|cls|last] [--vocab FILE|builtin]: a tiny\n"
        "  BERT encoder; --pooling on a decoder adds <arch>.pooling_type.";
    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        printf("usage: cairn %s\n", usage);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "info")) return model_info(argv[2]);
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "tokenize")) {
        int special = 0;
        if (argc == 5) {
            if (strcmp(argv[4], "--special")) return cli_usage(usage);
            special = 1;
        }
        return model_tokenize(argv[2], argv[3], special);
    }
    if (argc >= 2 && !strcmp(argv[1], "make-tiny")) return model_make_tiny(argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "run")) return model_run(argc, argv, 0);
    if (argc >= 3 && !strcmp(argv[1], "logits")) return model_run(argc, argv, 1);
    if (argc >= 3 && !strcmp(argv[1], "embed")) return model_embed(argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "bench")) {
        int g;
        for (g = 2; g < argc; g++)
            if (!strcmp(argv[g], "--gpu")) return model_bench_gpu(argc, argv);
        return model_bench(argc, argv);
    }
    return cli_usage(usage);
}

/* cmd_model.c — `cairn model info|tokenize|make-tiny|run|logits`: inspect a
 * GGUF model or vocabulary, write a tiny test model, run a decoder greedily
 * or print its logits, with llm/. */
#include "cli.h"
#include "llm.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
    const char *type = "f32", *path = NULL;
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
        else if (!strcmp(argv[i], "--embd")) { if (parse_u32(argv[i], v, 65536, &o.n_embd)) return 1; }
        else if (!strcmp(argv[i], "--layers")) { if (parse_u32(argv[i], v, 512, &o.n_layer)) return 1; }
        else if (!strcmp(argv[i], "--heads")) { if (parse_u32(argv[i], v, 1024, &o.n_head)) return 1; }
        else if (!strcmp(argv[i], "--kv-heads")) { if (parse_u32(argv[i], v, 1024, &o.n_head_kv)) return 1; }
        else if (!strcmp(argv[i], "--ff")) { if (parse_u32(argv[i], v, 262144, &o.n_ff)) return 1; }
        else if (!strcmp(argv[i], "--vocab")) { if (parse_u32(argv[i], v, 1000000, &o.n_vocab)) return 1; }
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
    o.type = t;
    if (o.rope_scaling && !(o.rope_factor > 0)) o.rope_factor = 1.0f;
    if (cl_make_tiny_opts(&o, path) != CL_OK) return cli_error("%s", cl_errmsg());
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

/* model run FILE --prompt TEXT [-n N] [--ids]  /  model logits FILE --tokens 1,2,3 */
static int model_run(int argc, char **argv, int logits_mode)
{
    const char *prompt = NULL, *ids_arg = NULL;
    long n_new = 16;
    int show_ids = 0, i, rc = 1;
    cl_model *m = NULL;
    cl_token *ids = NULL, *gen = NULL;
    size_t n = 0, n_gen = 0, k;
    float *lg = NULL;
    const cl_model_info *I;
    for (i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--prompt") && i + 1 < argc) prompt = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) ids_arg = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            char *end;
            n_new = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end) n_new = -1;
        } else if (!strcmp(argv[i], "--ids")) show_ids = 1;
        else return cli_error("model %s: unknown or incomplete option %s", argv[1], argv[i]);
    }
    if (logits_mode ? !ids_arg : !prompt) return cli_error("model %s: needs %s", argv[1], logits_mode ? "--tokens 1,2,3" : "--prompt TEXT");
    if (n_new < 0 || n_new > 1000000) return cli_error("model run: -n must be between 0 and 1000000");
    if (cl_model_open(argv[2], 0, &m) != CL_OK) return cli_error("%s", cl_errmsg());
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
            uint32_t v;
            for (v = 0; v < I->n_vocab; v++) printf("%s%.9g", v ? " " : "", lg[k * I->n_vocab + v]);
            printf("\n");
        }
        rc = 0;
        goto out;
    }
    if (cl_tokenize(cl_model_tokenizer(m), prompt, strlen(prompt), 1, 0, &ids, &n) != CL_OK) {
        cli_error("%s", cl_errmsg());
        goto out;
    }
    if (!(gen = malloc(((size_t)n_new + 1) * sizeof *gen))) goto out;
    if (cl_model_generate(m, ids, n, (size_t)n_new, gen, &n_gen) != CL_OK) {
        cli_error("%s", cl_errmsg());
        goto out;
    }
    if (show_ids) {
        for (k = 0; k < n_gen; k++) printf("%s%d", k ? "," : "", gen[k]);
        printf("\n");
    } else {
        char *text = NULL;
        if (cl_detokenize(cl_model_tokenizer(m), gen, n_gen, 0, &text, NULL) == CL_OK) printf("%s%s\n", prompt, text);
        free(text);
    }
    rc = 0;
out:
    free(lg);
    free(ids);
    free(gen);
    cl_model_free(m);
    return rc;
}

int cmd_model(int argc, char **argv)
{
    static const char *usage =
        "model info FILE\n"
        "       cairn model tokenize FILE TEXT [--special]\n"
        "       cairn model make-tiny --arch llama|qwen2|qwen3 [--type f32|f16|q8_0|q4_0|q4_k|q6_k] --out FILE\n"
        "             [--seed N] [--embd N --layers N --heads N --kv-heads N --ff N --vocab N --ctx N]\n"
        "             [--rope-scaling linear --rope-factor F]\n"
        "       cairn model run FILE --prompt TEXT [-n N] [--ids]\n"
        "       cairn model logits FILE --tokens ID,ID,...\n"
        "  info: GGUF header, metadata and tensors of FILE.\n"
        "  tokenize: token ids of TEXT with FILE's tokenizer; --special adds BOS/EOS as\n"
        "  the model asks and turns special-token text (e.g. <s>) into those tokens.\n"
        "  make-tiny: a small GGUF decoder with seeded random weights, for tests.\n"
        "  run: greedy generation of up to N (default 16) tokens after TEXT (--ids:\n"
        "  print the generated token ids instead of text).\n"
        "  logits: one line of logits per position after running the given tokens.";
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
    return cli_usage(usage);
}

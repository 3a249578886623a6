/* tiny.c — cl_make_tiny: a small standard GGUF decoder with seeded random
 * weights and a built-in byte-level BPE vocabulary, for tests. */
#include "llm_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_EMBD = 64, T_HEAD = 4, T_HEAD_KV = 2, T_FF = 96, T_LAYER = 2, T_CTX = 64 };

/* The vocabulary: 256 byte tokens (GPT-2's byte-to-unicode map), a few
 * merges, then <|endoftext|> (EOS). */
static const char *const tiny_merges[] = {"h e", "\xc4\xa0 t", "l l", "i n", "\xc4\xa0t he", "o r", "e r"};
#define N_MERGES (sizeof tiny_merges / sizeof *tiny_merges)
#define N_VOCAB (256 + N_MERGES + 1)

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [-a, a) */
static float rng_uni(uint64_t *s, float a) { return a * (2.0f * (float)(rng_next(s) >> 40) / 16777216.0f - 1.0f); }

/* Adds a tensor of ne1 rows of ne0 values: random in [-a, a) plus `center`,
 * stored as `type` (vectors, ne1 == 1, are always F32). */
cl_status cl_tiny_add_w(cl_gguf_writer *w, uint64_t *rng, const char *name, int type, uint64_t ne0,
                        uint64_t ne1, float a, float center)
{
    uint64_t ne[2] = {ne0, ne1}, r, i;
    size_t rb;
    float *row = malloc(ne0 * sizeof(float));
    uint8_t *buf = NULL;
    cl_status s;
    if (ne1 == 1) type = CL_TYPE_F32;
    /* rows that are not a multiple of 256 cannot be K-quants: llama.cpp then
     * falls back to Q5_0/Q8_0; cairn writes Q4_0/Q8_0 */
    if (type == CL_TYPE_Q4_K && ne0 % 256) type = CL_TYPE_Q4_0;
    if (type == CL_TYPE_Q6_K && ne0 % 256) type = CL_TYPE_Q8_0;
    if ((s = cl_type_row_bytes(type, ne0, &rb))) goto out;
    if (!row || !(buf = malloc(rb * ne1))) {
        s = cl_err(CL_ERR_NOMEM, "make-tiny: out of memory");
        goto out;
    }
    for (r = 0; r < ne1; r++) {
        uint8_t *o = buf + r * rb;
        for (i = 0; i < ne0; i++) row[i] = center + rng_uni(rng, a);
        if (type == CL_TYPE_F32) memcpy(o, row, ne0 * sizeof(float));
        else if (type == CL_TYPE_F16)
            for (i = 0; i < ne0; i++) {
                uint16_t h = cl_f32_to_fp16(row[i]);
                o[2 * i] = (uint8_t)h;
                o[2 * i + 1] = (uint8_t)(h >> 8);
            }
        else if ((s = cl_quantize_row(type, row, o, ne0)))
            goto out;
    }
    s = cl_gguf_writer_add_tensor(w, name, type, ne1 == 1 ? 1 : 2, ne, buf, rb * ne1);
out:
    free(row);
    free(buf);
    return s;
}

static char *merged(const char *m) /* "a b" -> "ab" */
{
    char *r = malloc(strlen(m) + 1), *p = r;
    if (!r) return NULL;
    for (; *m; m++)
        if (*m != ' ') *p++ = *m;
    *p = 0;
    return r;
}

cl_status cl_make_tiny(const char *arch, int type, uint64_t seed, const char *path)
{
    cl_tiny_opts o;
    memset(&o, 0, sizeof o);
    o.arch = arch;
    o.type = type;
    o.seed = seed;
    return cl_make_tiny_opts(&o, path);
}

cl_status cl_make_tiny_opts(const cl_tiny_opts *o, const char *path)
{
    cl_gguf_writer *w = NULL;
    char key[128], *toks[N_VOCAB] = {0};
    int32_t ttype[N_VOCAB];
    const char *arch = o->arch;
    int type = o->type, kq = type == CL_TYPE_Q4_K || type == CL_TYPE_Q6_K;
    /* Q4_K models follow Q4_K_M: ffn_down and the embedding in Q6_K */
    int type_hi = type == CL_TYPE_Q4_K ? CL_TYPE_Q6_K : type;
    uint64_t rng = o->seed;
    uint32_t E = o->n_embd ? o->n_embd : kq ? 256 : T_EMBD, NH = o->n_head ? o->n_head : T_HEAD;
    uint32_t NKV = o->n_head_kv ? o->n_head_kv : T_HEAD_KV, FF = o->n_ff ? o->n_ff : kq ? 256 : T_FF;
    uint32_t NL = o->n_layer ? o->n_layer : T_LAYER, CTX = o->n_ctx ? o->n_ctx : T_CTX;
    uint32_t NV = o->n_vocab > N_VOCAB ? o->n_vocab : N_VOCAB;
    int qwen2 = !strcmp(arch, "qwen2"), qwen3 = !strcmp(arch, "qwen3"), i, l, n = 0;
    const int hd = (int)(E / NH), qd = (int)NH * hd, kvd = (int)NKV * hd;
    int bs = kq ? 32 : cl_type_block_size(type); /* K-quant rows fall back when not a multiple of 256 */
    cl_status s;
    if (!qwen2 && !qwen3 && strcmp(arch, "llama"))
        return cl_err(CL_ERR_INVALID, "make-tiny: architecture '%s' is not one of llama, qwen2, qwen3", arch);
    if (type != CL_TYPE_F32 && type != CL_TYPE_F16 && type != CL_TYPE_Q8_0 && type != CL_TYPE_Q4_0 && !kq)
        return cl_err(CL_ERR_INVALID, "make-tiny: tensor type must be f32, f16, q8_0, q4_0, q4_k or q6_k");
    if (E % NH || NH % NKV || hd % 2 || E % (uint32_t)bs || FF % (uint32_t)bs || E > 65536 || FF > 262144 ||
        NL > 512 || NV > 1000000 || CTX > 1000000)
        return cl_err(CL_ERR_INVALID,
                      "make-tiny: sizes do not fit (embd %u, heads %u/%u, ffn %u: embd and ffn must be multiples of "
                      "%d, heads must divide embd and KV heads the heads)",
                      E, NH, NKV, FF, bs);
    if ((s = cl_gguf_writer_new(&w))) return s;
    for (i = 0; i < 256; i++) { /* GPT-2 byte-to-unicode */
        int printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174);
        char buf[4];
        int len = cl_utf8_encode(printable ? (uint32_t)i : (uint32_t)(256 + n++), buf);
        if (!(toks[i] = malloc(5))) goto nomem;
        memcpy(toks[i], buf, len);
        toks[i][len] = 0;
        ttype[i] = CL_TOKTYPE_NORMAL;
    }
    for (i = 0; i < (int)N_MERGES; i++) {
        if (!(toks[256 + i] = merged(tiny_merges[i]))) goto nomem;
        ttype[256 + i] = CL_TOKTYPE_NORMAL;
    }
    if (!(toks[N_VOCAB - 1] = strdup("<|endoftext|>"))) goto nomem;
    ttype[N_VOCAB - 1] = CL_TOKTYPE_CONTROL;
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    if ((s = cl_gguf_writer_add_str(w, "general.architecture", arch)) ||
        (s = cl_gguf_writer_add_str(w, "general.name", "cairn tiny test model")) ||
        (s = cl_gguf_writer_add_u32(w, KEY("context_length"), CTX)) ||
        (s = cl_gguf_writer_add_u32(w, KEY("embedding_length"), E)) ||
        (s = cl_gguf_writer_add_u32(w, KEY("block_count"), NL)) ||
        (s = cl_gguf_writer_add_u32(w, KEY("feed_forward_length"), FF)) ||
        (s = cl_gguf_writer_add_u32(w, KEY("attention.head_count"), NH)) ||
        (s = cl_gguf_writer_add_u32(w, KEY("attention.head_count_kv"), NKV)) ||
        (s = cl_gguf_writer_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f)) ||
        (s = cl_gguf_writer_add_f32(w, KEY("rope.freq_base"), 10000.0f)) ||
        (s = cl_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (s = cl_gguf_writer_add_str(w, "tokenizer.ggml.pre", qwen2 || qwen3 ? "qwen2" : "llama-bpe")) ||
        (s = cl_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, N_VOCAB)) ||
        (s = cl_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", CL_GGUF_INT32, ttype, N_VOCAB)) ||
        (s = cl_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", tiny_merges, N_MERGES)) ||
        (s = cl_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", N_VOCAB - 1)) ||
        (s = cl_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", N_VOCAB - 1)) ||
        (s = cl_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 0)))
        goto fail;
    if (o->rope_scaling && ((s = cl_gguf_writer_add_str(w, KEY("rope.scaling.type"), o->rope_scaling)) ||
                            (s = cl_gguf_writer_add_f32(w, KEY("rope.scaling.factor"), o->rope_factor))))
        goto fail;
    /* YaRN also needs the original context: the context divided by the factor */
    if (o->rope_scaling && !strcmp(o->rope_scaling, "yarn") &&
        (s = cl_gguf_writer_add_u32(w, KEY("rope.scaling.original_context_length"),
                                    o->rope_factor >= 1.0f && CTX / o->rope_factor >= 1.0f ? (uint32_t)(CTX / o->rope_factor) : 1)))
        goto fail;
#undef KEY
    if ((s = cl_tiny_add_w(w, &rng, "token_embd.weight", type_hi, E, NV, 1.0f, 0.0f))) goto fail;
    for (l = 0; l < (int)NL; l++) {
        char nm[96];
        float a = 1.7f / sqrtf((float)E), af = 1.7f / sqrtf((float)FF);
#define W(what, ne0, ne1, amp, ctr)                                                  \
    (snprintf(nm, sizeof nm, "blk.%d.%s", l, what), cl_tiny_add_w(w, &rng, nm, type, ne0, ne1, amp, ctr))
        if ((s = W("attn_norm.weight", E, 1, 0.2f, 1.0f)) || (s = W("attn_q.weight", E, qd, a, 0.0f)) ||
            (s = W("attn_k.weight", E, kvd, a, 0.0f)) || (s = W("attn_v.weight", E, kvd, a, 0.0f)) ||
            (s = W("attn_output.weight", qd, E, a, 0.0f)))
            goto fail;
        if (qwen2 && ((s = W("attn_q.bias", qd, 1, 0.5f, 0.0f)) || (s = W("attn_k.bias", kvd, 1, 0.5f, 0.0f)) ||
                      (s = W("attn_v.bias", kvd, 1, 0.5f, 0.0f))))
            goto fail;
        if (qwen3 && ((s = W("attn_q_norm.weight", hd, 1, 0.2f, 1.0f)) ||
                      (s = W("attn_k_norm.weight", hd, 1, 0.2f, 1.0f))))
            goto fail;
        if ((s = W("ffn_norm.weight", E, 1, 0.2f, 1.0f)) || (s = W("ffn_gate.weight", E, FF, a, 0.0f)) ||
            (s = W("ffn_up.weight", E, FF, a, 0.0f)))
            goto fail;
        snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
        if ((s = cl_tiny_add_w(w, &rng, nm, type_hi, FF, E, af, 0.0f))) goto fail;
#undef W
    }
    if ((s = cl_tiny_add_w(w, &rng, "output_norm.weight", type, E, 1, 0.2f, 1.0f))) goto fail;
    /* qwen2 ties the output head to the embedding; the others have their own */
    if (!qwen2 && (s = cl_tiny_add_w(w, &rng, "output.weight", type, E, NV, 1.7f / sqrtf((float)E), 0.0f)))
        goto fail;
    s = cl_gguf_writer_write_file(w, path);
    goto fail;
nomem:
    s = cl_err(CL_ERR_NOMEM, "make-tiny: out of memory");
fail:
    for (i = 0; i < (int)N_VOCAB; i++) free(toks[i]);
    cl_gguf_writer_free(w);
    return s;
}

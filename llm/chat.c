/* chat.c — chat templates: which prompt format a model wants, chosen from
 * its GGUF metadata (tokenizer.chat_template, else the architecture and
 * vocabulary), and rendering a list of {role, content} messages to prompt
 * text in that format. Formats (as their model cards publish them):
 *   ChatML (Qwen):  <|im_start|>ROLE\nCONTENT<|im_end|>\n ... then
 *                   <|im_start|>assistant\n
 *   Llama-3:        <|begin_of_text|> then per message
 *                   <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>
 *                   (content trimmed), then
 *                   <|start_header_id|>assistant<|end_header_id|>\n\n
 * The template's Jinja code is not executed: it is only recognised. */
#include "llm_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct sb {
    char *p;
    size_t len, cap;
    int oom;
} sb;

static void sb_put(sb *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *np;
        while (b->len + n + 1 > cap) cap *= 2;
        if (!(np = realloc(b->p, cap))) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sb *b, const char *s) { sb_put(b, s, strlen(s)); }

static int contains(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;
    for (i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k)) return 1;
    return 0;
}

static int vocab_has(const cl_gguf *g, const char *tok)
{
    cl_gguf_arr a;
    uint64_t i;
    size_t k = strlen(tok);
    if (cl_gguf_get_arr(g, "tokenizer.ggml.tokens", &a) != CL_OK) return 0;
    for (i = 0; i < a.n; i++) {
        const char *s;
        size_t l;
        if (cl_gguf_arr_get_str(&a, i, &s, &l) == CL_OK && l == k && !memcmp(s, tok, k)) return 1;
    }
    return 0;
}

cl_status cl_chat_template_from_gguf(const cl_gguf *g, cl_chat_template *out)
{
    const char *tpl, *arch = "";
    size_t tl, al = 0;
    memset(out, 0, sizeof *out);
    if (cl_gguf_get_str(g, "tokenizer.chat_template", &tpl, &tl) == CL_OK) {
        if (contains(tpl, tl, "<|im_start|>")) {
            out->format = CL_CHAT_CHATML;
            /* Qwen's templates add a system message when the caller gives none */
            if (contains(tpl, tl, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."))
                out->default_system = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
            else if (contains(tpl, tl, "'You are a helpful assistant.'") ||
                     contains(tpl, tl, "\"You are a helpful assistant.\"") ||
                     contains(tpl, tl, "system\\nYou are a helpful assistant."))
                out->default_system = "You are a helpful assistant.";
            return CL_OK;
        }
        if (contains(tpl, tl, "<|start_header_id|>")) {
            out->format = CL_CHAT_LLAMA3;
            return CL_OK;
        }
        return cl_err(CL_ERR_UNSUPPORTED,
                      "chat: tokenizer.chat_template is not a format cairn renders (ChatML and Llama-3 are)");
    }
    cl_gguf_get_str(g, "general.architecture", &arch, &al);
    if ((al == 5 && !memcmp(arch, "qwen2", 5)) || (al == 5 && !memcmp(arch, "qwen3", 5)) ||
        vocab_has(g, "<|im_start|>")) {
        out->format = CL_CHAT_CHATML;
        return CL_OK;
    }
    if (vocab_has(g, "<|start_header_id|>")) {
        out->format = CL_CHAT_LLAMA3;
        return CL_OK;
    }
    return cl_err(CL_ERR_UNSUPPORTED,
                  "chat: the model has no tokenizer.chat_template and its architecture '%.*s' names no chat format",
                  (int)(al < 32 ? al : 32), arch);
}

static int role_ok(const char *r)
{
    return r && (!strcmp(r, "system") || !strcmp(r, "user") || !strcmp(r, "assistant") || !strcmp(r, "tool"));
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* The prompt text into b; spans (NULL, or 2 per message): where each
 * message's content lies in it, [spans[2i], spans[2i+1]). */
static cl_status render(const cl_chat_template *t, const cl_chat_msg *msgs, size_t n, int add_generation_prompt,
                        sb *b, size_t *spans)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!role_ok(msgs[i].role) || !msgs[i].content)
            return cl_err(CL_ERR_INVALID, "chat: message %zu has role '%s' (system, user, assistant or tool) %s", i,
                          msgs[i].role ? msgs[i].role : "(none)", msgs[i].content ? "" : "and no content");
    sb_str(b, "");
    switch (t->format) {
    case CL_CHAT_CHATML:
        if (t->default_system && (!n || strcmp(msgs[0].role, "system"))) {
            sb_str(b, "<|im_start|>system\n");
            sb_str(b, t->default_system);
            sb_str(b, "<|im_end|>\n");
        }
        for (i = 0; i < n; i++) {
            sb_str(b, "<|im_start|>");
            sb_str(b, msgs[i].role);
            sb_str(b, "\n");
            if (spans) spans[2 * i] = b->len;
            sb_str(b, msgs[i].content);
            if (spans) spans[2 * i + 1] = b->len;
            sb_str(b, "<|im_end|>\n");
        }
        if (add_generation_prompt) sb_str(b, "<|im_start|>assistant\n");
        break;
    case CL_CHAT_LLAMA3:
        sb_str(b, "<|begin_of_text|>");
        for (i = 0; i < n; i++) {
            const char *c = msgs[i].content;
            size_t cl = strlen(c);
            while (cl && is_ws(*c)) c++, cl--;
            while (cl && is_ws(c[cl - 1])) cl--;
            sb_str(b, "<|start_header_id|>");
            sb_str(b, !strcmp(msgs[i].role, "tool") ? "ipython" : msgs[i].role);
            sb_str(b, "<|end_header_id|>\n\n");
            if (spans) spans[2 * i] = b->len;
            sb_put(b, c, cl);
            if (spans) spans[2 * i + 1] = b->len;
            sb_str(b, "<|eot_id|>");
        }
        if (add_generation_prompt) sb_str(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    default:
        return cl_err(CL_ERR_INVALID, "chat: no chat format chosen");
    }
    if (b->oom) return cl_err(CL_ERR_NOMEM, "chat: out of memory");
    return CL_OK;
}

cl_status cl_chat_render(const cl_chat_template *t, const cl_chat_msg *msgs, size_t n, int add_generation_prompt,
                         char **out, size_t *len)
{
    sb b = {0};
    cl_status st;
    *out = NULL;
    if (len) *len = 0;
    if ((st = render(t, msgs, n, add_generation_prompt, &b, NULL))) {
        free(b.p);
        return st;
    }
    *out = b.p;
    if (len) *len = b.len;
    return CL_OK;
}

cl_status cl_chat_tokenize(const cl_tokenizer *tk, const cl_chat_template *t, const cl_chat_msg *msgs, size_t n,
                           int add_generation_prompt, cl_token **out, size_t *n_out)
{
    sb b = {0};
    size_t *spans = NULL;
    cl_status st;
    *out = NULL;
    *n_out = 0;
    if (n && !(spans = malloc(2 * n * sizeof *spans))) return cl_err(CL_ERR_NOMEM, "chat: out of memory");
    /* one pass over the whole text (so the tokens at a content's edges are
     * those of the whole), control tokens matched only outside contents */
    if (!(st = render(t, msgs, n, add_generation_prompt, &b, spans)))
        st = cl_tokenize_plain(tk, b.p, b.len, 0, 1, spans, n, out, n_out);
    free(spans);
    free(b.p);
    return st;
}

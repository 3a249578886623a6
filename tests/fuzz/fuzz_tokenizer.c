/* fuzz_tokenizer.c — libFuzzer harness: the three tokenizer kinds on
 * arbitrary text. Vocabularies come from $CAIRN_SHARED/vocab (byte-level
 * BPE, SentencePiece, WordPiece). Properties checked on every input:
 * encoding never fails on valid UTF-8 and gives ids inside the
 * vocabulary; byte-level BPE is lossless (decode(encode(x)) == x). */
#include "llm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static const char *const names[] = {
    "ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-bert-bge.gguf"};
static cl_tokenizer *toks[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *dir = getenv("CAIRN_SHARED");
    int found = 0;
    for (int i = 0; i < 3; i++) {
        char path[4096];
        cl_gguf *g = NULL;
        snprintf(path, sizeof path, "%s/vocab/%s", dir ? dir : "../shared", names[i]);
        if (cl_gguf_open(path, &g) != CL_OK) continue;
        if (cl_tokenizer_new(g, &toks[i]) == CL_OK) found++;
        cl_gguf_close(g);
    }
    if (!found) {
        fprintf(stderr, "fuzz_tokenizer: no vocabulary found under $CAIRN_SHARED/vocab\n");
        exit(77);
    }
    return 0;
}

/* Whether s[0..n) is valid UTF-8 without NUL bytes (what callers pass). */
static int valid_text(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c == 0) return 0;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int valid = valid_text(data, size);
    for (int i = 0; i < 3; i++) {
        cl_token *ids = NULL;
        size_t n = 0;
        if (!toks[i]) continue;
        cl_status st = cl_tokenize(toks[i], (const char *)data, size, 0, 0, &ids, &n);
        if (valid) FUZZ_ASSERT(st == CL_OK);
        if (st != CL_OK) continue;
        for (size_t k = 0; k < n; k++)
            FUZZ_ASSERT(ids[k] >= 0 && ids[k] < cl_tokenizer_n_vocab(toks[i]));
        char *back = NULL;
        size_t len = 0;
        FUZZ_ASSERT(cl_detokenize(toks[i], ids, n, 0, &back, &len) == CL_OK);
        if (i == 0 && valid) FUZZ_ASSERT(len == size && memcmp(back, data, size) == 0);
        free(back);
        free(ids);
    }
    return 0;
}

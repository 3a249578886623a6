/* fuzz_gguf.c — libFuzzer harness: the GGUF reader and, when the bytes
 * parse, the tokenizer built from their metadata. Any input must give an
 * error or a handle whose every reported tensor lies inside the input. */
#include "llm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cl_gguf *g = NULL;
    if (cl_gguf_open_mem(data, size, &g) != CL_OK) return 0;
    FUZZ_ASSERT(g != NULL);

    /* Every metadata key and tensor the reader accepted must be readable. */
    for (int64_t i = 0; i < cl_gguf_n_kv(g); i++) {
        const char *k = cl_gguf_key(g, i);
        FUZZ_ASSERT(k != NULL);
        FUZZ_ASSERT(cl_gguf_find_key(g, k) >= 0);
    }
    for (int64_t i = 0; i < cl_gguf_n_tensors(g); i++) {
        const cl_tensor *t = cl_gguf_tensor(g, i);
        FUZZ_ASSERT(t != NULL);
        const uint8_t *p = t->data;
        FUZZ_ASSERT(p >= data && p + t->n_bytes <= data + size);
    }

    cl_tokenizer *tok = NULL;
    if (cl_tokenizer_new(g, &tok) == CL_OK) {
        static const char text[] = "Hello, world! 123 <|endoftext|> caf\xc3\xa9  \n\tend";
        cl_token *ids = NULL;
        size_t n = 0;
        if (cl_tokenize(tok, text, sizeof text - 1, 1, 1, &ids, &n) == CL_OK) {
            char *back = NULL;
            size_t len = 0;
            for (size_t i = 0; i < n; i++)
                FUZZ_ASSERT(ids[i] >= 0 && ids[i] < cl_tokenizer_n_vocab(tok));
            if (cl_detokenize(tok, ids, n, 1, &back, &len) == CL_OK) free(back);
            free(ids);
        }
        cl_tokenizer_free(tok);
    }
    cl_gguf_close(g);
    return 0;
}

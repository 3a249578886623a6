/* fuzz_parse.c — libFuzzer harness: the document parsers (txt, md, html,
 * json, jsonl) and the chunker on what they extract. The first byte picks
 * the format. Properties: every document's text is valid UTF-8 of the
 * stated length, every section and chunk lies inside it, chunks never
 * split a UTF-8 sequence. */
#include "retrieval.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static cc_status on_doc(void *ud, const cr_doc *doc)
{
    (void)ud;
    FUZZ_ASSERT(cc_utf8_check(doc->text, doc->len) == doc->len);
    FUZZ_ASSERT(memchr(doc->text, 0, doc->len) == NULL);
    for (size_t i = 0; i < doc->n_sections; i++)
        FUZZ_ASSERT(doc->sections[i].start_byte <= doc->len);
    cr_chunk *ch = NULL;
    size_t n = 0;
    cr_chunk_opts co = {40, 8};
    if (cr_chunk_text(doc, &co, &ch, &n) != CC_OK) return CC_OK;
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(ch[i].start_byte <= ch[i].end_byte && ch[i].end_byte <= doc->len);
        FUZZ_ASSERT((doc->text[ch[i].start_byte] & 0xC0) != 0x80);
        FUZZ_ASSERT(ch[i].end_byte == doc->len ||
                    (doc->text[ch[i].end_byte] & 0xC0) != 0x80);
        FUZZ_ASSERT(ch[i].start_char <= ch[i].end_char);
    }
    free(ch);
    return CC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cr_format fmts[] = {CR_FMT_TXT, CR_FMT_MD, CR_FMT_HTML, CR_FMT_JSON, CR_FMT_JSONL};
    if (size < 1) return 0;
    cr_format fmt = fmts[data[0] % 5];
    cr_parse_opts po = {0};
    po.repair_utf8 = data[0] >= 128;
    cc_buf err = CC_BUF_INIT(4096);
    cr_parse("fuzz", fmt, (const char *)data + 1, size - 1, &po, on_doc, NULL, &err);
    cc_buf_free(&err);
    return 0;
}

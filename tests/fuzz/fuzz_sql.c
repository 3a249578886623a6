/* fuzz_sql.c — libFuzzer harness: the query language's lexer and
 * statement front-end. Any text must split into statements or give an
 * error with a line and column; the parser always moves forward and its
 * byte ranges stay inside the text. */
#include "sql_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char settings[] = "{\"chunk\":{\"target_tokens\":300},\"embedder\":{\"name\":\"hash\"}}";
    char *text = malloc(size + 1), err[512];
    cq_stmt st;
    size_t from = 0;
    int r;
    FUZZ_ASSERT(text);
    memcpy(text, data, size);
    text[size] = 0;          /* callers pass C strings: NUL ends the text */
    size_t n = strlen(text);
    memset(&st, 0, sizeof st);
    cc_buf_init(&st.sql, 1 << 24);
    while ((r = cq_parse_next(text, from, settings, &st, err, sizeof err)) == 1) {
        FUZZ_ASSERT(st.start >= from && st.start <= st.end && st.end <= n);
        FUZZ_ASSERT(st.next > from && st.next <= n + 1);
        from = st.next;
        if (from >= n) break;
    }
    if (r < 0) FUZZ_ASSERT(strncmp(err, "line ", 5) == 0);
    cq_stmt_clear(&st);
    free(text);
    return 0;
}

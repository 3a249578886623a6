/* check.h — the tiny test harness: CHECK prints file:line and keeps going,
 * CHECK_OK also prints the status string and message; main returns
 * check_done(). SKIP exits 77 (ctest: skipped) with a reason. */
#ifndef CAIRN_CHECK_H
#define CAIRN_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond) do { check_count++; if (!(cond)) { check_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { check_count++; if (!(cond)) { check_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); check_count++; \
    if (!a_ || !b_ || strcmp(a_, b_)) { check_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s == %s\n  got:  %s\n  want: %s\n", __FILE__, \
            __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } } while (0)
#define SKIP(...) do { printf("SKIP: "); printf(__VA_ARGS__); printf("\n"); exit(77); } while (0)

/* Reads a whole file (NUL-terminated; *n = its length). Caller frees;
 * NULL when it cannot be read. */
static inline char *check_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long len;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        p = malloc((size_t)len + 1);
        if (p && fread(p, 1, (size_t)len, f) != (size_t)len) { free(p); p = NULL; }
        if (p) { p[len] = 0; *n = (size_t)len; }
    }
    fclose(f);
    return p;
}

static inline int check_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}
#endif

#ifdef CAIRN_CORE_H
#define CHECK_OK(expr) do { cc_status s_ = (expr); check_count++; if (s_ != CC_OK) { \
    check_failures++; fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr, \
    cc_status_str(s_), cc_errmsg()); } } while (0)
#endif

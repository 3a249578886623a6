/* bench_extract.c — throughput of the rules extractor (MB/s) on generated
 * English-like business text, cut into ~2 KB chunks as the chunker would.
 * Usage: bench_extract [megabytes (default 4) | DIR]
 * With a directory, its files (recursively, raw bytes, invalid UTF-8
 * skipped) are the text instead. */
#define _XOPEN_SOURCE 700
#include "graph.h"

#include <ftw.h>
#include <stdlib.h>
#include <string.h>

static const char *const first[] = { "Ana", "Jonas", "Maria", "Peter", "Kari", "Liam", "Sofia", "Omar" };
static const char *const last[] = { "Ruiz", "Berg", "Lopez", "Hansen", "Novak", "Tanaka", "Okafor", "Meyer" };
static const char *const org[] = { "Norvale", "Kestrel", "Orca Systems", "Bergen Maritime Safety Authority",
                                    "Fjord Energy AS", "Atlas Holdings Ltd", "Helios GmbH", "Procter & Gamble" };
static const char *const place[] = { "Oslo", "Bergen", "Madrid", "Zürich", "Lyon", "Tokyo" };
static const char *const verb[] = { "acquired", "signed with", "partnered with", "supplies", "sued", "hired" };

static unsigned rng = 12345;
static unsigned rnd(unsigned n) { rng = rng * 1103515245u + 12345u; return (rng >> 16) % n; }
#define PICK(a) a[rnd(sizeof a / sizeof a[0])]

static void sentence(cc_buf *b)
{
    switch (rnd(8)) {
    case 0: cc_buf_printf(b, "%s %s, CFO of %s, said the deal closed on %u March 2024. ",
                          PICK(first), PICK(last), PICK(org), 1 + rnd(28)); break;
    case 1: cc_buf_printf(b, "%s %s %s for EUR %u.%u million in %s. ", PICK(org), PICK(verb),
                          PICK(org), rnd(900), rnd(10), PICK(place)); break;
    case 2: cc_buf_printf(b, "However, revenue grew %u%% while the fleet carried %u,%03u kg over %u km. ",
                          rnd(40), rnd(90), rnd(1000), rnd(500)); break;
    case 3: cc_buf_printf(b, "%s's CEO, %s %s, launched products such as PX-%u-v2, KV-%u rev C and %s Beacon. ",
                          PICK(org), PICK(first), PICK(last), rnd(9999), rnd(99), PICK(place)); break;
    case 4: cc_buf_printf(b, "%s is a Norwegian shipping company based in %s. ", PICK(org), PICK(place)); break;
    case 5: cc_buf_printf(b, "The board met on 2024-0%u-1%u and approved a budget of $%u,%03u. ",
                          1 + rnd(9), rnd(10), rnd(999), rnd(1000)); break;
    case 6: cc_buf_printf(b, "According to the report, the project was delayed by weather, supply issues "
                          "and a shortage of trained staff, and the contractor expects further costs. "); break;
    default: cc_buf_printf(b, "%s was acquired by %s after talks with regulators in %s.\n\n",
                           PICK(org), PICK(org), PICK(place)); break;
    }
}

static cc_buf *files_text;

static int add_file(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    size_t n = 0;
    FILE *f;
    char *p;
    (void)sb; (void)ftw;
    if (type != FTW_F || !(f = fopen(path, "rb"))) return 0;
    if ((p = malloc((size_t)sb->st_size + 1)) && (n = fread(p, 1, (size_t)sb->st_size, f)) > 0 &&
        cc_utf8_check(p, n) == n && !memchr(p, 0, n)) {
        cc_buf_append(files_text, p, n);
        cc_buf_putc(files_text, '\n');
    }
    free(p);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    long mb = argc > 1 ? strtol(argv[1], NULL, 10) : 4;
    cc_buf text = CC_BUF_INIT(0);
    cg_extractor *ex = NULL;
    cg_extraction x;
    size_t target, off = 0, nm = 0, nr = 0, nchunks = 0, nwarn = 0;
    int64_t chars = 0;
    double t0, ms;
    if (mb < 1 || mb > 1024) mb = 4;
    target = (size_t)mb << 20;
    if (argc > 1 && (argv[1][0] < '0' || argv[1][0] > '9')) {
        cc_buf_init(&text, (size_t)1 << 31);
        files_text = &text;
        if (nftw(argv[1], add_file, 16, FTW_PHYS) != 0 || !text.len) {
            fprintf(stderr, "bench_extract: nothing read from %s\n", argv[1]);
            return 1;
        }
    } else {
        while (text.len < target) sentence(&text);
    }
    if (cg_extractor_rules_new(NULL, &ex)) { fprintf(stderr, "%s\n", cc_errmsg()); return 1; }
    cg_extraction_init(&x);
    t0 = cc_now_ms();
    while (off < text.len) {
        size_t end = off + 2048;
        cg_chunk c;
        if (end >= text.len) end = text.len;
        else {
            while (end > off + 1 && text.data[end - 1] != ' ') end--;   /* cut at a space */
        }
        c.text = text.data + off; c.len = end - off;
        c.start_byte = (int64_t)off; c.start_char = chars;
        if (cg_extractor_run(ex, &c, &x)) { fprintf(stderr, "%s\n", cg_extractor_errmsg(ex)); return 1; }
        nm += x.n_mentions; nr += x.n_relations; nwarn += x.n_warnings;
        chars += (int64_t)cc_utf8_count(c.text, c.len);
        off = end;
        nchunks++;
    }
    ms = cc_now_ms() - t0;
    printf("rules/1: %.2f MB in %zu chunks, %.1f ms, %.1f MB/s, %zu mentions, %zu relations, %zu warnings\n",
           (double)text.len / (1 << 20), nchunks, ms, (double)text.len / (1 << 20) / (ms / 1000.0),
           nm, nr, nwarn);
    cg_extraction_free(&x);
    cg_extractor_free(ex);
    cc_buf_free(&text);
    return 0;
}

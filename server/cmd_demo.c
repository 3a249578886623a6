/* cmd_demo.c — `cairn demo [KB]`: the README's main job. Builds a knowledge
 * base from the bundled sample corpus (datasets/corpus) and runs a few
 * searches on it. Re-running it re-ingests nothing that is unchanged. */
#include "cli.h"
#include "retrieval.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static const char *const demo_queries[] = {
    "PX-9000-v2 heading freeze",
    "chief financial officer of Norvale Systems",
    "MV Saltmere Star grounding fine",
};

/* Sample questions from datasets/eval/questions.jsonl (q003, q091) and
 * one the corpus cannot answer. */
static const char *const demo_questions[] = {
    "Which company did Kestrel Avionics Ltd acquire in 2023?",
    "How much did Norvale Analytics BV raise in its Series A round?",
    "What xylophone quartet performed zebra polkas?",
};

int cmd_demo(int argc, char **argv)
{
    const char *kbdir = argc > 1 ? argv[1] : "demo-kb";
    const char *src = getenv("CAIRN_SRC");
    cc_buf corpus = CC_BUF_INIT(0);
    static char kbabs[4096];
    struct stat sb;
    char *args[3];
    size_t i;
    int ret;

    if (argc > 2 || (argc > 1 && !strcmp(argv[1], "--help")))
        return cli_usage("demo [KB]\n  Creates KB (default ./demo-kb) from datasets/corpus, searches it and asks it questions.");
    if (!src) src = CAIRN_SOURCE_DIR;
    /* ingest by a path relative to the source tree, so document uris read
     * "datasets/corpus/..." wherever the tree lives */
    if (kbdir[0] != '/') {
        char *abs = realpath(".", NULL);
        if (!abs) return cli_error("cannot resolve the current directory");
        snprintf(kbabs, sizeof kbabs, "%s/%s", abs, kbdir);
        free(abs);
        kbdir = kbabs;
    }
    if (chdir(src) != 0)
        return cli_error("cannot enter the source tree %s (set CAIRN_SRC)", src);
    cc_buf_puts(&corpus, "datasets/corpus");
    if (stat(corpus.data, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cli_error("sample corpus not found at %s (set CAIRN_SRC to the source tree)", corpus.data);
        cc_buf_free(&corpus);
        return 1;
    }
    if (stat(kbdir, &sb) != 0) {
        if (cc_kb_create(kbdir) != CC_OK) {
            cc_buf_free(&corpus);
            return cli_error("%s", cc_errmsg());
        }
        printf("== created knowledge base %s\n", kbdir);
    }
    printf("== ingesting %s\n", corpus.data);
    fflush(stdout);
    args[0] = "ingest";
    args[1] = (char *)kbdir;
    args[2] = corpus.data;
    ret = cmd_ingest(3, args);
    cc_buf_free(&corpus);
    if (ret) return ret;
    for (i = 0; i < sizeof demo_queries / sizeof demo_queries[0]; i++) {
        char *sargs[6] = {"search", (char *)kbdir, (char *)demo_queries[i], "-k", "3", "--explain"};
        printf("\n== cairn search %s \"%s\" -k 3 --explain\n", argc > 1 ? argv[1] : "demo-kb",
               demo_queries[i]);
        fflush(stdout);
        if ((ret = cmd_search(6, sargs))) break;
        fflush(stdout);
    }
    for (i = 0; !ret && i < sizeof demo_questions / sizeof demo_questions[0]; i++) {
        char *qargs[3] = {"ask", (char *)kbdir, (char *)demo_questions[i]};
        printf("\n== cairn ask %s \"%s\"\n", argc > 1 ? argv[1] : "demo-kb", demo_questions[i]);
        fflush(stdout);
        ret = cmd_ask(3, qargs);
        fflush(stdout);
    }
    return ret;
}

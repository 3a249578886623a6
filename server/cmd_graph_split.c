/* cmd_graph_split.c — `cairn graph split KB ENTITY [ALIAS]` (dispatched by
 * cmd_graph.c): lists the merges recorded into an entity, or undoes one
 * (cg_split) and rebuilds the Redland store, which a split changes outside
 * the change log. */
#include "cli.h"
#include "graph.h"

#include <stdio.h>
#include <string.h>

static const char split_usage[] =
    "graph split KB ENTITY [ALIAS]\n"
    "  ENTITY is an entity id (42 or #42) or a name.  Without ALIAS, lists the\n"
    "  names merged into the entity (merge id, reason, evidence, state).  With\n"
    "  ALIAS (a merged name, as listed, or its normalised form), undoes that\n"
    "  merge: the name's mentions go to an entity of their own, relations\n"
    "  stated in their sentences follow them, and later ingestion keeps the\n"
    "  name apart from ENTITY.\n"
    "  --wait SECONDS (after KB): wait up to SECONDS for another writer to let go.\n";

int cmd_graph_split(int argc, char **argv)
{
    const char *kbdir, *name, *alias;
    cc_kb *kb;
    int64_t eid, nid = 0;
    size_t nm = 0, nr = 0, n = 0, i;
    cg_merge *m = NULL;
    int ret = 0, o = 0, wi = 2;
    if (argc >= 2 && !strcmp(argv[1], "--help")) { fputs(split_usage, stdout); return 0; }
    if (argc >= 4 && (ret = cli_opt_wait(argc, argv, &wi))) {   /* right after KB */
        if (ret < 0) return 2;
        o = 2;
        ret = 0;
    }
    if (argc - o < 3 || argc - o > 4) return cli_usage(split_usage);
    kbdir = argv[1];
    name = argv[2 + o];
    alias = argc - o == 4 ? argv[3 + o] : NULL;
    if (cc_kb_open(kbdir, alias ? CC_KB_WRITE : CC_KB_READ, &kb) != CC_OK)
        return cli_error("%s", cc_errmsg());
    if (cg_entity_find(kb, name, &eid) != CC_OK) {
        ret = cli_error("%s", cc_kb_errmsg(kb));
        goto out;
    }
    if (!alias) {
        if (cg_merges_list(kb, eid, &m, &n) != CC_OK) {
            ret = cli_error("%s", cc_kb_errmsg(kb));
            goto out;
        }
        if (!n) printf("entity %lld: no merges recorded\n", (long long)eid);
        for (i = 0; i < n; i++) {
            printf("merge %lld  %-10s  \"%s\"  chunk %lld [%lld,%lld)  %s", (long long)m[i].id,
                   m[i].reason, m[i].alias, (long long)m[i].chunk_id,
                   (long long)m[i].start_char, (long long)m[i].end_char, m[i].at);
            if (m[i].undone_at)
                printf("  undone %s -> entity %lld", m[i].undone_at, (long long)m[i].split_id);
            putchar('\n');
        }
        goto out;
    }
    if (cg_split(kb, eid, alias, &nid, &nm, &nr) != CC_OK) {
        ret = cli_error("%s", cc_kb_errmsg(kb));
        goto out;
    }
    printf("split \"%s\" from entity %lld: now entity %lld (%zu mentions, %zu relations moved)\n",
           alias, (long long)eid, (long long)nid, nm, nr);
    if (cg_sync_derived(kb, NULL) != CC_OK || cg_graph_sync(kb, 1, NULL) != CC_OK)
        ret = cli_error("split done, but the derived indexes did not catch up: %s "
                        "(cairn graph rebuild retries)", cc_kb_errmsg(kb));
out:
    cg_merges_free(m, n);
    cc_kb_close(kb);
    return ret;
}

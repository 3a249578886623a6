/* cmd_init.c — `cairn init KB [--graph-storage bdb|postgresql]
 * [--graph-conninfo 'host=.. port=.. dbname=.. user=..'] [--graph-model NAME]`:
 * create a knowledge base, its graph store on Berkeley DB files (default)
 * or in a PostgreSQL database (graph/storage.c).  The conninfo is checked
 * here (no password: that comes from PGPASSWORD or ~/.pgpass); the server
 * is first reached by the first ingestion. */
#include "cli.h"
#include "graph.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define USAGE "init KB [--graph-storage bdb|postgresql] [--graph-conninfo 'host=H port=P " \
              "dbname=D user=U'] [--graph-model NAME]\n" \
              "  Creates the directory KB with an empty catalog.  With --graph-storage\n" \
              "  postgresql the graph store is a Redland model in that PostgreSQL database\n" \
              "  (named NAME; default: a new random name, so two KBs never share one).\n" \
              "  The password comes from PGPASSWORD or ~/.pgpass, never from cairn.json."

/* "cairn_" and 16 random hex digits. */
static int random_model(char out[32])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[8];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC), i;
    if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    memcpy(out, "cairn_", 6);
    for (i = 0; i < 8; i++) { out[6 + 2 * i] = hex[r[i] >> 4]; out[7 + 2 * i] = hex[r[i] & 15]; }
    out[22] = 0;
    return 0;
}

static int set_str(cc_kb *kb, const char *key, const char *v)
{
    cc_buf j = CC_BUF_INIT(0);
    cc_status s = cc_buf_json_str(&j, v, strlen(v));
    if (!s) s = cc_kb_setting_set(kb, key, j.data);
    cc_buf_free(&j);
    return s != CC_OK;
}

int cmd_init(int argc, char **argv)
{
    const char *kbdir = NULL, *storage = NULL, *conninfo = NULL, *model = NULL;
    char rnd[32];
    cc_kb *kb = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) return cli_usage(USAGE);
        if (!strcmp(a, "--graph-storage") && i + 1 < argc) storage = argv[++i];
        else if (!strcmp(a, "--graph-conninfo") && i + 1 < argc) conninfo = argv[++i];
        else if (!strcmp(a, "--graph-model") && i + 1 < argc) model = argv[++i];
        else if (a[0] == '-' && a[1]) return cli_usage(USAGE);
        else if (!kbdir) kbdir = a;
        else return cli_usage(USAGE);
    }
    if (!kbdir) return cli_usage(USAGE);
    if (storage && strcmp(storage, "bdb") && strcmp(storage, "postgresql"))
        return cli_error("--graph-storage must be bdb or postgresql, not '%s'", storage);
    if ((conninfo || model) && (!storage || strcmp(storage, "postgresql")))
        return cli_error("--graph-conninfo and --graph-model go with --graph-storage postgresql");
    if (storage && !strcmp(storage, "postgresql")) {
        cg_storage g;
        cc_status s;
        memset(&g, 0, sizeof g);
        s = cg_storage_parse_conninfo(conninfo ? conninfo : "", &g);
        cg_storage_free(&g);
        if (s) return cli_error("%s", cc_errmsg());
        if (model && (!*model || strlen(model) > 200 || strpbrk(model, " \t\n'\"\\,")))
            return cli_error("--graph-model: 1-200 characters, no spaces, quotes, backslashes "
                             "or commas");
        if (!model) {
            if (random_model(rnd)) return cli_error("cannot read /dev/urandom for a model name");
            model = rnd;
        }
    }
    if (cc_kb_create(kbdir) != CC_OK) return cli_error("%s", cc_errmsg());
    if (storage) {
        if (cc_kb_open(kbdir, CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
        if (set_str(kb, "graph.storage", storage) ||
            (conninfo && set_str(kb, "graph.postgresql.conninfo", conninfo)) ||
            (model && set_str(kb, "graph.postgresql.model", model))) {
            int rc = cli_error("%s", cc_kb_errmsg(kb));
            cc_kb_close(kb);
            return rc;
        }
        cc_kb_close(kb);
    }
    printf("created knowledge base %s\n", kbdir);
    if (storage && !strcmp(storage, "postgresql"))
        printf("graph store: PostgreSQL model %s (created on the first ingestion)\n", model);
    return 0;
}

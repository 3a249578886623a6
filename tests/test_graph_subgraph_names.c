/* test_graph_subgraph_names.c — the seeds cg_subgraph_extract finds for a
 * question's names are the ones the whole question gives: every word (a
 * word in more than 500 names only in a phrase with a neighbour) OR-ed
 * into one FTS5 query ranked by bm25, each name confirmed in the question.
 * The extraction leaves out the words in no name and the phrases with
 * them; this checks that the seeds and their order do not change, on a
 * KB with 600 "... Systems" names (a common word), names that share a
 * word and rank differently, and words in no name on either side. */
#include "graph.h"
#include "check.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

static const char *const syl[] = { "ta", "ko", "ri", "ven", "lo", "mar", "si", "de", "qua", "bel" };

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) fprintf(stderr, "test_graph_subgraph_names: %s\n", err ? err : "?");
    sqlite3_free(err);
    return rc;
}

static void add_entity(sqlite3 *db, sqlite3_stmt *ent, sqlite3_stmt *nam, int64_t id, const char *name)
{
    cc_buf k = CC_BUF_INIT(0);
    CHECK(cg_norm_key(name, strlen(name), &k, NULL) == CC_OK);
    sqlite3_bind_int64(ent, 1, id);
    sqlite3_bind_text(ent, 2, k.data, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ent, 3, name, -1, SQLITE_TRANSIENT);
    CHECK_MSG(sqlite3_step(ent) == SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_reset(ent);
    sqlite3_bind_int64(nam, 1, id);
    sqlite3_bind_text(nam, 2, name, -1, SQLITE_TRANSIENT);
    CHECK_MSG(sqlite3_step(nam) == SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_reset(nam);
    cc_buf_free(&k);
}

/* 1 when name occurs in q as whole words (case as given) or q has its
 * first word (the confirmation rule, for these plain names) */
static int confirmed(const char *q, const char *name)
{
    const char *sp = strchr(name, ' ');
    size_t fw = sp ? (size_t)(sp - name) : strlen(name);
    char first[64];
    if (strstr(q, name)) return 1;
    if (fw < 4 || fw >= sizeof first) return 0;
    memcpy(first, name, fw);
    first[fw] = 0;
    for (const char *p = q; (p = strstr(p, first)); p++)
        if ((p == q || p[-1] == ' ') && (p[fw] == ' ' || p[fw] == '?' || p[fw] == 0)) return 1;
    return 0;
}

/* The seeds the unfiltered query gives: every word of q (plain ASCII
 * words, space-separated, '?' dropped), a common one as phrases with its
 * neighbours. */
static size_t reference_seeds(sqlite3 *db, const char *q, int64_t *ids, size_t max)
{
    char words[32][32];
    size_t nw = 0, n = 0;
    cc_buf m = CC_BUF_INIT(0), w = CC_BUF_INIT(0);
    sqlite3_stmt *df, *st;
    for (const char *p = q; *p && nw < 32;) {
        size_t l = 0;
        while (*p == ' ' || *p == '?') p++;
        while (*p && *p != ' ' && *p != '?' && l < 31) words[nw][l++] = *p++;
        words[nw][l] = 0;
        if (l >= 2) nw++;
    }
    CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM (SELECT 1 FROM entity_names WHERE"
                             " entity_names MATCH ?1 LIMIT 501)", -1, &df, NULL) == SQLITE_OK);
    for (size_t i = 0; i < nw; i++) {
        int common;
        cc_buf_reset(&w);
        cc_buf_printf(&w, "\"%s\"", words[i]);
        sqlite3_bind_text(df, 1, w.data, -1, SQLITE_TRANSIENT);
        common = sqlite3_step(df) == SQLITE_ROW && sqlite3_column_int(df, 0) > 500;
        sqlite3_reset(df);
        if (!common) cc_buf_printf(&m, "%s\"%s\"", m.len ? " OR " : "", words[i]);
        if (common && i > 0) cc_buf_printf(&m, "%s\"%s %s\"", m.len ? " OR " : "", words[i - 1], words[i]);
        if (common && i + 1 < nw) cc_buf_printf(&m, "%s\"%s %s\"", m.len ? " OR " : "", words[i], words[i + 1]);
    }
    sqlite3_finalize(df);
    CHECK(sqlite3_prepare_v2(db, "SELECT rowid, names FROM entity_names WHERE entity_names MATCH ?1"
                             " ORDER BY rank LIMIT 200", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, m.data ? m.data : "", -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW && n < max)
        if (confirmed(q, (const char *)sqlite3_column_text(st, 1))) ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    cc_buf_free(&m);
    cc_buf_free(&w);
    return n;
}

int main(void)
{
    static const char *const questions[] = {
        "Did Korimar Labs sign with Tarimarven Systems last year?",
        "What did Korimar say about Systems Venlo?",
        "Who runs Quabelde Systems and Korimar Labs Holdings International?",
        "Did Systems Venlo and Tarimarven Systems agree?",
        "Did Tarimarven Systems or Quabelde Systems sign with Korimar and Korimar Labs?",
        "What agree last year?",          /* no word in a name: no seeds */
    };
    const char *tmp = getenv("CAIRN_TMP");
    char dir[1024];
    cc_kb *kb = NULL;
    sqlite3 *db;
    sqlite3_stmt *ent, *nam;
    cc_buf name = CC_BUF_INIT(0);
    int64_t id = 1;

    snprintf(dir, sizeof dir, "%s/graph-subgraph-names-%ld", tmp ? tmp : "/tmp", (long)getpid());
    CHECK_OK(cc_kb_create(dir));
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &kb));
    if (!kb) return check_done("graph_subgraph_names");
    db = cc_kb_db(kb);
    CHECK(exec(db, "BEGIN") == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO entities(id, key, label, type) VALUES (?1, ?2, ?3,"
                             " 'organisation')", -1, &ent, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO entity_names(rowid, names) VALUES (?1, ?2)", -1, &nam,
                             NULL) == SQLITE_OK);
    for (; id <= 600; id++) {          /* "Tarimarven Systems" among 600 "... Systems" */
        unsigned v = (unsigned)id;
        cc_buf_reset(&name);
        if (id == 7) cc_buf_puts(&name, "Tarimarven");
        else if (id == 8) cc_buf_puts(&name, "Quabelde");
        else {
            for (int i = 0; i < 4; i++, v /= 10) cc_buf_puts(&name, syl[v % 10]);
            cc_buf_puts(&name, "x");      /* no clash with the names below */
            name.data[0] = (char)(name.data[0] - 'a' + 'A');
        }
        cc_buf_puts(&name, " Systems");
        add_entity(db, ent, nam, id, name.data);
    }
    add_entity(db, ent, nam, id++, "Korimar Labs Holdings International");
    add_entity(db, ent, nam, id++, "Korimar Labs");
    add_entity(db, ent, nam, id++, "Korimar");
    add_entity(db, ent, nam, id++, "Systems Venlo");
    add_entity(db, ent, nam, id++, "Venlo Port Authority");
    sqlite3_finalize(ent);
    sqlite3_finalize(nam);
    CHECK(exec(db, "COMMIT") == SQLITE_OK);

    for (size_t qi = 0; qi < sizeof questions / sizeof *questions; qi++) {
        const char *q = questions[qi];
        int64_t want[64];
        size_t n_want = reference_seeds(db, q, want, 64);
        cg_subgraph g;
        CHECK_OK(cg_subgraph_extract(kb, q, NULL, 0, NULL, &g));
        CHECK_MSG(g.n_seeds == n_want, "\"%s\": %zu seeds, want %zu", q, g.n_seeds, n_want);
        for (size_t i = 0; i < g.n_seeds && i < n_want; i++)
            CHECK_MSG(g.seeds[i].entity_id == want[i], "\"%s\": seed %zu is %lld, want %lld", q, i,
                      (long long)g.seeds[i].entity_id, (long long)want[i]);
        if (qi == 0) CHECK_MSG(n_want == 4, "%zu", n_want);   /* the KB is as meant */
        if (qi + 1 == sizeof questions / sizeof *questions) CHECK(g.n_seeds == 0);
        cg_subgraph_free(&g);
    }

    /* bytes >= 0x80 that FTS5 may not take as a token, next to a common word */
    {
        cg_subgraph g;
        CHECK_OK(cg_subgraph_extract(kb, "Tarimarven Systems \xe2\x80\x94 \xc2\xa0\xc2\xa0 Korimar?", NULL,
                                     0, NULL, &g));
        CHECK_MSG(g.n_seeds >= 2, "%zu seeds", g.n_seeds);
        cg_subgraph_free(&g);
    }

    cc_buf_free(&name);
    cc_kb_close(kb);
    return check_done("graph_subgraph_names");
}

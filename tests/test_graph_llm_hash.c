/* test_graph_llm_hash.c — the LLM extractor's model hash cache
 * (cg_model_sha256): the file is read once per process, the KB's setting
 * graph.llm_model_hash is used when the file is the one hashed, and a
 * changed file (content, size, mtime, even mtime set back) is always read
 * again, never answered from a stale entry. */
#define _GNU_SOURCE
#include "graph.h"
#include "llm.h"
#include "check.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void sha_of(const char *text, char hex[65]) { cc_sha256_hex(text, strlen(text), hex); }

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char dir[512], kbdir[600], f1[600], f2[600], gguf[600], hex[65], want[65];
    const char *v;
    int hashed = -1;
    cc_kb *kb = NULL;
    struct stat sb;
    snprintf(dir, sizeof dir, "%s/graph_llm_hash.%d", tmp ? tmp : "/tmp", (int)getpid());
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    snprintf(f1, sizeof f1, "%s/a.bin", dir);
    snprintf(f2, sizeof f2, "%s/b.bin", dir);
    snprintf(gguf, sizeof gguf, "%s/tiny.gguf", dir);
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(cc_kb_create(kbdir) == CC_OK);
    CHECK(cc_kb_open(kbdir, CC_KB_WRITE, &kb) == CC_OK);
    if (!kb) return check_done("graph_llm_hash");

    /* first open reads the file; the second is answered from the cache */
    write_file(f1, "model one, version A");
    write_file(f2, "another model");
    sha_of("model one, version A", want);
    CHECK(cg_model_sha256(f1, kb, hex, &hashed) == CC_OK && hashed == 1);
    CHECK_STR(hex, want);
    CHECK(cg_model_sha256(f1, kb, hex, &hashed) == CC_OK && hashed == 0);
    CHECK_STR(hex, want);
    CHECK(cc_kb_setting_str(kb, "graph.llm_model_hash.sha256", "", &v) == CC_OK);
    CHECK_STR(v, want);

    /* another file takes the process's entry; f1 then comes from the KB */
    CHECK(cg_model_sha256(f2, NULL, hex, &hashed) == CC_OK && hashed == 1);
    CHECK(cg_model_sha256(f1, kb, hex, &hashed) == CC_OK && hashed == 0);
    CHECK_STR(hex, want);
    /* ... and really from the KB: a planted value for the same key is used */
    CHECK(cc_kb_setting_str(kb, "graph.llm_model_hash.key", "", &v) == CC_OK && strstr(v, f1));
    {
        cc_buf b = CC_BUF_INIT(0);
        CHECK(cc_buf_puts(&b, "{\"key\":") == CC_OK && cc_buf_json_str(&b, v, strlen(v)) == CC_OK &&
              cc_buf_puts(&b, ",\"sha256\":\"" "1111111111111111111111111111111111111111111111111111111111111111" "\"}") == CC_OK);
        CHECK(cc_kb_setting_set(kb, "graph.llm_model_hash", b.data) == CC_OK);
        cc_buf_free(&b);
    }
    CHECK(cg_model_sha256(f2, NULL, hex, &hashed) == CC_OK);
    CHECK(cg_model_sha256(f1, kb, hex, &hashed) == CC_OK && hashed == 0);
    CHECK(!strncmp(hex, "1111", 4));

    /* the file changes, same size, mtime set back to the old one: read again */
    CHECK(stat(f1, &sb) == 0);
    usleep(20000);
    write_file(f1, "model one, version B");
    {
        struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
        CHECK(utimensat(AT_FDCWD, f1, ts, 0) == 0);
    }
    sha_of("model one, version B", want);
    CHECK(cg_model_sha256(f1, kb, hex, &hashed) == CC_OK && hashed == 1);
    CHECK_STR(hex, want);
    CHECK(cc_kb_setting_str(kb, "graph.llm_model_hash.sha256", "", &v) == CC_OK);
    CHECK_STR(v, want);
    /* a different size */
    write_file(f1, "model one, version C, longer");
    sha_of("model one, version C, longer", want);
    CHECK(cg_model_sha256(f1, kb, hex, &hashed) == CC_OK && hashed == 1);
    CHECK_STR(hex, want);
    /* a garbled setting is ignored, not trusted */
    CHECK(cg_model_sha256(f2, NULL, hex, &hashed) == CC_OK);
    CHECK(cc_kb_setting_set(kb, "graph.llm_model_hash.sha256", "\"not hex\"") == CC_OK);
    CHECK(cg_model_sha256(f1, kb, hex, &hashed) == CC_OK && hashed == 1);
    CHECK_STR(hex, want);
    /* a missing file is an error naming it */
    CHECK(cg_model_sha256("/nonexistent/m.gguf", kb, hex, &hashed) == CC_IO);
    CHECK(strstr(cc_errmsg(), "/nonexistent/m.gguf") != NULL);

    /* the extractor: its id carries the cached hash, the KB keeps it */
    {
        cl_tiny_opts t;
        cg_llm_opts o;
        cg_extractor *ex = NULL;
        memset(&t, 0, sizeof t);
        t.arch = "qwen2";
        t.type = CL_TYPE_Q8_0;
        t.seed = 7;
        t.n_ctx = 256;
        CHECK(cl_make_tiny_opts(&t, gguf) == CL_OK);
        memset(&o, 0, sizeof o);
        o.model_path = gguf;
        o.kb = kb;
        o.n_threads = 1;
        CHECK(cg_extractor_llm_new(&o, &ex) == CC_OK);
        CHECK(cc_kb_setting_str(kb, "graph.llm_model_hash.sha256", "", &v) == CC_OK && strlen(v) == 64);
        if (ex) {
            CHECK(!strncmp(cg_extractor_id(ex), "llm/1:", 6) && !strncmp(cg_extractor_id(ex) + 6, v, 12));
            cg_extractor_free(ex);
        }
        CHECK(cg_model_sha256(gguf, kb, hex, &hashed) == CC_OK && hashed == 0);
    }

    cc_kb_close(kb);
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    return check_done("graph_llm_hash");
}

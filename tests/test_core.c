/* test_core.c — core: buffer caps, SHA-256 vectors, UTF-8 validation, the KB
 * lifecycle (create, open, writer lock, schema version checks, settings). */
#include "core.h"
#include "check.h"

#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_buf(void)
{
    cc_buf b = CC_BUF_INIT(8);
    CHECK(cc_buf_puts(&b, "abcd") == CC_OK);
    CHECK(cc_buf_printf(&b, "%d", 1234) == CC_OK);
    CHECK_STR(b.data, "abcd1234");
    CHECK(cc_buf_putc(&b, 'x') == CC_TOOBIG);   /* over the cap, unchanged */
    CHECK_STR(b.data, "abcd1234");
    cc_buf_free(&b);
    cc_buf_init(&b, 0);
    CHECK(cc_buf_json_str(&b, "a\"b\\\n\x01", 6) == CC_OK);
    CHECK_STR(b.data, "\"a\\\"b\\\\\\n\\u0001\"");
    cc_buf_free(&b);
}

static void test_sha256(void)
{
    char hex[65];
    cc_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cc_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    {   /* streaming in odd pieces equals one-shot: 1,000,000 x 'a' */
        cc_sha256 c;
        uint8_t d[32];
        char block[997];
        size_t left = 1000000;
        memset(block, 'a', sizeof block);
        cc_sha256_init(&c);
        while (left) {
            size_t n = left < sizeof block ? left : sizeof block;
            cc_sha256_update(&c, block, n);
            left -= n;
        }
        cc_sha256_final(&c, d);
        cc_hex(d, 32, hex);
        CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }
}

static void test_utf8(void)
{
    uint32_t cp;
    CHECK(cc_utf8_check("h\xc3\xa9llo", 6) == 6);
    CHECK(cc_utf8_check("ab\xc0\xafz", 5) == 2);          /* overlong */
    CHECK(cc_utf8_check("ab\xed\xa0\x80", 5) == 2);       /* surrogate */
    CHECK(cc_utf8_check("ab\xf4\x90\x80\x80", 6) == 2);   /* > U+10FFFF */
    CHECK(cc_utf8_check("ab\xe2\x82", 4) == 2);           /* truncated */
    CHECK(cc_utf8_decode("\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600);
    CHECK(cc_utf8_count("h\xc3\xa9llo", 6) == 5);
}

static void test_kb(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char dir[512], path[600];
    cc_kb *kb = NULL, *kb2 = NULL;
    int64_t gen = -1, v = 0;
    const char *sv;

    snprintf(dir, sizeof dir, "%s/test_core_kb_%d", tmp ? tmp : "/tmp", (int)getpid());
    CHECK_OK(cc_kb_create(dir));
    CHECK(cc_kb_create(dir) == CC_EXISTS);                /* not empty: refused */
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &kb));
    CHECK(kb != NULL);
    if (!kb) return;
    CHECK_OK(cc_kb_generation(kb, &gen));
    CHECK(gen == 0);
    /* a second writer is refused with a message naming the KB */
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &kb2) == CC_BUSY && kb2 == NULL);
    CHECK(strstr(cc_errmsg(), "another process") != NULL);
    /* a reader is fine while the writer holds the lock */
    CHECK_OK(cc_kb_open(dir, CC_KB_READ, &kb2));
    cc_kb_close(kb2);
    /* settings: defaults, set, reread */
    CHECK_OK(cc_kb_setting_i64(kb, "chunk.target_tokens", 0, &v));
    CHECK(v == 300);
    CHECK_OK(cc_kb_setting_str(kb, "nope.absent", "dflt", &sv));
    CHECK_STR(sv, "dflt");
    CHECK_OK(cc_kb_setting_set(kb, "fusion.k", "61"));
    CHECK(cc_kb_setting_str(kb, "fusion.k", "", &sv) == CC_INVALID);  /* wrong type */
    cc_kb_close(kb);
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &kb));
    if (!kb) return;
    CHECK_OK(cc_kb_setting_i64(kb, "fusion.k", 60, &v));
    CHECK(v == 61);
    /* a newer schema version is refused with a clear message */
    CHECK_OK(cc_kb_exec(kb, "PRAGMA user_version = 99"));
    cc_kb_close(kb);
    CHECK(cc_kb_open(dir, CC_KB_READ, &kb) == CC_VERSION && kb == NULL);
    CHECK(strstr(cc_errmsg(), "newer cairn") != NULL);
    /* not a KB */
    CHECK(cc_kb_open("/nonexistent/kb", CC_KB_READ, &kb) == CC_NOTFOUND);
    snprintf(path, sizeof path, "%s/graph", dir);
    CHECK(cc_kb_open(path, CC_KB_READ, &kb) == CC_NOTFOUND);
    CHECK(strstr(cc_errmsg(), "not a knowledge base") != NULL);
}

int main(void)
{
    test_buf();
    test_sha256();
    test_utf8();
    test_kb();
    return check_done("core");
}

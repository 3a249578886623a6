/* test_llm_json.c — the JSON-schema subset for constrained decoding: schema
 * parsing (and refusals with messages), and the matcher accepting whole
 * instances written by hand, rejecting non-instances at the byte where
 * they go wrong, and every prefix of an instance being accepted. */
#include "llm_int.h"
#include "check.h"

static const char schema[] =
    "{\"type\": \"object\", \"title\": \"t\", \"properties\": {"
    "\"name\": {\"type\": \"string\", \"maxLength\": 5},"
    "\"age\": {\"type\": \"integer\", \"description\": \"years {not} [parsed]\"},"
    "\"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "\"kind\": {\"enum\": [\"cat\", \"catfish\", \"dog\"]},"
    "\"ok\": {\"type\": \"boolean\"},"
    "\"score\": {\"type\": \"number\"},"
    "\"pos\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"number\"}}, \"required\": [\"x\"]}},"
    "\"required\": [\"name\", \"kind\"]}";

#define PARSE(lit, out) cl_json_schema_parse(lit, sizeof lit - 1, out)

/* 1 when text is a whole instance; 0 when rejected or incomplete. */
static int whole(const cl_json_schema *sc, const char *text)
{
    cl_json_state st;
    cl_json_state_init(&st, sc);
    return cl_json_feed(&st, (const uint8_t *)text, strlen(text)) && cl_json_complete(&st);
}

/* 1 when every prefix of text is accepted byte by byte. */
static int prefixes_ok(const cl_json_schema *sc, const char *text)
{
    cl_json_state st;
    size_t i;
    cl_json_state_init(&st, sc);
    for (i = 0; text[i]; i++)
        if (!cl_json_feed(&st, (const uint8_t *)text + i, 1)) return 0;
    return 1;
}

int main(void)
{
    cl_json_schema *sc = NULL, *x = NULL;
    static const char *const good[] = {
        "{\"name\":\"bob\",\"kind\":\"cat\"}",
        "{\"name\": \"bob\", \"kind\": \"catfish\"}",
        "{ \"name\" : \"a\\\"b\" ,\n  \"age\": 42, \"tags\": [\"x\", \"\\u00e9\"], \"kind\": \"dog\", \"ok\": true,"
        " \"score\": -1.5e+3, \"pos\": {\"x\": 0.25} }",
        "{\"name\":\"\",\"tags\":[],\"kind\":\"dog\",\"ok\":false,\"score\":0}",
    };
    static const char *const bad[] = {
        "{\"kind\":\"cat\"}",                              /* required name missing (it comes first) */
        "{\"name\":\"bob\"}",                              /* required kind missing */
        "{\"name\":\"bob\",\"kind\":\"cow\"}",              /* not in the enum */
        "{\"name\":\"bob\",\"age\":1.5,\"kind\":\"cat\"}",  /* integer */
        "{\"name\":\"bob\",\"age\":01,\"kind\":\"cat\"}",   /* leading zero */
        "{\"name\":\"toolong\",\"kind\":\"cat\"}",          /* maxLength 5 */
        "{\"name\":1,\"kind\":\"cat\"}",                   /* type */
        "{\"name\":\"b\",\"tags\":[,\"x\"],\"kind\":\"cat\"}",
        "{\"name\":\"b\",\"tags\":[\"x\",],\"kind\":\"cat\"}",
        "{\"name\":\"b\",\"kind\":\"cat\",\"age\":3}",      /* order: age comes before kind */
        "{\"name\":\"b\",\"kind\":\"cat\",\"pos\":{}}",     /* nested required */
        "{\"name\":\"b\",\"kind\":\"cat\",\"ok\":tru}",
        "{\"name\":\"b\",\"kind\":\"cat\"} x",              /* text after the value */
        "{\"name\":\"b\",\"kind\":\"cat\",}",
        "{\"name\":\"b\",         \"kind\":\"cat\"}",       /* whitespace run over 8 */
        "{\"name\":\"a\nb\",\"kind\":\"cat\"}",             /* control byte in a string */
    };
    size_t i;
    cl_json_state st;
    CHECK(cl_json_schema_parse(schema, sizeof schema - 1, &sc) == CL_OK);
    if (!sc) return check_done("llm_json");
    for (i = 0; i < sizeof good / sizeof *good; i++) {
        CHECK_MSG(whole(sc, good[i]), "rejected: %s", good[i]);
        CHECK_MSG(prefixes_ok(sc, good[i]), "a prefix rejected: %s", good[i]);
    }
    for (i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_MSG(!whole(sc, bad[i]), "accepted: %s", bad[i]);
    /* incomplete is not complete; "cat" stays open while "catfish" may follow */
    cl_json_state_init(&st, sc);
    CHECK(cl_json_feed(&st, (const uint8_t *)"{\"name\":\"b\",\"kind\":\"cat", 23) && !cl_json_complete(&st));
    cl_json_schema_free(sc);

    /* a bare number is complete as soon as it is a number */
    CHECK(cl_json_schema_parse("{\"type\":\"number\"}", 17, &x) == CL_OK);
    if (x) {
        CHECK(whole(x, "12.5") && !whole(x, "12.") && !whole(x, "-") && whole(x, "0"));
        cl_json_schema_free(x);
    }
    /* refusals with messages */
    CHECK(cl_json_schema_parse("{\"type\":\"null\"}", 15, &x) == CL_ERR_UNSUPPORTED && !x && strstr(cl_errmsg(), "null"));
    CHECK(cl_json_schema_parse("{\"type\":[\"string\",\"null\"]}", 26, &x) == CL_ERR_UNSUPPORTED);
    CHECK(cl_json_schema_parse("{\"type\":\"array\"}", 16, &x) == CL_ERR_UNSUPPORTED && strstr(cl_errmsg(), "items"));
    CHECK(cl_json_schema_parse("{\"type\":\"object\",\"required\":[\"a\"]}", 34, &x) == CL_ERR_FORMAT &&
          strstr(cl_errmsg(), "'a'"));
    CHECK(cl_json_schema_parse("{\"type\":\"object\"", 16, &x) != CL_OK && !x);
    CHECK(cl_json_schema_parse("{\"enum\":[\"a\\\"b\"]}", 17, &x) == CL_ERR_UNSUPPORTED);

    /* found by tests/fuzz/fuzz_schema: a schema accepted must admit a value,
     * and every value it admits is UTF-8 JSON */
    CHECK(PARSE("{\"enum\":[]}", &x) == CL_ERR_UNSUPPORTED && !x && strstr(cl_errmsg(), "empty"));
    CHECK(PARSE("{\"enum\":[\"x\"],\"properties\":{\"a\":{\"type\":\"string\"}}}", &x) ==
              CL_ERR_UNSUPPORTED && !x && strstr(cl_errmsg(), "properties"));
    CHECK(PARSE("{\"properties\":{\"a\":{\"type\":\"string\"}},\"enum\":[\"x\"]}", &x) ==
              CL_ERR_UNSUPPORTED && !x);
    CHECK(PARSE("{\"enum\":[\"a\xff\"]}", &x) == CL_ERR_FORMAT && !x && strstr(cl_errmsg(), "UTF-8"));
    CHECK(PARSE("{\"type\":\"string\",\"maxLength\":5", &x) != CL_OK && !x);
    CHECK(PARSE("{\"type\":\"string\",\"maxLength\":12}", &x) == CL_OK && x);
    if (x) {
        CHECK(whole(x, "\"123456789012\"") && !whole(x, "\"1234567890123\""));
        cl_json_schema_free(x);
    }
    CHECK(PARSE("{\"type\":\"string\",\"type\":\"string\"}", &x) == CL_OK && x);
    cl_json_schema_free(x);
    CHECK(PARSE("{\"type\":\"string\",\"maxLength\":3}", &x) == CL_OK && x);
    if (x) {
        CHECK(whole(x, "\"\xc3\xa9\"") && whole(x, "\"\xe2\x82\xac\"") && whole(x, "\"\\ud83d\\ude00\""));
        CHECK(!whole(x, "\"\xff\"") && !whole(x, "\"\xc0\xaf\"") && !whole(x, "\"\xed\xa0\x80\""));
        CHECK(!whole(x, "\"\xf4\x90\x80\x80\"") && !whole(x, "\"\xc3\""));
        CHECK(!whole(x, "\"\\ud800\"") && !whole(x, "\"\\udc00\"") && !whole(x, "\"\\ud800\\u0041\""));
        /* a character is taken only when all its bytes fit maxLength */
        CHECK(prefixes_ok(x, "\"ab") && !prefixes_ok(x, "\"ab\xc3") && !whole(x, "\"ab\xc3\xa9\""));
        cl_json_schema_free(x);
    }
    /* maxLength 65536: the count did wrap at 65536 in a 16-bit field */
    CHECK(PARSE("{\"type\":\"string\",\"maxLength\":65536}", &x) == CL_OK && x);
    if (x) {
        char *big = malloc(65540);
        if (big) {
            memset(big, 'a', 65539);
            big[0] = '"';
            big[65538] = '"';     /* 65537 bytes of content */
            big[65539] = 0;
            CHECK(!whole(x, big));
            big[65537] = '"';     /* 65536 */
            big[65538] = 0;
            CHECK(whole(x, big));
            free(big);
        }
        cl_json_schema_free(x);
    }
    /* a number at its 24-byte limit can always still end */
    CHECK(PARSE("{\"type\":\"array\",\"items\":{\"type\":\"number\"}}", &x) == CL_OK && x);
    if (x) {
        CHECK(whole(x, "[1234567890123456789012.5]") && whole(x, "[123456789012345678901e5]"));
        CHECK(!prefixes_ok(x, "[12345678901234567890123.") && !prefixes_ok(x, "[1234567890123456789012e+"));
        cl_json_schema_free(x);
    }
    return check_done("llm_json");
}

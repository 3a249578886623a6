/* cmd_keys.c — `cairn keys KB add|list|revoke`: the API keys `cairn serve`
 * accepts (storage and hashing in serve_auth.c). */
#define _GNU_SOURCE
#include "serve.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char keys_usage[] =
    "keys KB add --role reader|writer|auditor|admin [--name N]\n"
    "     keys KB list\n"
    "     keys KB revoke ID\n"
    "  API keys for `cairn serve` (Authorization: Bearer KEY). `add` prints the\n"
    "  key once: only a salted SHA-256 of it is stored. Roles: reader (search,\n"
    "  ask, documents, graph, sql), writer (also ingest and delete), auditor\n"
    "  (reader plus traces and the audit log), admin (everything, keys too).\n"
    "  With at least one live key the server requires one on every /v1 route.\n";

/* "cli:<login>" for the audit log */
static void cli_actor(char *out, size_t n)
{
    const struct passwd *pw = getpwuid(geteuid());
    const char *u = getenv("USER");
    if (pw && pw->pw_name) u = pw->pw_name;
    snprintf(out, n, "cli:%s", u && *u ? u : "unknown");
}

int cmd_keys(int argc, char **argv)
{
    const char *kbdir, *verb, *role_s = NULL, *name = NULL;
    char actor[64];
    cc_kb *kb;
    int i, r, ret = 0;
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) { fputs(keys_usage, stdout); return 0; }
    if (argc < 3) return cli_usage(keys_usage);
    kbdir = argv[1];
    verb = argv[2];
    cli_actor(actor, sizeof actor);
    if (!strcmp(verb, "add")) {
        serve_role role;
        char key[SERVE_KEY_MAX];
        int64_t id;
        for (i = 3; i < argc; i++) {
            if ((r = cli_opt_str(argc, argv, &i, "--role", &role_s)) ||
                (r = cli_opt_str(argc, argv, &i, "--name", &name))) {
                if (r < 0) return 2;
                continue;
            }
            cli_error("unexpected argument '%s'", argv[i]);
            return cli_usage(keys_usage);
        }
        if (!role_s) { cli_error("keys add needs --role reader|writer|auditor|admin"); return 2; }
        if ((role = serve_role_parse(role_s)) == SERVE_ROLE_NONE) {
            cli_error("--role %s: use reader, writer, auditor or admin", role_s);
            return 2;
        }
        if (cc_kb_open(kbdir, CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
        if (serve_key_add(kb, name ? name : role_s, role, actor, &id, key) != CC_OK) {
            ret = cli_error("%s", cc_kb_errmsg(kb));
        } else {
            printf("%s\n", key);
            fprintf(stderr, "cairn: key %lld (%s) created; it is shown only this once\n",
                    (long long)id, role_s);
            memset(key, 0, sizeof key);
        }
        cc_kb_close(kb);
        return ret;
    }
    if (!strcmp(verb, "list")) {
        cJSON *arr, *k;
        if (argc > 3) { cli_error("unexpected argument '%s'", argv[3]); return 2; }
        if (cc_kb_open(kbdir, CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
        if (serve_keys_list(kb, &arr) != CC_OK) {
            ret = cli_error("%s", cc_kb_errmsg(kb));
        } else {
            printf("%-6s %-8s %-20s %-22s %s\n", "id", "role", "name", "created", "revoked");
            cJSON_ArrayForEach(k, arr) {
                cJSON *rev = cJSON_GetObjectItem(k, "revoked_at");
                printf("%-6d %-8s %-20s %-22s %s\n", cJSON_GetObjectItem(k, "id")->valueint,
                       cJSON_GetObjectItem(k, "role")->valuestring,
                       cJSON_GetObjectItem(k, "name")->valuestring,
                       cJSON_GetObjectItem(k, "created_at")->valuestring,
                       cJSON_IsString(rev) ? rev->valuestring : "-");
            }
            cJSON_Delete(arr);
        }
        cc_kb_close(kb);
        return ret;
    }
    if (!strcmp(verb, "revoke")) {
        int64_t id;
        if (argc != 4) return cli_usage(keys_usage);
        if (cc_parse_i64(argv[3], 1, INT64_MAX, &id) != CC_OK) {
            cli_error("revoke %s: the key id is a positive integer (see `cairn keys KB list`)", argv[3]);
            return 2;
        }
        if (cc_kb_open(kbdir, CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
        if (serve_key_revoke(kb, id, actor) != CC_OK) ret = cli_error("%s", cc_kb_errmsg(kb));
        else printf("key %lld revoked\n", (long long)id);
        cc_kb_close(kb);
        return ret;
    }
    cli_error("unknown keys command '%s' (add, list or revoke)", verb);
    return cli_usage(keys_usage);
}

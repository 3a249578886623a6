/* cmd_init.c — `cairn init KB`: create a knowledge base. */
#include "cli.h"

#include <string.h>

int cmd_init(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help"))
        return cli_usage("init KB\n  Creates the directory KB with an empty catalog.");
    if (cc_kb_create(argv[1]) != CC_OK) return cli_error("%s", cc_errmsg());
    printf("created knowledge base %s\n", argv[1]);
    return 0;
}

/* cmd_revoke.c - qsctl revoke (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_revoke(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl revoke: not available in this build yet\n");
    return 1;
}

/* cmd_policy.c - qsctl policy (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_policy(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl policy: not available in this build yet\n");
    return 1;
}

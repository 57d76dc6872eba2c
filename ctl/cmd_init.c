/* cmd_init.c - qsctl init (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl init: not available in this build yet\n");
    return 1;
}

/* cmd_stats.c - qsctl stats (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_stats(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl stats: not available in this build yet\n");
    return 1;
}

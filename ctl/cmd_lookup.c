/* cmd_lookup.c - qsctl lookup (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_lookup(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl lookup: not available in this build yet\n");
    return 1;
}

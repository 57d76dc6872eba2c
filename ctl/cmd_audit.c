/* cmd_audit.c - qsctl audit (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_audit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl audit: not available in this build yet\n");
    return 1;
}

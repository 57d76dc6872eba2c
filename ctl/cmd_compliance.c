/* cmd_compliance.c - qsctl compliance (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_compliance(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl compliance: not available in this build yet\n");
    return 1;
}

/* cmd_forget.c - qsctl forget (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_forget(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl forget: not available in this build yet\n");
    return 1;
}

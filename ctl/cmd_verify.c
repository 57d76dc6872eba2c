/* cmd_verify.c - qsctl verify (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl verify: not available in this build yet\n");
    return 1;
}

/* cmd_enroll.c - qsctl enroll (being written; see the issue tracker). */
#include "qs_ctl.h"

#include <stdio.h>

int
cmd_enroll(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qsctl enroll: not available in this build yet\n");
    return 1;
}

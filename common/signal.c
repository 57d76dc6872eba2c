/* signal.c - SIGTERM/SIGINT installation without SA_RESTART; see qs_signal.h. */
#include "qs_signal.h"

#include <signal.h>
#include <string.h>

int
qs_signal_on_stop(void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    return 0;
}

/* test_process.c - qs_process_no_core: no core file, no same-user ptrace, in this process and its children. */
#include "qs_process.h"
#include "qs_test.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_process_no_core_disables_dumps_for_self_and_children(void)
{
    struct rlimit rl;
    char err[256];
    pid_t pid;
    int status = 0;

    QS_CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
    QS_CHECK_EQ_INT(qs_process_no_core(err, sizeof err), 0);
    QS_CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    QS_CHECK_EQ_INT(getrlimit(RLIMIT_CORE, &rl), 0);
    QS_CHECK(rl.rlim_cur == 0 && rl.rlim_max == 0);
    /* The hard limit is 0: an unprivileged child cannot raise it again. */
    pid = fork();
    if (pid == 0) {
        struct rlimit up = { RLIM_INFINITY, RLIM_INFINITY };
        _exit(geteuid() != 0 && setrlimit(RLIMIT_CORE, &up) == 0 ? 1 : 0);
    }
    QS_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    QS_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int
main(void)
{
    QS_RUN(test_process_no_core_disables_dumps_for_self_and_children);
    return qs_test_summary();
}

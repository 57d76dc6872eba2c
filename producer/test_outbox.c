/* test_outbox.c - unit tests of the producer's SQLite outbox (real files in a
 * temporary directory): serials, take, ack, reject, permissions. */
#include "outbox.h"

#include "qs_log.h"
#include "qs_test.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512];

static void
path_in_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static uint64_t
append_one(qs_outbox_t *ob, const char *topic, uint32_t state)
{
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;
    char err[256];
    uint64_t serial = 0;

    m.time_utc_ms = 1764072000000LL;
    m.topic_type = 500;
    m.topic_id = (char *)topic;
    m.state_id = state;
    m.machine_name = (char *)"host-1";
    if (qs_outbox_append(ob, &m, &serial, err, sizeof err) != 0) {
        fprintf(stderr, "append: %s\n", err);
        return 0;
    }
    return serial;
}

static qs_outbox_t *
open_ob(const char *name)
{
    char path[600], err[256];
    qs_outbox_t *ob;

    path_in_dir(path, sizeof path, name);
    ob = qs_outbox_open(path, err, sizeof err);
    if (ob == NULL)
        fprintf(stderr, "open: %s\n", err);
    return ob;
}

static void
test_outbox_serials_start_at_one_and_increase(void)
{
    qs_outbox_t *ob = open_ob("a.db");
    uint64_t next = 0;

    QS_CHECK(ob != NULL);
    QS_CHECK(qs_outbox_next_serial(ob, &next) == 0);
    QS_CHECK_EQ_INT(next, 1);
    QS_CHECK_EQ_INT(append_one(ob, "KB1", 2), 1);
    QS_CHECK_EQ_INT(append_one(ob, "KB2", 2), 2);
    QS_CHECK_EQ_INT(append_one(ob, "KB3", 3), 3);
    qs_outbox_destroy(&ob);
    QS_CHECK(ob == NULL);
    qs_outbox_destroy(&ob);   /* no-op on NULL */
}

static void
test_outbox_serials_survive_reopen(void)
{
    qs_outbox_t *ob = open_ob("b.db");
    uint64_t pending = 0;

    QS_CHECK_EQ_INT(append_one(ob, "KB1", 1), 1);
    QS_CHECK_EQ_INT(append_one(ob, "KB1", 2), 2);
    qs_outbox_destroy(&ob);
    ob = open_ob("b.db");
    QS_CHECK(ob != NULL);
    QS_CHECK(qs_outbox_pending_count(ob, &pending) == 0);
    QS_CHECK_EQ_INT(pending, 2);
    QS_CHECK_EQ_INT(append_one(ob, "KB1", 3), 3);
    qs_outbox_destroy(&ob);
}

static void
test_outbox_serials_never_reused_after_ack_empties_it(void)
{
    qs_outbox_t *ob = open_ob("c.db");
    uint64_t pending = 9;

    QS_CHECK_EQ_INT(append_one(ob, "KB1", 1), 1);
    QS_CHECK_EQ_INT(append_one(ob, "KB1", 2), 2);
    QS_CHECK(qs_outbox_ack(ob, 2) == 0);
    QS_CHECK(qs_outbox_pending_count(ob, &pending) == 0);
    QS_CHECK_EQ_INT(pending, 0);
    QS_CHECK_EQ_INT(append_one(ob, "KB1", 3), 3);
    QS_CHECK(qs_outbox_ack(ob, 3) == 0);
    qs_outbox_destroy(&ob);
    /* Empty and reopened: still no reuse. */
    ob = open_ob("c.db");
    QS_CHECK_EQ_INT(append_one(ob, "KB1", 1), 4);
    qs_outbox_destroy(&ob);
}

static void
test_outbox_take_returns_in_order_within_limits(void)
{
    qs_outbox_t *ob = open_ob("d.db");
    qs_msgref_t refs[8];
    uint8_t buf[4096];
    size_t n = 0;

    for (int i = 0; i < 6; i++)
        QS_CHECK_EQ_INT(append_one(ob, "KB5000001", (uint32_t)(i % 4)), i + 1);
    QS_CHECK(qs_outbox_take(ob, 0, refs, 4, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 4);
    for (size_t i = 0; i < n; i++) {
        Quietstate__StateMessage *m =
            quietstate__state_message__unpack(NULL, refs[i].len, buf + refs[i].off);
        QS_CHECK_EQ_INT(refs[i].serial, i + 1);
        QS_CHECK(m != NULL);
        if (m != NULL) {
            QS_CHECK_EQ_INT(m->serial, i + 1);
            QS_CHECK_EQ_INT(m->state_id, i % 4);
            QS_CHECK_STR(m->topic_id, "KB5000001");
            QS_CHECK_EQ_INT(m->time_utc_ms, 1764072000000LL);
            quietstate__state_message__free_unpacked(m, NULL);
        }
    }
    /* After a serial. */
    QS_CHECK(qs_outbox_take(ob, 4, refs, 8, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 2);
    QS_CHECK_EQ_INT(refs[0].serial, 5);
    QS_CHECK_EQ_INT(refs[1].serial, 6);
    /* Nothing beyond the last. */
    QS_CHECK(qs_outbox_take(ob, 6, refs, 8, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 0);
    /* A buffer for fewer messages than asked: stops early, never overflows. */
    QS_CHECK(qs_outbox_take(ob, 0, refs, 8, buf, refs[0].len * 2 + refs[0].len / 2, &n) == 0);
    QS_CHECK_EQ_INT(n, 2);
    qs_outbox_destroy(&ob);
}

static void
test_outbox_ack_deletes_only_up_to_committed(void)
{
    qs_outbox_t *ob = open_ob("e.db");
    qs_msgref_t refs[8];
    uint8_t buf[4096];
    size_t n = 0;
    uint64_t pending = 0;

    for (int i = 0; i < 5; i++)
        append_one(ob, "KB1", 2);
    QS_CHECK(qs_outbox_ack(ob, 3) == 0);
    QS_CHECK(qs_outbox_pending_count(ob, &pending) == 0);
    QS_CHECK_EQ_INT(pending, 2);
    QS_CHECK(qs_outbox_take(ob, 0, refs, 8, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 2);
    QS_CHECK_EQ_INT(refs[0].serial, 4);
    /* An older committed serial changes nothing. */
    QS_CHECK(qs_outbox_ack(ob, 1) == 0);
    QS_CHECK(qs_outbox_pending_count(ob, &pending) == 0);
    QS_CHECK_EQ_INT(pending, 2);
    qs_outbox_destroy(&ob);
}

struct rejected_seen {
    int n;
    uint64_t serial;
    char status[32], code[32], reason[64];
};

static int
on_rejected(void *ctx, const qs_outbox_rejected_t *r)
{
    struct rejected_seen *seen = ctx;
    seen->n++;
    seen->serial = r->serial;
    snprintf(seen->status, sizeof seen->status, "%s", r->status);
    snprintf(seen->code, sizeof seen->code, "%s", r->code);
    snprintf(seen->reason, sizeof seen->reason, "%s", r->reason);
    return 0;
}

static void
test_outbox_reject_moves_message_to_rejected_list(void)
{
    qs_outbox_t *ob = open_ob("f.db");
    qs_source_t src = qs_outbox_source(ob);
    struct rejected_seen seen = { 0 };
    qs_msgref_t refs[8];
    uint8_t buf[4096];
    size_t n = 0;
    uint64_t pending = 0, rejected = 0;

    for (int i = 0; i < 3; i++)
        append_one(ob, "KB1", 2);
    QS_CHECK(src.reject(src.ctx, 2, QUIETSTATE__STATUS__BAD_MESSAGE,
                        QUIETSTATE__CODE__STATE_OUT_OF_RANGE, "state out of range") == 0);
    QS_CHECK(qs_outbox_pending_count(ob, &pending) == 0);
    QS_CHECK_EQ_INT(pending, 2);
    QS_CHECK(qs_outbox_rejected_count(ob, &rejected) == 0);
    QS_CHECK_EQ_INT(rejected, 1);
    QS_CHECK(src.take(src.ctx, 0, refs, 8, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 2);
    QS_CHECK_EQ_INT(refs[0].serial, 1);
    QS_CHECK_EQ_INT(refs[1].serial, 3);
    QS_CHECK(qs_outbox_rejected_each(ob, on_rejected, &seen) == 0);
    QS_CHECK_EQ_INT(seen.n, 1);
    QS_CHECK_EQ_INT(seen.serial, 2);
    QS_CHECK_STR(seen.status, "BAD_MESSAGE");
    QS_CHECK_STR(seen.code, "STATE_OUT_OF_RANGE");
    QS_CHECK_STR(seen.reason, "state out of range");
    /* Rejecting a serial that is no longer pending is a no-op. */
    QS_CHECK(src.ack(src.ctx, 3) == 0);
    QS_CHECK(src.reject(src.ctx, 3, QUIETSTATE__STATUS__BAD_MESSAGE,
                        QUIETSTATE__CODE__CODE_NONE, NULL) == 0);
    QS_CHECK(qs_outbox_rejected_count(ob, &rejected) == 0);
    QS_CHECK_EQ_INT(rejected, 1);
    /* A rejected serial is not reused either. */
    qs_outbox_destroy(&ob);
    ob = open_ob("f.db");
    QS_CHECK_EQ_INT(append_one(ob, "KB1", 2), 4);
    qs_outbox_destroy(&ob);
}

static void
test_outbox_file_is_private_and_loose_one_refused(void)
{
    char path[600], err[256];
    struct stat st;
    qs_outbox_t *ob;

    umask(022);
    ob = open_ob("g.db");
    QS_CHECK(ob != NULL);
    qs_outbox_destroy(&ob);
    path_in_dir(path, sizeof path, "g.db");
    QS_CHECK(stat(path, &st) == 0);
    QS_CHECK_EQ_INT(st.st_mode & 0777, 0600);
    QS_CHECK(chmod(path, 0644) == 0);
    ob = qs_outbox_open(path, err, sizeof err);
    QS_CHECK(ob == NULL);
    QS_CHECK(strstr(err, "chmod 600") != NULL);
    QS_CHECK(strstr(err, path) != NULL);
}

int
main(void)
{
    char cmd[700];

    qs_log_init("test_outbox", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 1;
    qs_test_tmpdir(dir, sizeof dir, "outbox");
    QS_RUN(test_outbox_serials_start_at_one_and_increase);
    QS_RUN(test_outbox_serials_survive_reopen);
    QS_RUN(test_outbox_serials_never_reused_after_ack_empties_it);
    QS_RUN(test_outbox_take_returns_in_order_within_limits);
    QS_RUN(test_outbox_ack_deletes_only_up_to_committed);
    QS_RUN(test_outbox_reject_moves_message_to_rejected_list);
    QS_RUN(test_outbox_file_is_private_and_loose_one_refused);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return qs_test_summary();
}

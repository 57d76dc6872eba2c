/* test_outbox.c - unit tests of the producer's SQLite outbox (real files in a
 * temporary directory): serials, take, ack, reject, permissions. */
#include "outbox.h"

#include "qs_log.h"
#include "qs_test.h"

#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
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

typedef struct {
    int n;
    char topic[8][32];
    uint32_t state[8];
    uint64_t serial[8];
} current_seen_t;

static int
on_current(void *ctx, const Quietstate__StateMessage *m)
{
    current_seen_t *c = ctx;
    if (c->n < 8) {
        snprintf(c->topic[c->n], 32, "%s", m->topic_id);
        c->state[c->n] = m->state_id;
        c->serial[c->n] = m->serial;
    }
    c->n++;
    return 0;
}

static uint64_t
pending_of(qs_outbox_t *ob)
{
    uint64_t n = 0;
    QS_CHECK(qs_outbox_pending_count(ob, &n) == 0);
    return n;
}

static void
test_outbox_current_state_follows_every_append(void)
{
    qs_outbox_t *ob = open_ob("h.db");
    current_seen_t c = { 0 };

    append_one(ob, "KB2", 2);
    append_one(ob, "KB1", 2);
    append_one(ob, "KB1", 3);
    /* Acked messages stay in the current state: it is the endpoint's truth,
     * not the outbox's backlog. */
    QS_CHECK(qs_outbox_ack(ob, 3) == 0);
    QS_CHECK(qs_outbox_current_each(ob, 0, on_current, &c) == 0);
    QS_CHECK_EQ_INT(c.n, 2);
    QS_CHECK_STR(c.topic[0], "KB1");
    QS_CHECK_EQ_INT(c.state[0], 3);
    QS_CHECK_EQ_INT(c.serial[0], 3);
    QS_CHECK_STR(c.topic[1], "KB2");
    QS_CHECK_EQ_INT(c.state[1], 2);
    /* Filtered by topic type: none of 300. */
    memset(&c, 0, sizeof c);
    QS_CHECK(qs_outbox_current_each(ob, 300, on_current, &c) == 0);
    QS_CHECK_EQ_INT(c.n, 0);
    qs_outbox_destroy(&ob);
}

static void
test_outbox_resend_current_appends_the_state_as_new_serials(void)
{
    qs_outbox_t *ob = open_ob("i.db");
    current_seen_t c = { 0 };
    qs_msgref_t refs[8];
    uint8_t buf[4096];
    size_t n = 0;
    uint64_t count = 0, first = 0;
    char err[256];

    append_one(ob, "KB1", 2);
    append_one(ob, "KB2", 2);
    append_one(ob, "KB1", 3);
    QS_CHECK(qs_outbox_ack(ob, 3) == 0);
    QS_CHECK(qs_outbox_resend_current(ob, &count, &first, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(count, 2);
    QS_CHECK_EQ_INT(first, 4);
    QS_CHECK(qs_outbox_take(ob, 3, refs, 8, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++) {
        Quietstate__StateMessage *m =
            quietstate__state_message__unpack(NULL, refs[i].len, buf + refs[i].off);
        QS_CHECK(m != NULL);
        if (m == NULL)
            continue;
        QS_CHECK_EQ_INT(m->serial, 4 + i);
        QS_CHECK_STR(m->topic_id, i == 0 ? "KB1" : "KB2");
        QS_CHECK_EQ_INT(m->state_id, i == 0 ? 3 : 2);
        QS_CHECK_STR(m->machine_name, "host-1");
        QS_CHECK_EQ_INT(m->time_utc_ms, 1764072000000LL);   /* the state's own time */
        quietstate__state_message__free_unpacked(m, NULL);
    }
    QS_CHECK(qs_outbox_current_each(ob, 0, on_current, &c) == 0);
    QS_CHECK_EQ_INT(c.serial[0], 4);
    QS_CHECK_EQ_INT(c.serial[1], 5);
    /* An empty current state resends nothing. */
    qs_outbox_destroy(&ob);
    ob = open_ob("i2.db");
    QS_CHECK(qs_outbox_resend_current(ob, &count, &first, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(count, 0);
    QS_CHECK_EQ_INT(first, 0);
    qs_outbox_destroy(&ob);
}

/* docs/resync.md: a request runs once per generation when due, and the
 * batches that hold its serials carry its markers beside the instance id. */
static void
test_outbox_resync_request_runs_once_and_marks_its_batches(void)
{
    qs_outbox_t *ob = open_ob("rs.db");
    uint8_t inst[16], inst2[16], fields[QS_SOURCE_FIELDS_MAX];
    Quietstate__Batch *b;
    size_t len;

    append_one(ob, "KB1", 2);
    append_one(ob, "KB2", 2);
    QS_CHECK(qs_outbox_ack(ob, 2) == 0);
    QS_CHECK(qs_outbox_instance(ob, inst) == 0);
    QS_CHECK(qs_outbox_instance(ob, inst2) == 0);
    QS_CHECK(memcmp(inst, inst2, sizeof inst) == 0);
    /* Not due yet: kept, nothing appended; then due: serials 3..4. */
    QS_CHECK_EQ_INT(qs_outbox_resync_request(ob, 9, 60000, 1000), 0);
    QS_CHECK_EQ_INT(qs_outbox_resync_run_due(ob, 2000), 0);
    QS_CHECK_EQ_INT(qs_outbox_resync_run_due(ob, 61000), 1);
    QS_CHECK_EQ_INT(qs_outbox_resync_run_due(ob, 62000), 0);
    QS_CHECK_EQ_INT(qs_outbox_resync_request(ob, 9, 0, 63000), 0);   /* heard before */
    len = qs_outbox_batch_fields(ob, 3, 4, fields);
    b = quietstate__batch__unpack(NULL, len, fields);
    QS_CHECK(b != NULL);
    if (b != NULL) {
        QS_CHECK(b->instance.len == 16 && memcmp(b->instance.data, inst, 16) == 0);
        QS_CHECK_EQ_INT(b->resync_generation, 9);
        QS_CHECK_EQ_INT(b->resync_last_serial, 4);
        quietstate__batch__free_unpacked(b, NULL);
    }
    len = qs_outbox_batch_fields(ob, 1, 2, fields);   /* before the resync: no markers */
    b = quietstate__batch__unpack(NULL, len, fields);
    QS_CHECK(b != NULL && b->resync_generation == 0 && b->instance.len == 16);
    if (b != NULL)
        quietstate__batch__free_unpacked(b, NULL);
    qs_outbox_destroy(&ob);
    /* Another outbox file: another instance id. */
    ob = open_ob("rs2.db");
    QS_CHECK(qs_outbox_instance(ob, inst2) == 0);
    QS_CHECK(memcmp(inst, inst2, sizeof inst) != 0);
    qs_outbox_destroy(&ob);
}

/* Take everything pending after `after` (marks it taken) and check each
 * blob's serial is its row's; returns how many, topics into topics[]. */
static size_t
take_check(qs_outbox_t *ob, uint64_t after, size_t max, char topics[][8], uint32_t *states)
{
    qs_msgref_t refs[8];
    uint8_t buf[4096];
    size_t n = 0;

    QS_CHECK(qs_outbox_take(ob, after, refs, max, buf, sizeof buf, &n) == 0);
    for (size_t i = 0; i < n; i++) {
        Quietstate__StateMessage *m =
            quietstate__state_message__unpack(NULL, refs[i].len, buf + refs[i].off);
        QS_CHECK(m != NULL);
        if (m == NULL)
            continue;
        QS_CHECK_EQ_INT(m->serial, refs[i].serial);
        QS_CHECK_EQ_INT(refs[i].serial, after + 1 + i);   /* no gap */
        snprintf(topics[i], 8, "%s", m->topic_id);
        states[i] = m->state_id;
        quietstate__state_message__free_unpacked(m, NULL);
    }
    return n;
}

static int
try_append(qs_outbox_t *ob, const char *topic, uint32_t state, uint64_t *serial, char *err,
           size_t err_len)
{
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;

    m.time_utc_ms = 1764072000000LL;
    m.topic_type = 500;
    m.topic_id = (char *)topic;
    m.state_id = state;
    err[0] = '\0';
    return qs_outbox_append(ob, &m, serial, err, err_len);
}

static void
test_outbox_cap_drops_oldest_superseded_then_refuses(void)
{
    qs_outbox_t *ob = open_ob("j.db");
    qs_outbox_status_t st;
    current_seen_t c = { 0 };
    char topics[8][8], err[256];
    uint32_t states[8];
    uint64_t serial = 0, max = 0;

    QS_CHECK(qs_outbox_max_pending(ob, &max) == 0);
    QS_CHECK_EQ_INT(max, QS_OUTBOX_DEFAULT_MAX_PENDING);
    QS_CHECK(qs_outbox_set_max_pending(ob, 0) == -1);
    QS_CHECK(qs_outbox_set_max_pending(ob, 4) == 0);
    append_one(ob, "KB1", 2);   /* 1: superseded by 3 */
    append_one(ob, "KB2", 2);   /* 2: superseded by the 5th append */
    append_one(ob, "KB1", 3);   /* 3 */
    append_one(ob, "KB3", 2);   /* 4 */
    /* Over the cap: the oldest superseded (KB1 state 2) goes, the rest is
     * renumbered 1..4 (nothing was taken: the store saw none of them). */
    QS_CHECK_EQ_INT(append_one(ob, "KB2", 3), 4);
    QS_CHECK_EQ_INT(pending_of(ob), 4);
    /* Next: the old KB2 goes. */
    QS_CHECK_EQ_INT(append_one(ob, "KB4", 2), 4);
    QS_CHECK_EQ_INT(pending_of(ob), 4);
    /* Each pending message is its topic's latest now: refused, no trace. */
    QS_CHECK(try_append(ob, "KB5", 2, &serial, err, sizeof err) == -1);
    QS_CHECK(strstr(err, "outbox full") != NULL);
    QS_CHECK(qs_outbox_status(ob, &st) == 0);
    QS_CHECK_EQ_INT(st.pending, 4);
    QS_CHECK_EQ_INT(st.current_topics, 4);
    QS_CHECK_EQ_INT(st.next_serial, 5);
    QS_CHECK_EQ_INT(st.dropped_superseded, 2);
    /* A sender takes 1 and 2 (KB1 state 3, KB3): those are never dropped. */
    QS_CHECK_EQ_INT(take_check(ob, 0, 2, topics, states), 2);
    QS_CHECK_STR(topics[0], "KB1");
    QS_CHECK_EQ_INT(states[0], 3);
    QS_CHECK_STR(topics[1], "KB3");
    QS_CHECK(try_append(ob, "KB3", 3, &serial, err, sizeof err) == -1);
    QS_CHECK(strstr(err, "outbox full") != NULL);
    /* A newer KB4 supersedes the untaken 4: it makes the room. */
    QS_CHECK(try_append(ob, "KB4", 3, &serial, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(serial, 4);
    QS_CHECK_EQ_INT(take_check(ob, 0, 8, topics, states), 4);
    QS_CHECK_STR(topics[2], "KB2");
    QS_CHECK_EQ_INT(states[2], 3);
    QS_CHECK_STR(topics[3], "KB4");
    QS_CHECK_EQ_INT(states[3], 3);
    /* The current state follows the renumbering. */
    QS_CHECK(qs_outbox_current_each(ob, 0, on_current, &c) == 0);
    QS_CHECK_EQ_INT(c.n, 4);
    QS_CHECK_STR(c.topic[3], "KB4");
    QS_CHECK_EQ_INT(c.serial[3], 4);
    QS_CHECK_STR(c.topic[1], "KB2");
    QS_CHECK_EQ_INT(c.serial[1], 3);
    QS_CHECK(qs_outbox_status(ob, &st) == 0);
    QS_CHECK_EQ_INT(st.dropped_superseded, 3);
    QS_CHECK_EQ_INT(st.taken_upto, 4);
    QS_CHECK_EQ_INT(st.max_pending, 4);
    /* Once acked there is room again; acked messages are gone from the
     * outbox, so the cap never touches one. */
    QS_CHECK(qs_outbox_ack(ob, 4) == 0);
    QS_CHECK_EQ_INT(append_one(ob, "KB5", 2), 5);
    qs_outbox_destroy(&ob);
    /* The cap is kept in the file. */
    ob = open_ob("j.db");
    QS_CHECK(qs_outbox_max_pending(ob, &max) == 0);
    QS_CHECK_EQ_INT(max, 4);
    qs_outbox_destroy(&ob);
}

static int
count_rejected(void *ctx, const qs_outbox_rejected_t *r)
{
    int *n = ctx;
    if (r->reason[0] != '\0')
        (*n)++;
    return 0;
}

static void
test_outbox_rejected_list_expires_without_names(void)
{
    char path[600], cmd[800];
    qs_outbox_t *ob = open_ob("k.db");
    qs_outbox_status_t st;
    uint64_t erased = 9, deleted = 9;
    int64_t now = (int64_t)time(NULL) * 1000, day = 86400000LL;
    int with_reason = 0;

    for (int i = 0; i < 3; i++)
        append_one(ob, "KB1", 2);
    for (uint64_t s = 1; s <= 3; s++)
        QS_CHECK(qs_outbox_reject(ob, s, QUIETSTATE__STATUS__BAD_MESSAGE,
                                  QUIETSTATE__CODE__STATE_OUT_OF_RANGE, "refused KB1") == 0);
    qs_outbox_destroy(&ob);
    /* Age them: 1 is 400 days old, 2 is 31 days, 3 is 1 day. */
    path_in_dir(path, sizeof path, "k.db");
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"UPDATE rejected SET rejected_ms = CASE serial "
             "WHEN 1 THEN %lld WHEN 2 THEN %lld ELSE %lld END\"", path,
             (long long)(now - 400 * day), (long long)(now - 31 * day), (long long)(now - day));
    if (system(cmd) != 0) {
        printf("     (sqlite3 shell not available: expiry test skipped)\n");
        return;
    }
    ob = open_ob("k.db");   /* open already expires by the clock; expire again explicitly */
    QS_CHECK(qs_outbox_expire_rejected(ob, now, QS_OUTBOX_REJECTED_KEEP_DAYS, &erased,
                                       &deleted) == 0);
    QS_CHECK(qs_outbox_status(ob, &st) == 0);
    QS_CHECK_EQ_INT(st.rejected, 2);              /* 1 deleted beyond a year */
    QS_CHECK_EQ_INT(st.rejected_erased, 1);       /* 2 keeps no message, no reason */
    QS_CHECK(qs_outbox_rejected_each(ob, count_rejected, &with_reason) == 0);
    QS_CHECK_EQ_INT(with_reason, 1);              /* only 3 still has its reason */
    QS_CHECK(qs_outbox_expire_rejected(ob, now, QS_OUTBOX_REJECTED_KEEP_DAYS, &erased,
                                       &deleted) == 0);
    QS_CHECK_EQ_INT(erased, 0);
    QS_CHECK_EQ_INT(deleted, 0);
    qs_outbox_destroy(&ob);
    snprintf(cmd, sizeof cmd, "test \"$(sqlite3 '%s' \"SELECT count(*) FROM rejected WHERE "
             "serial = 2 AND length(msg) = 0 AND reason = '' AND code = "
             "'STATE_OUT_OF_RANGE'\")\" = 1", path);
    QS_CHECK(system(cmd) == 0);
}

static void
test_outbox_old_schema_is_upgraded(void)
{
    char path[600], cmd[1200];
    qs_outbox_t *ob;
    uint64_t serial = 0;

    path_in_dir(path, sizeof path, "old.db");
    snprintf(cmd, sizeof cmd, "umask 077 && sqlite3 '%s' \"CREATE TABLE meta(id INTEGER PRIMARY "
             "KEY CHECK (id = 1), next_serial INTEGER NOT NULL); CREATE TABLE outbox(serial "
             "INTEGER PRIMARY KEY, msg BLOB NOT NULL); INSERT INTO meta VALUES (1, 8); INSERT "
             "INTO outbox VALUES (7, x'0807');\"", path);
    if (system(cmd) != 0) {
        printf("     (sqlite3 shell not available: upgrade test skipped)\n");
        return;
    }
    ob = open_ob("old.db");
    QS_CHECK(ob != NULL);
    if (ob == NULL)
        return;
    serial = append_one(ob, "KB1", 2);
    QS_CHECK_EQ_INT(serial, 8);
    QS_CHECK_EQ_INT(pending_of(ob), 2);
    /* An older sender may have sent 7: it counts as taken, never renumbered. */
    {
        qs_outbox_status_t st;
        QS_CHECK(qs_outbox_status(ob, &st) == 0);
        QS_CHECK_EQ_INT(st.taken_upto, 7);
        QS_CHECK_EQ_INT(st.current_topics, 1);
    }
    qs_outbox_destroy(&ob);
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
    QS_RUN(test_outbox_current_state_follows_every_append);
    QS_RUN(test_outbox_resend_current_appends_the_state_as_new_serials);
    QS_RUN(test_outbox_resync_request_runs_once_and_marks_its_batches);
    QS_RUN(test_outbox_cap_drops_oldest_superseded_then_refuses);
    QS_RUN(test_outbox_rejected_list_expires_without_names);
    QS_RUN(test_outbox_old_schema_is_upgraded);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return qs_test_summary();
}

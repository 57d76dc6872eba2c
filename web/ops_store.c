/* ops_store.c - the worker's operations on store.db: compliance, stats, lookup, forget, verify.
 *
 * Each calls store/'s interface (the only code that touches store.db; the
 * privacy rules live behind it) and answers with the document qsctl prints
 * for the same question with --format json, built by the same function
 * (store/qs_storedoc.h, retention/qs_verifydoc.h). What belongs to the
 * worker rather than to store/: the roles (ops.c), a lookup's reason, the
 * per-admin lookup rate limit (429), and the audit entries under the
 * authenticated name ("web:NAME"): a lookup is audited, with its reason and
 * the machine's pseudonym prefix (never the raw name: site.db holds none),
 * before anything is read; a forget is audited after the rows are gone, with
 * the detail `qsctl forget` writes. An operator's stats carry the published
 * total (qs_storedb_stats_published): subtracting the cells it can see from
 * it gives 0, never a suppressed count.
 */
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_store_group.h"
#include "qs_store_forget.h"
#include "qs_store_lookup.h"
#include "qs_store_query.h"
#include "qs_storedoc.h"
#include "qs_verifydoc.h"
#include "ops_deploy.h"
#include "verify.h"
#include "worker_int.h"

#include <sodium.h>
#include <string.h>

/* 1 if text is 1..max bytes of UTF-8 without control characters. */
static int
printable(const char *text, size_t max)
{
    size_t len = text ? strlen(text) : 0;

    if (len == 0 || len > max || !qs_utf8_valid(text, len))
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return 0;
    return 1;
}

int
wk_topic_filter(wk_topic_filter_t *f, const cJSON *args, cJSON **body)
{
    const char *topic_id = wk_arg_str(args, "topic_id");
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(args, "topic_type");

    memset(f, 0, sizeof *f);
    if (topic_id != NULL) {   /* stored ids have one spelling: so has the filter */
        if (!printable(topic_id, QS_MAX_TOPIC_ID_BYTES))
            return wk_error(body, 400, "'topic_id' must be 1..%u printable bytes",
                            QS_MAX_TOPIC_ID_BYTES);
        snprintf(f->id, sizeof f->id, "%s", topic_id);
        (void)qs_topic_id_normalize(f->id);
        f->topic_id = f->id;
    }
    if (tt != NULL) {
        if (!cJSON_IsNumber(tt) || tt->valuedouble < 1 || tt->valuedouble > 100000 ||
            qs_topic_check((uint32_t)tt->valuedouble, 0) == -1)
            return wk_error(body, 400, "'topic_type' is not a known topic type "
                            "(300, 301, 302, 400, 401, 402, 500, 501 or 700)");
        f->topic_type = (uint32_t)tt->valuedouble;
        f->has_type = 1;
    }
    return 0;
}

/* GET /api/v1/compliance?group=G: the same document over G's members,
 * suppressed by the same rules in store/; 404 for an unknown group. */
static int
compliance_group(wk_t *w, cJSON **body, const qs_policy_t *policy, const char *group,
                 const uint32_t *topic_type, const char *topic_id)
{
    qs_storedb_compliance_t res;
    char err[WK_ERR_BYTES];
    int rc;

    if (qs_group_name_check(group, err, sizeof err) != 0)
        return wk_error(body, 400, "'group': %s", err);
    rc = qs_storedb_group_compliance(w->storedb, &res, policy, group, topic_type, topic_id, err,
                                     sizeof err);
    if (rc == QS_GROUP_UNKNOWN)
        return wk_error(body, 404, "unknown group '%s'", group);
    if (rc != 0)
        return wk_error(body, 500, "%s", err);
    *body = qs_storedoc_compliance(&res);
    qs_storedb_compliance_free(&res);
    return 200;
}

int
wk_op_compliance(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *group = wk_arg_str(args, "group");
    wk_topic_filter_t f;
    qs_storedb_compliance_t res;
    qs_policy_t policy;
    int configured, status;
    int64_t version;
    char err[WK_ERR_BYTES];

    (void)user;
    if (wk_arg_str(args, "deployment") != NULL)   /* ops_deploy.c */
        return wk_op_compliance_deployment(w, args, wk_arg_str(args, "deployment"), body);
    if ((status = wk_topic_filter(&f, args, body)) != 0)
        return status;
    if (qs_sitedb_policy_get(w->sitedb, &policy, &configured, &version) != 0)
        return wk_error(body, 500, "cannot read the policy (for k) from site.db");
    if (group != NULL)   /* the group's members only (docs/groups.md) */
        return compliance_group(w, body, &policy, group, f.has_type ? &f.topic_type : NULL,
                                f.topic_id);
    if (qs_storedb_compliance(w->storedb, &res, &policy, f.has_type ? &f.topic_type : NULL,
                              f.topic_id, err, sizeof err) != 0)
        return wk_error(body, 500, "%s", err);
    *body = qs_storedoc_compliance(&res);
    qs_storedb_compliance_free(&res);
    return 200;
}

int
wk_op_stats(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    qs_storedb_stats_t st;
    qs_brokerstats_t broker;
    qs_policy_t policy;
    int configured, have_broker, rc;
    int64_t version, enrolled = 0, revoked = 0;
    char err[WK_ERR_BYTES];

    (void)args;
    if (qs_sitedb_client_counts(w->sitedb, &enrolled, &revoked, err, sizeof err) != 0)
        return wk_error(body, 500, "%s", err);
    if (user->role == QS_ROLE_OPERATOR) {   /* aggregates only: the published total */
        if (qs_sitedb_policy_get(w->sitedb, &policy, &configured, &version) != 0)
            return wk_error(body, 500, "cannot read the policy (for k) from site.db");
        rc = qs_storedb_stats_published(w->storedb, &st, &policy, err, sizeof err);
    } else {
        rc = qs_storedb_stats(w->storedb, &st, err, sizeof err);
    }
    if (rc != 0)
        return wk_error(body, 500, "%s", err);
    have_broker = qs_storedoc_broker_merge(&broker, &st, w->paths.broker_stats, err,
                                           sizeof err);
    if (have_broker < 0)
        log_warn("stats: cannot read the broker's counters: %s; showing the store's only", err);
    *body = qs_storedoc_stats(&st, enrolled, revoked, have_broker > 0 ? &broker : NULL);
    qs_storedb_stats_free(&st);
    return 200;
}

/* Count one lookup for user in the current minute. 0 allowed, -1 over the limit. */
static int
rate_take(wk_t *w, const char *name)
{
    int64_t now = qs_clock_mono_ms();
    wk_rate_t *slot = NULL, *oldest = &w->rates[0];

    for (size_t i = 0; i < WK_MAX_RATE_USERS; i++) {
        if (strcmp(w->rates[i].name, name) == 0)
            slot = &w->rates[i];
        if (w->rates[i].window_ms < oldest->window_ms)
            oldest = &w->rates[i];
    }
    if (slot == NULL) {   /* reuse the stalest slot: its window is the oldest */
        slot = oldest;
        memset(slot, 0, sizeof *slot);
        snprintf(slot->name, sizeof slot->name, "%s", name);
        slot->window_ms = now;
    }
    if (now - slot->window_ms >= 60000) {
        slot->window_ms = now;
        slot->count = 0;
    }
    if (slot->count >= w->cfg.web_lookups_per_minute)
        return -1;
    slot->count++;
    return 0;
}

/* The pseudonyms of args' "machine" (and "domain", when given) with the
 * site key: 0, or a 400 status with *body set (a missing, unprintable or
 * blank name: a blank one has the all-zero pseudonym). */
static int
machine_pseudonyms(qs_machine_ps_t *who, const wk_t *w, const cJSON *args, cJSON **body)
{
    const char *machine = wk_arg_str(args, "machine"), *domain = wk_arg_str(args, "domain");
    int have_domain = cJSON_GetObjectItemCaseSensitive(args, "domain") != NULL;

    memset(who, 0, sizeof *who);
    if (!printable(machine, QS_MAX_NAME_BYTES))
        return wk_error(body, 400, "the machine name must be 1..%u printable bytes",
                        QS_MAX_NAME_BYTES);
    if (have_domain && !printable(domain, QS_MAX_NAME_BYTES))
        return wk_error(body, 400, "'domain' must be 1..%u printable bytes", QS_MAX_NAME_BYTES);
    /* Every spelling (qs_pseudonym_machine): rows under the legacy fold too. */
    switch (qs_pseudonym_machine(who, w->site_key, machine, have_domain ? domain : NULL)) {
    case 0: return 0;
    case 1: case 2: return wk_error(body, 400, "the machine and domain names must not be blank");
    default: return wk_error(body, 400, "the machine and domain names must be UTF-8");
    }
    return 0;
}

/* Audit the lookup (before anything is read): 0, or 500 with *body set. */
static int
lookup_audit(wk_t *w, const qs_user_t *user, const char *ps_hex, const char *reason,
             int history, cJSON **body)
{
    char err[WK_ERR_BYTES];
    cJSON *detail = cJSON_CreateObject();
    int rc = 0;

    cJSON_AddStringToObject(detail, "machine_ps", ps_hex);
    cJSON_AddStringToObject(detail, "reason", reason);
    cJSON_AddBoolToObject(detail, "history", history);
    if (wk_begin(w, err, sizeof err) != 0 ||
        wk_audit(w, user, "lookup", detail, err, sizeof err) != 0 ||
        wk_commit(w, err, sizeof err) != 0)
        rc = wk_error(body, 500, "cannot audit the lookup, so it is refused: %s", err);
    cJSON_Delete(detail);
    return rc;
}

int
wk_op_lookup(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *reason = wk_arg_str(args, "reason");
    int history = cJSON_IsTrue(cJSON_GetObjectItem(args, "history")), rc;
    qs_machine_ps_t who;
    char ps_hex[QS_STOREDOC_PS_HEX_BYTES], err[WK_ERR_BYTES];
    qs_storedb_lookup_t rows = { NULL, 0 };

    if ((rc = machine_pseudonyms(&who, w, args, body)) != 0)
        goto out;
    if (!printable(reason, WK_REASON_MAX_BYTES)) {
        rc = wk_error(body, 400, "'reason' is required: 1..%u printable bytes saying why "
                      "this machine is looked up", WK_REASON_MAX_BYTES);
        goto out;
    }
    if (rate_take(w, user->name) != 0) {
        rc = wk_error(body, 429, "more than %d lookups in a minute by '%s': wait",
                      w->cfg.web_lookups_per_minute, user->name);
        goto out;
    }
    qs_hex_encode(ps_hex, sizeof ps_hex, who.machine_ps[0], QS_STOREDOC_PS_PREFIX_BYTES);
    if ((rc = lookup_audit(w, user, ps_hex, reason, history, body)) != 0)
        goto out;
    if (qs_storedb_lookup_who(w->storedb, &rows, &who, history,
                              history ? w->epochkeys : NULL, err, sizeof err) != 0) {
        rc = wk_error(body, 500, "%s", err);
        goto out;
    }
    *body = qs_storedoc_lookup(&rows, history, ps_hex);
    rc = 200;
out:
    qs_storedb_lookup_free(&rows);
    qs_machine_ps_wipe(&who);
    return rc;
}

/* Forget the machine, then audit it as `qsctl forget` does; the status. */
static int
forget_and_audit(wk_t *w, const qs_user_t *user, const qs_machine_ps_t *who, cJSON **body)
{
    const uint8_t *mps = who->machine_ps[0], *dps = who->has_domain ? who->domain_ps[0] : NULL;
    char ps_hex[QS_STOREDOC_PS_HEX_BYTES], dps_hex[QS_STOREDOC_PS_HEX_BYTES];
    char err[WK_ERR_BYTES], scrub_err[WK_ERR_BYTES] = "";
    qs_forget_counts_t counts;
    int forget_rc;

    qs_hex_encode(ps_hex, sizeof ps_hex, mps, QS_STOREDOC_PS_PREFIX_BYTES);
    if (dps != NULL)
        qs_hex_encode(dps_hex, sizeof dps_hex, dps, QS_STOREDOC_PS_PREFIX_BYTES);
    forget_rc = qs_storedb_forget_who(w->storedb, &counts, who, scrub_err, sizeof scrub_err);
    if (forget_rc == -1)   /* nothing deleted: no audit entry for what did not happen */
        return wk_error(body, 500, "nothing was removed: %s", scrub_err);
    *body = qs_storedoc_forget_detail(ps_hex, dps ? dps_hex : NULL, &counts);
    if (wk_begin(w, err, sizeof err) != 0 ||
        wk_audit(w, user, "forget", *body, err, sizeof err) != 0 ||
        wk_commit(w, err, sizeof err) != 0) {
        cJSON_Delete(*body);
        return wk_error(body, 500, "the rows were removed, but the audit entry could not be "
                        "written: %s", err);
    }
    if (forget_rc != 0)
        cJSON_AddStringToObject(*body, "warning", scrub_err);   /* "scrubbed": false */
    return 200;
}

int
wk_op_forget(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    static const char *const fields[] = { "machine", "domain" };
    qs_machine_ps_t who;
    int rc;

    if ((rc = wk_only_fields(args, fields, 2, body)) != 0)
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(args, "machine") == NULL)
        return wk_error(body, 400, "'machine' is required");
    if ((rc = machine_pseudonyms(&who, w, args, body)) == 0)
        rc = forget_and_audit(w, user, &who, body);
    qs_machine_ps_wipe(&who);
    return rc;
}

int
wk_op_verify(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    qs_verify_t *v;
    int verified;

    (void)user;
    (void)args;
    /* As `qsctl verify`: one retention interval of lag allowed. */
    v = qs_verify_new(&w->paths, qs_clock_now_ms(&w->clock),
                      (int64_t)w->cfg.retention_interval_s * 1000);
    verified = qs_verify_run(v) == 0;
    *body = qs_verify_doc(v, verified, 0, 0);
    qs_verify_destroy(&v);
    return 200;
}

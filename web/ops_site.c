/* ops_site.c - the worker's operations on site.db: policy, audit, enroll, revoke.
 *
 * Each answers with the document qsctl prints for the same question with
 * --format json (built by common/qs_docs.h, so both doors print one shape).
 * Changes are one audited transaction under "web:NAME": the change and its
 * audit entry commit together or not at all.
 *
 * PUT /api/v1/policy applies the body to the current policy with
 * qs_doc_policy_apply, the function `qsctl policy set` applies its flags
 * with (keys not given keep their value; see qs_docs.h). Enrollment is
 * common/'s qs_enroll_client_tx and the name rule qs_client_name_check
 * (qs_enroll.h), as for `qsctl enroll` and `qsctl revoke`.
 */
#include "qs_audit.h"
#include "qs_docs.h"
#include "qs_enroll.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "worker_int.h"

#include <sodium.h>
#include <string.h>

int
wk_op_policy_get(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    (void)user;
    (void)args;
    if (qs_doc_policy_read(body, w->sitedb, 0) != 0)
        return wk_error(body, 500, "cannot read the current policy from site.db");
    return 200;
}

int
wk_op_policy_history(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    (void)user;
    (void)args;
    if (qs_doc_policy_read(body, w->sitedb, 1) != 0)
        return wk_error(body, 500, "cannot read policy versions from site.db");
    return 200;
}

/* Store next as a new version with its "policy.set" audit entry; *body
 * says what changed. Inside the open transaction. Returns the status. */
static int
policy_store(wk_t *w, const qs_user_t *user, const qs_policy_t *next, const char *old_json,
             const char *new_json, cJSON **body)
{
    char err[WK_ERR_BYTES], actor[sizeof "web:" + QS_USER_NAME_MAX];
    cJSON *detail = cJSON_CreateObject();
    int64_t version;

    snprintf(actor, sizeof actor, "web:%s", user->name);
    if (qs_sitedb_policy_put(w->sitedb, next, actor, qs_clock_now_ms(&w->clock), &version,
                             err, sizeof err) != 0) {
        cJSON_Delete(detail);
        return wk_error(body, 500, "%s", err);
    }
    cJSON_AddItemToObject(detail, "old", old_json ? cJSON_Parse(old_json) : cJSON_CreateNull());
    cJSON_AddItemToObject(detail, "new", cJSON_Parse(new_json));
    cJSON_AddNumberToObject(detail, "version", (double)version);
    if (wk_audit(w, user, "policy.set", detail, err, sizeof err) != 0 ||
        wk_commit(w, err, sizeof err) != 0) {
        cJSON_Delete(detail);
        return wk_error(body, 500, "%s", err);
    }
    *body = detail;   /* {"old", "new", "version"} plus: */
    cJSON_AddBoolToObject(*body, "changed", 1);
    cJSON_AddStringToObject(*body, "actor", actor);
    return 200;
}

int
wk_op_policy_put(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    char err[WK_ERR_BYTES], *old_json = NULL, *new_json = NULL;
    qs_policy_t cur, next;
    int configured, status;
    int64_t version;

    if (wk_begin(w, err, sizeof err) != 0)
        return wk_error(body, 503, "%s", err);
    if (qs_sitedb_policy_get(w->sitedb, &cur, &configured, &version) != 0)
        return wk_error(body, 500, "cannot read the current policy from site.db");
    if (qs_doc_policy_apply(&next, &cur, args, err, sizeof err) != 0)
        return wk_error(body, 400, "%s", err);
    old_json = qs_policy_to_json(&cur);
    new_json = qs_policy_to_json(&next);
    if (old_json == NULL || new_json == NULL)
        qs_fatal("out of memory serialising the policy");
    if (configured && strcmp(old_json, new_json) == 0) {
        *body = cJSON_CreateObject();
        cJSON_AddBoolToObject(*body, "changed", 0);
        cJSON_AddNumberToObject(*body, "version", (double)version);
        status = 200;
    } else {
        status = policy_store(w, user, &next, configured ? old_json : NULL, new_json, body);
    }
    free(old_json);
    free(new_json);
    return status;
}

static int
collect_entry(void *vctx, const qs_audit_entry_t *e)
{
    cJSON_AddItemToArray((cJSON *)vctx, qs_doc_audit_entry(e));
    return 0;
}

int
wk_op_audit_show(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    cJSON *entries = cJSON_CreateArray();

    (void)user;
    (void)args;
    if (qs_audit_each(w->sitedb, collect_entry, entries) != 0) {
        cJSON_Delete(entries);
        return wk_error(body, 500, "cannot read the audit log from site.db");
    }
    *body = cJSON_CreateObject();
    cJSON_AddItemToObject(*body, "entries", entries);
    return 200;
}

static int
count_entry(void *vctx, const qs_audit_entry_t *e)
{
    (void)e;
    (*(int64_t *)vctx)++;
    return 0;
}

int
wk_op_audit_verify(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    sqlite3 *sql = qs_sitedb_sqlite(w->sitedb);
    char finding[512] = "";
    int64_t bad_seq = 0, n = 0;
    int vrc;

    (void)user;
    (void)args;
    /* One read transaction: the count and the check see the same log. */
    (void)sqlite3_exec(sql, "BEGIN", NULL, NULL, NULL);
    vrc = qs_audit_verify(w->sitedb, w->audit_key, w->head_path, &bad_seq, finding,
                          sizeof finding);
    if (vrc == 0 && qs_audit_each(w->sitedb, count_entry, &n) != 0)
        vrc = -1;
    (void)sqlite3_exec(sql, "COMMIT", NULL, NULL, NULL);
    if (vrc < 0)
        return wk_error(body, 500, "cannot read the audit log from site.db");
    *body = cJSON_CreateObject();
    cJSON_AddBoolToObject(*body, "intact", vrc == 0);
    if (vrc == 0) {
        cJSON_AddNumberToObject(*body, "entries", (double)n);
    } else {
        cJSON_AddNumberToObject(*body, "bad_seq", (double)bad_seq);
        cJSON_AddStringToObject(*body, "finding", finding);
    }
    return 200;
}

int
wk_op_client_revoke(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *name = wk_arg_str(args, "name");
    char ps_hex[QS_ENROLL_PREFIX_CHARS + 1], err[WK_ERR_BYTES];
    char actor[sizeof "web:" + QS_USER_NAME_MAX];
    int n = 0, rc;

    if (qs_client_name_check(name, "'name'", err, sizeof err) != 0)
        return wk_error(body, 400, "%s", err);
    if (wk_begin(w, err, sizeof err) != 0)
        return wk_error(body, 503, "%s", err);
    snprintf(actor, sizeof actor, "web:%s", user->name);
    rc = qs_revoke_client_tx(&n, ps_hex, w->tx, w->sitedb, w->site_key, actor,
                             qs_clock_now_ms(&w->clock), name, err, sizeof err);
    if (rc == QS_ENROLL_NOT_FOUND)
        return wk_error(body, 404, "no enrolled, unrevoked client is named '%s'", name);
    if (rc != 0 || wk_commit(w, err, sizeof err) != 0)
        return wk_error(body, 500, "%s", err);
    *body = cJSON_CreateObject();
    cJSON_AddStringToObject(*body, "name_ps", ps_hex);
    cJSON_AddNumberToObject(*body, "keys", n);
    cJSON_AddStringToObject(*body, "name", name);
    return 200;
}

/* What POST /api/v1/clients asks besides the name. */
struct enroll_req {
    const char *name;
    const char *machine;    /* NULL: bound to no machine (or, with replace, the
                             * replaced key's machine as site.db binds it) */
    int replace;
};

/* Enroll in the open transaction; *body is the answer. Returns the status. */
static int
enroll_tx(wk_t *w, const qs_user_t *user, const struct enroll_req *r, const uint8_t *broker_pk,
          const uint8_t *store_pk, cJSON **body)
{
    char err[WK_ERR_BYTES], actor[sizeof "web:" + QS_USER_NAME_MAX], *profile = NULL;
    const char *name = r->name;
    qs_enroll_site_t site = {
        .db = w->sitedb, .site_key = w->site_key, .actor = actor,
        .now_ms = qs_clock_now_ms(&w->clock), .endpoint = w->cfg.frontend,
        .broker_pk = broker_pk, .store_pk = store_pk, .machine = r->machine,
        .replace = r->replace,
    };
    qs_enroll_ids_t ids;
    int rc;

    snprintf(actor, sizeof actor, "web:%s", user->name);
    rc = qs_enroll_client_tx(&ids, &profile, w->tx, &site, name, err, sizeof err);
    if (rc != 0)
        return wk_error(body, rc == QS_ENROLL_REFUSED ? 409 : 500, "%s", err);
    if (wk_commit(w, err, sizeof err) != 0) {
        sodium_free(profile);
        return wk_error(body, 500, "%s", err);
    }
    *body = cJSON_CreateObject();
    cJSON_AddStringToObject(*body, "name_ps", ids.name_ps);
    cJSON_AddStringToObject(*body, "key", ids.key);
    cJSON_AddStringToObject(*body, "name", name);
    if (ids.machine_ps[0] != '\0')
        cJSON_AddStringToObject(*body, "machine_ps", ids.machine_ps);
    else
        cJSON_AddNullToObject(*body, "machine_ps");
    cJSON_AddBoolToObject(*body, "replaced", ids.replaced);
    cJSON_AddStringToObject(*body, "endpoint", w->cfg.frontend);
    cJSON_AddStringToObject(*body, "profile", profile);
    sodium_free(profile);
    return 201;
}

int
wk_op_client_enroll(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    static const char *const fields[] = { "name", "machine", "replace" };
    const cJSON *machine = cJSON_GetObjectItemCaseSensitive(args, "machine");
    const cJSON *replace = cJSON_GetObjectItemCaseSensitive(args, "replace");
    struct enroll_req r = { wk_arg_str(args, "name"), NULL, 0 };
    uint8_t broker_pk[QS_KEY_BYTES], store_pk[QS_KEY_BYTES];
    char err[WK_ERR_BYTES];
    int status;

    if ((status = wk_only_fields(args, fields, 3, body)) != 0)
        return status;
    if (qs_client_name_check(r.name, "'name'", err, sizeof err) != 0)
        return wk_error(body, 400, "%s", err);
    if (machine != NULL && !cJSON_IsNull(machine)) {
        r.machine = cJSON_IsString(machine) ? machine->valuestring : NULL;
        if (qs_client_name_check(r.machine, "'machine'", err, sizeof err) != 0)
            return wk_error(body, 400, "%s", err);
    }
    if (replace != NULL && !cJSON_IsBool(replace))
        return wk_error(body, 400, "'replace' must be true or false");
    r.replace = replace != NULL && cJSON_IsTrue(replace);
    if (qs_pubkey_load(broker_pk, w->paths.broker_pub, err, sizeof err) != 0 ||
        qs_pubkey_load(store_pk, w->paths.store_pub, err, sizeof err) != 0)
        return wk_error(body, 500, "%s", err);
    if (wk_begin(w, err, sizeof err) != 0)
        return wk_error(body, 503, "%s", err);
    return enroll_tx(w, user, &r, broker_pk, store_pk, body);
}

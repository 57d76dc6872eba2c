/* ops_site.c - the worker's operations on site.db: policy, audit, enroll, revoke.
 *
 * Each answers with the document qsctl prints for the same question with
 * --format json (built by common/qs_docs.h, so both doors print one shape).
 * Changes are one audited transaction under "web:NAME": the change and its
 * audit entry commit together or not at all.
 *
 * PUT /api/v1/policy merges the body into the current policy: keys not given
 * keep their value; entries of topic_max_age_days set that topic type's own
 * age (0 removes it, as `qsctl policy set --topic-type T --max-age-days 0`);
 * "version", "set_utc", "actor" and "configured" (what GET returns) are
 * ignored, so a GET document can be edited and PUT back. The merged document
 * is validated by qs_policy_from_json, the parser every daemon uses, which
 * names the field that is wrong or unknown.
 */
#include "qs_audit.h"
#include "qs_codec.h"
#include "qs_docs.h"
#include "qs_fsutil.h"
#include "qs_hex.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "qs_pseudonym.h"
#include "worker_int.h"

#include <sodium.h>
#include <string.h>

#include "qs_profile.h"
#define WK_HAVE_PROFILE 1

#define PREFIX_BYTES 8u          /* key and pseudonym prefixes in audit entries */
#define PROFILE_MAX_BYTES 8192u

typedef struct {
    int64_t want;      /* the version to keep, 0 for all */
    cJSON *versions;
} versions_ctx_t;

static int
collect_version(void *vctx, int64_t version, int64_t set_ms, const char *actor,
                const char *json)
{
    versions_ctx_t *ctx = vctx;

    if (ctx->want == 0 || ctx->want == version)
        cJSON_AddItemToArray(ctx->versions, qs_doc_policy_version(version, set_ms, actor, json));
    return 0;
}

int
wk_op_policy_get(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    versions_ctx_t ctx = { 0, NULL };
    qs_policy_t p;
    int configured;
    int64_t version;

    (void)user;
    (void)args;
    if (qs_sitedb_policy_get(w->sitedb, &p, &configured, &version) != 0)
        return wk_error(body, 500, "cannot read the current policy from site.db");
    ctx.want = version;
    ctx.versions = cJSON_CreateArray();
    if (configured && qs_sitedb_policy_each(w->sitedb, collect_version, &ctx) != 0) {
        cJSON_Delete(ctx.versions);
        return wk_error(body, 500, "cannot read policy versions from site.db");
    }
    if (cJSON_GetArraySize(ctx.versions) == 0) {
        *body = cJSON_CreateObject();
        cJSON_AddBoolToObject(*body, "configured", 0);
    } else {
        *body = cJSON_DetachItemFromArray(ctx.versions, 0);
        cJSON_AddBoolToObject(*body, "configured", 1);
    }
    cJSON_Delete(ctx.versions);
    return 200;
}

int
wk_op_policy_history(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    versions_ctx_t ctx = { 0, cJSON_CreateArray() };

    (void)user;
    (void)args;
    if (qs_sitedb_policy_each(w->sitedb, collect_version, &ctx) != 0) {
        cJSON_Delete(ctx.versions);
        return wk_error(body, 500, "cannot read policy versions from site.db");
    }
    *body = cJSON_CreateObject();
    cJSON_AddItemToObject(*body, "versions", ctx.versions);
    return 200;
}

/* Merge the PUT body into cur (a policy object, changed in place). */
static void
merge_policy(cJSON *cur, const cJSON *changes)
{
    static const char *const ignored[] = { "version", "set_utc", "actor", "configured" };
    const cJSON *item, *t;

    cJSON_ArrayForEach(item, changes) {
        int skip = 0;
        for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
            skip |= strcmp(item->string, ignored[i]) == 0;
        if (skip)
            continue;
        if (strcmp(item->string, "topic_max_age_days") == 0 && cJSON_IsObject(item) &&
            cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cur, item->string))) {
            cJSON *topics = cJSON_GetObjectItemCaseSensitive(cur, item->string);
            cJSON_ArrayForEach(t, item) {
                cJSON_DeleteItemFromObjectCaseSensitive(topics, t->string);
                if (!(cJSON_IsNumber(t) && t->valuedouble == 0))
                    cJSON_AddItemToObject(topics, t->string, cJSON_Duplicate(t, 1));
            }
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(cur, item->string);
        cJSON_AddItemToObject(cur, item->string, cJSON_Duplicate(item, 1));
    }
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
    char err[WK_ERR_BYTES], *old_json = NULL, *merged_text = NULL, *new_json = NULL;
    qs_policy_t cur, next;
    cJSON *merged = NULL;
    int configured, status;
    int64_t version;

    if (wk_begin(w, err, sizeof err) != 0)
        return wk_error(body, 503, "%s", err);
    if (qs_sitedb_policy_get(w->sitedb, &cur, &configured, &version) != 0)
        return wk_error(body, 500, "cannot read the current policy from site.db");
    old_json = qs_policy_to_json(&cur);
    merged = old_json ? cJSON_Parse(old_json) : NULL;
    if (merged == NULL)
        qs_fatal("out of memory serialising the policy");
    merge_policy(merged, args);
    merged_text = cJSON_PrintUnformatted(merged);
    cJSON_Delete(merged);
    if (merged_text == NULL)
        qs_fatal("out of memory serialising the policy");
    /* The daemons' own parser: what they cannot load is never stored. */
    if (qs_policy_from_json(&next, merged_text, err, sizeof err) != 0) {
        status = wk_error(body, 400, "%s", err);
        goto out;
    }
    new_json = qs_policy_to_json(&next);
    if (new_json == NULL)
        qs_fatal("out of memory serialising the policy");
    if (configured && strcmp(old_json, new_json) == 0) {
        *body = cJSON_CreateObject();
        cJSON_AddBoolToObject(*body, "changed", 0);
        cJSON_AddNumberToObject(*body, "version", (double)version);
        status = 200;
        goto out;
    }
    status = policy_store(w, user, &next, configured ? old_json : NULL, new_json, body);
out:
    free(old_json);
    free(merged_text);
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

/* A client name as a profile can hold it: 1..QS_MAX_NAME_BYTES of UTF-8,
 * no control characters, no surrounding blank.
 * TEMPORARY ADAPTER (issue #11): ctl_name_check (ctl/ctl_common.c) is the
 * rule; it should move to common/ (qs_name_check) and be called here. */
static int
client_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > QS_MAX_NAME_BYTES || !qs_utf8_valid(name, len) || name[0] == ' ' ||
        name[len - 1] == ' ')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < len &&
                                      (unsigned char)name[i + 1] <= 0x9f))
            return 0;
    }
    return 1;
}

int
wk_op_client_revoke(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *name = wk_arg_str(args, "name");
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char ps_hex[2 * PREFIX_BYTES + 1], err[WK_ERR_BYTES];
    cJSON *detail;
    int n = 0;

    if (!client_name_ok(name))
        return wk_error(body, 400, "'name' must be 1..%u bytes of UTF-8 without control "
                        "characters or surrounding blanks", QS_MAX_NAME_BYTES);
    qs_pseudonym(ps, w->site_key, QS_PSEUDO_CLIENT, name);
    qs_hex_encode(ps_hex, sizeof ps_hex, ps, PREFIX_BYTES);
    if (wk_begin(w, err, sizeof err) != 0)
        return wk_error(body, 503, "%s", err);
    if (qs_sitedb_revoke(w->sitedb, ps, qs_clock_now_ms(&w->clock), &n) != 0)
        return wk_error(body, 500, "cannot revoke in site.db");
    if (n == 0)
        return wk_error(body, 404, "no enrolled, unrevoked client is named '%s'", name);
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "name_ps", ps_hex);
    cJSON_AddNumberToObject(detail, "keys", n);
    if (wk_audit(w, user, "revoke", detail, err, sizeof err) != 0 ||
        wk_commit(w, err, sizeof err) != 0) {
        cJSON_Delete(detail);
        return wk_error(body, 500, "%s", err);
    }
    cJSON_AddStringToObject(detail, "name", name);
    *body = detail;
    return 200;
}

#ifdef WK_HAVE_PROFILE
/* The profile's text for (name, kp): written by the producer's own writer
 * into a private file in the home, read back and shredded.
 * TEMPORARY ADAPTER (issue #11): the profile format is to move to common/
 * (docs/architecture.md) with a qs_profile_format(text buffer) call; then
 * this goes, and web/ stops linking qs_producer_lib. */
static char *
profile_text(wk_t *w, const char *name, const qs_keypair_t *kp, const uint8_t *broker_pk,
             const uint8_t *store_pk, char *errmsg, size_t errmsg_len)
{
    char path[QS_MAX_PATH_BYTES], rnd_hex[33], rel[64], *text = NULL, err[512];
    uint8_t rnd[16];
    size_t len = 0;

    randombytes_buf(rnd, sizeof rnd);
    qs_hex_encode(rnd_hex, sizeof rnd_hex, rnd, sizeof rnd);
    snprintf(rel, sizeof rel, ".web-enroll-%s", rnd_hex);
    if (qs_path_join(path, sizeof path, w->paths.home, rel) != 0) {
        snprintf(errmsg, errmsg_len, "site home path too long");
        return NULL;
    }
    if (qs_profile_write(path, name, kp, w->cfg.frontend, broker_pk, store_pk, errmsg,
                         errmsg_len) == 0 &&
        qs_fs_read_small(&text, &len, path, PROFILE_MAX_BYTES, 1, errmsg, errmsg_len) != 0)
        text = NULL;
    if (qs_fs_shred(path, err, sizeof err) != 0)
        log_warn("cannot shred '%s': %s", path, err);
    return text;
}

/* Enroll in the open transaction; *body is the answer. Returns the status. */
static int
enroll_tx(wk_t *w, const qs_user_t *user, const char *name, const qs_keypair_t *kp,
          const uint8_t *broker_pk, const uint8_t *store_pk, cJSON **body)
{
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char ps_hex[2 * PREFIX_BYTES + 1], key_hex[2 * PREFIX_BYTES + 1], err[WK_ERR_BYTES];
    char *text;
    cJSON *detail;

    qs_pseudonym(ps, w->site_key, QS_PSEUDO_CLIENT, name);
    qs_hex_encode(ps_hex, sizeof ps_hex, ps, PREFIX_BYTES);
    qs_hex_encode(key_hex, sizeof key_hex, qs_keypair_public(kp), PREFIX_BYTES);
    if (qs_sitedb_enroll(w->sitedb, ps, qs_keypair_public(kp), qs_clock_now_ms(&w->clock),
                         err, sizeof err) != 0)
        return wk_error(body, strncmp(err, "site.db:", 8) == 0 ? 500 : 409, "%s", err);
    text = profile_text(w, name, kp, broker_pk, store_pk, err, sizeof err);
    if (text == NULL)
        return wk_error(body, 500, "cannot write the profile: %s", err);
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "name_ps", ps_hex);
    cJSON_AddStringToObject(detail, "key", key_hex);
    if (wk_audit(w, user, "enroll", detail, err, sizeof err) != 0 ||
        wk_commit(w, err, sizeof err) != 0) {
        sodium_free(text);
        cJSON_Delete(detail);
        return wk_error(body, 500, "%s", err);
    }
    cJSON_AddStringToObject(detail, "name", name);
    cJSON_AddStringToObject(detail, "endpoint", w->cfg.frontend);
    cJSON_AddStringToObject(detail, "profile", text);
    sodium_free(text);
    *body = detail;
    return 201;
}
#endif

int
wk_op_client_enroll(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *name = wk_arg_str(args, "name");
#ifdef WK_HAVE_PROFILE
    uint8_t broker_pk[QS_KEY_BYTES], store_pk[QS_KEY_BYTES];
    char err[WK_ERR_BYTES];
    static const char *const fields[] = { "name" };
    qs_keypair_t *kp;
    int status;

    if ((status = wk_only_fields(args, fields, 1, body)) != 0)
        return status;
    if (!client_name_ok(name))
        return wk_error(body, 400, "'name' must be 1..%u bytes of UTF-8 without control "
                        "characters or surrounding blanks", QS_MAX_NAME_BYTES);
    if (qs_pubkey_load(broker_pk, w->paths.broker_pub, err, sizeof err) != 0 ||
        qs_pubkey_load(store_pk, w->paths.store_pub, err, sizeof err) != 0)
        return wk_error(body, 500, "%s", err);
    kp = qs_keypair_generate();
    if (kp == NULL)
        return wk_error(body, 500, "cannot allocate locked memory for the client key");
    if (wk_begin(w, err, sizeof err) != 0) {
        qs_keypair_destroy(&kp);
        return wk_error(body, 503, "%s", err);
    }
    status = enroll_tx(w, user, name, kp, broker_pk, store_pk, body);
    qs_keypair_destroy(&kp);
    return status;
#else
    (void)w;
    (void)user;
    (void)name;
    (void)args;
    return wk_error(body, 501, "enrollment is not available in this build");
#endif
}

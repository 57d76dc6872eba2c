/* ops_store.c - the worker's operations on store.db: compliance, stats, lookup, forget, verify.
 *
 * NOT WIRED YET (issue #11): these read or change store.db, which only
 * store/ may touch (issue #10, "One owner for the store's data"). Until they
 * call store/'s interface they validate their arguments and answer 501
 * {"error": "not wired yet"}. What they already do for real is what belongs
 * to the worker rather than to store/: a lookup's reason is checked, the
 * per-admin rate limit is applied (429), and the request is written to the
 * audit log under the authenticated name with its reason and the machine's
 * pseudonym (never the raw name: site.db holds none) before anything else.
 */
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_hex.h"
#include "qs_pseudonym.h"
#include "worker_int.h"

#include <string.h>

#define PS_PREFIX_BYTES 8u

static int
not_wired(cJSON **body)
{
    return wk_error(body, 501, "not wired yet");
}

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
wk_op_compliance(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *topic_id = wk_arg_str(args, "topic_id");

    (void)w;
    (void)user;
    if (topic_id != NULL && !printable(topic_id, QS_MAX_TOPIC_ID_BYTES))
        return wk_error(body, 400, "'topic_id' must be 1..%u printable bytes",
                        QS_MAX_TOPIC_ID_BYTES);
    return not_wired(body);
}

int
wk_op_stats(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    (void)w;
    (void)user;
    (void)args;
    return not_wired(body);
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

int
wk_op_lookup(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *machine = wk_arg_str(args, "machine"), *reason = wk_arg_str(args, "reason");
    const char *domain = wk_arg_str(args, "domain");
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char ps_hex[2 * PS_PREFIX_BYTES + 1], err[WK_ERR_BYTES];
    cJSON *detail;

    if (!printable(machine, QS_MAX_NAME_BYTES))
        return wk_error(body, 400, "the machine name must be 1..%u printable bytes",
                        QS_MAX_NAME_BYTES);
    if (domain != NULL && !printable(domain, QS_MAX_NAME_BYTES))
        return wk_error(body, 400, "'domain' must be 1..%u printable bytes", QS_MAX_NAME_BYTES);
    if (!printable(reason, WK_REASON_MAX_BYTES))
        return wk_error(body, 400, "'reason' is required: 1..%u printable bytes saying why "
                        "this machine is looked up", WK_REASON_MAX_BYTES);
    if (rate_take(w, user->name) != 0)
        return wk_error(body, 429, "more than %d lookups in a minute by '%s': wait",
                        w->cfg.web_lookups_per_minute, user->name);
    qs_pseudonym(ps, w->site_key, QS_PSEUDO_MACHINE, machine);
    qs_hex_encode(ps_hex, sizeof ps_hex, ps, PS_PREFIX_BYTES);
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "machine_ps", ps_hex);
    cJSON_AddStringToObject(detail, "reason", reason);
    cJSON_AddBoolToObject(detail, "history", cJSON_IsTrue(cJSON_GetObjectItem(args, "history")));
    if (wk_begin(w, err, sizeof err) != 0 ||
        wk_audit(w, user, "lookup", detail, err, sizeof err) != 0 ||
        wk_commit(w, err, sizeof err) != 0) {
        cJSON_Delete(detail);
        return wk_error(body, 500, "cannot audit the lookup, so it is refused: %s", err);
    }
    cJSON_Delete(detail);
    return not_wired(body);
}

int
wk_op_forget(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    static const char *const fields[] = { "machine", "domain" };
    const char *machine = wk_arg_str(args, "machine"), *domain = wk_arg_str(args, "domain");
    int rc;

    (void)w;
    (void)user;
    if ((rc = wk_only_fields(args, fields, 2, body)) != 0)
        return rc;
    if (!printable(machine, QS_MAX_NAME_BYTES))
        return wk_error(body, 400, "'machine' must be 1..%u printable bytes",
                        QS_MAX_NAME_BYTES);
    if (cJSON_GetObjectItemCaseSensitive(args, "domain") != NULL &&
        !printable(domain, QS_MAX_NAME_BYTES))
        return wk_error(body, 400, "'domain' must be 1..%u printable bytes", QS_MAX_NAME_BYTES);
    return not_wired(body);
}

int
wk_op_verify(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    (void)w;
    (void)user;
    (void)args;
    return not_wired(body);
}

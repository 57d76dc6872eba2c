/* enroll.c - a client's key into site.db under its name's pseudonym, audited.
 *
 * qs_enroll_client orders its steps so that a failure anywhere leaves
 * nothing behind: the site.db change and the audit entry share one
 * transaction, and the profile - written before the COMMIT, because a
 * committed enrollment without its profile would be a key nobody holds - is
 * unlinked again when the transaction does not commit. qs_enroll_client_tx
 * runs the same steps (enroll_in_tx) with the profile kept as text.
 */
#include "qs_enroll.h"
#include "qs_audit.h"
#include "qs_codec.h"
#include "qs_hex.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_profile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
qs_client_name_check(const char *name, const char *what, char *errmsg, size_t errmsg_len)
{
    size_t len = name ? strlen(name) : 0;
    int blank = 1;

    if (name == NULL || !qs_text_printable(name, QS_MAX_NAME_BYTES)) {
        snprintf(errmsg, errmsg_len, "%s must be 1..%u bytes of UTF-8 without control "
                 "characters", what, QS_MAX_NAME_BYTES);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (name[i] != ' ')
            blank = 0;
    if (blank || name[0] == ' ' || name[len - 1] == ' ') {
        snprintf(errmsg, errmsg_len, "%s must not be blank or start or end with a blank",
                 what);
        return -1;
    }
    return 0;
}

int
qs_enroll_key(uint8_t name_ps[QS_PSEUDONYM_BYTES], int *replaced, qs_sitedb_t *db,
              const uint8_t site_key[32], const char *name, const uint8_t pk[QS_KEY_BYTES],
              int64_t now_ms, int replace, char *errmsg, size_t errmsg_len)
{
    uint8_t ps[QS_PSEUDONYM_BYTES];
    int n_revoked = 0;

    if (replaced != NULL)
        *replaced = 0;
    qs_pseudonym(ps, site_key, QS_PSEUDO_CLIENT, name);
    if (name_ps != NULL)
        memcpy(name_ps, ps, sizeof ps);
    if (qs_sitedb_enroll(db, ps, pk, now_ms, errmsg, errmsg_len) == 0)
        return 0;
    if (!replace)
        return -1;
    /* The name belongs to another key: revoke it, then enroll pk. */
    if (qs_sitedb_revoke(db, ps, now_ms, &n_revoked) != 0 || n_revoked == 0 ||
        qs_sitedb_enroll(db, ps, pk, now_ms, errmsg, errmsg_len) != 0)
        return -1;
    if (replaced != NULL)
        *replaced = 1;
    return 0;
}

/* Create profile_path empty, failing on any existing file or symlink. */
static int
reserve_profile(const char *path, char *errmsg, size_t errmsg_len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0) {
        snprintf(errmsg, errmsg_len, errno == EEXIST
                 ? "'%s' already exists: enroll never overwrites a profile; choose another "
                   "--out or move the file away"
                 : "cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* Where the profile goes: a new file at path, or (path NULL) *text. */
typedef struct {
    const char *path;
    char **text;
    int reserved;      /* path was created by this call */
    int refused;       /* site.db refused the name or key */
} profile_sink_t;

/* The profile for (name, kp) into the sink. */
static int
profile_out(profile_sink_t *sink, const qs_enroll_site_t *site, const qs_keypair_t *kp,
            const char *name, char *errmsg, size_t errmsg_len)
{
    size_t len = 0;

    if (sink->path != NULL) {
        if (reserve_profile(sink->path, errmsg, errmsg_len) != 0)
            return -1;
        sink->reserved = 1;
        return qs_profile_write(sink->path, name, kp, site->endpoint, site->broker_pk,
                                site->store_pk, errmsg, errmsg_len);
    }
    *sink->text = sodium_malloc(QS_PROFILE_MAX_BYTES);
    if (*sink->text == NULL)
        qs_fatal("out of locked memory for a client profile");
    return qs_profile_format(*sink->text, QS_PROFILE_MAX_BYTES, &len, name, kp,
                             site->endpoint, site->broker_pk, site->store_pk, errmsg,
                             errmsg_len);
}

/* The machine the new key is bound to: site->machine's pseudonym, or with
 * replace the machine site.db binds the key being replaced to, or else
 * site->machine_ps (the machine that key reported). *bound = 0: none.
 * Read before the enrollment revokes that key. */
static int
machine_to_bind(uint8_t machine_ps[QS_PSEUDONYM_BYTES], int *bound, const qs_enroll_site_t *site,
                const char *name, char *errmsg, size_t errmsg_len)
{
    uint8_t name_ps[QS_PSEUDONYM_BYTES];

    *bound = 0;
    if (site->machine != NULL) {
        if (qs_client_name_check(site->machine, "the machine name", errmsg, errmsg_len) != 0 ||
            qs_pseudonym_checked(machine_ps, site->site_key, QS_PSEUDO_MACHINE,
                                 site->machine) != 0) {
            if (errmsg[0] == '\0')
                snprintf(errmsg, errmsg_len, "the machine name is not valid UTF-8");
            return -1;
        }
        *bound = 1;
        return 0;
    }
    if (!site->replace)
        return 0;
    qs_pseudonym(name_ps, site->site_key, QS_PSEUDO_CLIENT, name);
    if (qs_sitedb_machine_of_name(machine_ps, bound, site->db, name_ps) != 0) {
        snprintf(errmsg, errmsg_len, "site.db: %s", qs_sitedb_errmsg(site->db));
        return -1;
    }
    if (!*bound && site->machine_ps != NULL) {
        memcpy(machine_ps, site->machine_ps, QS_PSEUDONYM_BYTES);
        *bound = 1;
    }
    return 0;
}

/* The audit entry's detail: what enroll_in_tx did, prefixes only. */
static void
enroll_detail(char *out, size_t cap, const qs_enroll_ids_t *ids)
{
    int n = snprintf(out, cap, "{\"name_ps\":\"%s\",\"key\":\"%s\"", ids->name_ps, ids->key);

    if (ids->machine_ps[0] != '\0')
        n += snprintf(out + n, cap - (size_t)n, ",\"machine_ps\":\"%s\"", ids->machine_ps);
    if (ids->replaced)
        n += snprintf(out + n, cap - (size_t)n, ",\"replaced\":1");
    snprintf(out + n, cap - (size_t)n, "}");
}

/* The steps inside the open transaction: key, binding, profile, audit entry. */
static int
enroll_in_tx(qs_enroll_ids_t *ids, qs_audit_tx_t *tx, const qs_enroll_site_t *site,
             const qs_keypair_t *kp, const char *name, profile_sink_t *sink, char *errmsg,
             size_t errmsg_len)
{
    uint8_t ps[QS_PSEUDONYM_BYTES], machine_ps[QS_PSEUDONYM_BYTES];
    char detail[128 + 3 * QS_ENROLL_PREFIX_CHARS];
    int bound = 0;

    errmsg[0] = '\0';
    if (qs_client_name_check(name, "the client name", errmsg, errmsg_len) != 0 ||
        machine_to_bind(machine_ps, &bound, site, name, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_enroll_key(ps, &ids->replaced, site->db, site->site_key, name,
                      qs_keypair_public(kp), site->now_ms, site->replace, errmsg,
                      errmsg_len) != 0 ||
        (bound && qs_sitedb_bind_machine(site->db, qs_keypair_public(kp), machine_ps, errmsg,
                                         errmsg_len) != 0)) {
        /* qs_sitedb_* say "site.db: …" for a database failure; anything
         * else is a refusal (name held, key reused, machine bound). */
        sink->refused = strncmp(errmsg, "site.db:", 8) != 0;
        return -1;
    }
    qs_hex_encode(ids->name_ps, sizeof ids->name_ps, ps, QS_ENROLL_PREFIX_BYTES);
    qs_hex_encode(ids->key, sizeof ids->key, qs_keypair_public(kp), QS_ENROLL_PREFIX_BYTES);
    if (bound)
        qs_hex_encode(ids->machine_ps, sizeof ids->machine_ps, machine_ps,
                      QS_ENROLL_PREFIX_BYTES);
    sodium_memzero(machine_ps, sizeof machine_ps);
    if (profile_out(sink, site, kp, name, errmsg, errmsg_len) != 0)
        return -1;
    enroll_detail(detail, sizeof detail, ids);
    return qs_audit_tx_append(tx, site->now_ms, site->actor, "enroll", detail, errmsg,
                              errmsg_len);
}

static qs_keypair_t *
client_keypair(char *errmsg, size_t errmsg_len)
{
    qs_keypair_t *kp = qs_keypair_generate();

    if (kp == NULL)
        snprintf(errmsg, errmsg_len, "cannot allocate locked memory for the client key "
                 "(check 'ulimit -l')");
    return kp;
}

int
qs_enroll_client_tx(qs_enroll_ids_t *ids, char **profile, qs_audit_tx_t *tx,
                    const qs_enroll_site_t *site, const char *name, char *errmsg,
                    size_t errmsg_len)
{
    profile_sink_t sink = { NULL, profile, 0, 0 };
    qs_keypair_t *kp = client_keypair(errmsg, errmsg_len);
    int rc;

    memset(ids, 0, sizeof *ids);
    *profile = NULL;
    if (kp == NULL)
        return -1;
    rc = enroll_in_tx(ids, tx, site, kp, name, &sink, errmsg, errmsg_len);
    qs_keypair_destroy(&kp);
    if (rc == 0)
        return 0;
    if (*profile != NULL) {
        sodium_free(*profile);
        *profile = NULL;
    }
    return sink.refused ? QS_ENROLL_REFUSED : -1;
}

int
qs_enroll_client(qs_enroll_ids_t *ids, const qs_enroll_site_t *site, const char *name,
                 const char *profile_path, char *errmsg, size_t errmsg_len)
{
    profile_sink_t sink = { profile_path, NULL, 0, 0 };
    qs_keypair_t *kp;
    qs_audit_tx_t *tx;
    int rc = -1;

    memset(ids, 0, sizeof *ids);
    kp = client_keypair(errmsg, errmsg_len);
    if (kp == NULL)
        return -1;
    tx = qs_audit_tx_begin(site->db, site->audit_key, site->audit_head, errmsg, errmsg_len);
    if (tx != NULL) {
        if (enroll_in_tx(ids, tx, site, kp, name, &sink, errmsg, errmsg_len) == 0)
            rc = qs_audit_tx_commit(&tx, errmsg, errmsg_len);
        qs_audit_tx_rollback(&tx);
    }
    qs_keypair_destroy(&kp);
    if (rc != 0 && sink.reserved && unlink(profile_path) != 0 && errno != ENOENT) {
        size_t len = strlen(errmsg);
        snprintf(errmsg + len, errmsg_len - len, "; and cannot remove '%s' after the "
                 "failure: %s; remove it by hand", profile_path, strerror(errno));
    }
    return rc;
}

int
qs_revoke_client_tx(int *n_revoked, char ps_hex[QS_ENROLL_PREFIX_CHARS + 1],
                    qs_audit_tx_t *tx, qs_sitedb_t *db, const uint8_t site_key[32],
                    const char *actor, int64_t now_ms, const char *name, char *errmsg,
                    size_t errmsg_len)
{
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char detail[64 + QS_ENROLL_PREFIX_CHARS];

    *n_revoked = 0;
    qs_pseudonym(ps, site_key, QS_PSEUDO_CLIENT, name);
    qs_hex_encode(ps_hex, QS_ENROLL_PREFIX_CHARS + 1, ps, QS_ENROLL_PREFIX_BYTES);
    if (qs_sitedb_revoke(db, ps, now_ms, n_revoked) != 0) {
        snprintf(errmsg, errmsg_len, "cannot revoke in site.db: %s", qs_sitedb_errmsg(db));
        return -1;
    }
    if (*n_revoked == 0) {
        snprintf(errmsg, errmsg_len, "no enrolled, unrevoked client is named '%s' (names "
                 "match case-insensitively); nothing was changed", name);
        return QS_ENROLL_NOT_FOUND;
    }
    snprintf(detail, sizeof detail, "{\"name_ps\":\"%s\",\"keys\":%d}", ps_hex, *n_revoked);
    return qs_audit_tx_append(tx, now_ms, actor, "revoke", detail, errmsg, errmsg_len);
}

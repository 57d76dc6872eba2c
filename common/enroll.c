/* enroll.c - a client's key into site.db under its name's pseudonym, audited.
 *
 * qs_enroll_client orders its steps so that a failure anywhere leaves
 * nothing behind: the site.db change and the audit entry share one
 * transaction, and the profile - written before the COMMIT, because a
 * committed enrollment without its profile would be a key nobody holds - is
 * unlinked again when the transaction does not commit.
 */
#include "qs_enroll.h"
#include "qs_audit.h"
#include "qs_hex.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* The steps inside the open transaction: key, profile, audit entry. */
static int
enroll_in_tx(qs_enroll_ids_t *ids, qs_audit_tx_t *tx, const qs_enroll_site_t *site,
             const qs_keypair_t *kp, const char *name, const char *profile_path,
             int *reserved, char *errmsg, size_t errmsg_len)
{
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char detail[64 + 2 * QS_ENROLL_PREFIX_CHARS];

    if (qs_enroll_key(ps, NULL, site->db, site->site_key, name, qs_keypair_public(kp),
                      site->now_ms, 0, errmsg, errmsg_len) != 0)
        return -1;
    qs_hex_encode(ids->name_ps, sizeof ids->name_ps, ps, QS_ENROLL_PREFIX_BYTES);
    qs_hex_encode(ids->key, sizeof ids->key, qs_keypair_public(kp), QS_ENROLL_PREFIX_BYTES);
    if (reserve_profile(profile_path, errmsg, errmsg_len) != 0)
        return -1;
    *reserved = 1;
    if (qs_profile_write(profile_path, name, kp, site->endpoint, site->broker_pk,
                         site->store_pk, errmsg, errmsg_len) != 0)
        return -1;
    snprintf(detail, sizeof detail, "{\"name_ps\":\"%s\",\"key\":\"%s\"}", ids->name_ps,
             ids->key);
    return qs_audit_tx_append(tx, site->now_ms, site->actor, "enroll", detail, errmsg,
                              errmsg_len);
}

int
qs_enroll_client(qs_enroll_ids_t *ids, const qs_enroll_site_t *site, const char *name,
                 const char *profile_path, char *errmsg, size_t errmsg_len)
{
    qs_keypair_t *kp = qs_keypair_generate();
    qs_audit_tx_t *tx;
    int reserved = 0, rc = -1;

    memset(ids, 0, sizeof *ids);
    if (kp == NULL) {
        snprintf(errmsg, errmsg_len, "cannot allocate locked memory for the client key "
                 "(check 'ulimit -l')");
        return -1;
    }
    tx = qs_audit_tx_begin(site->db, site->audit_key, site->audit_head, errmsg, errmsg_len);
    if (tx != NULL) {
        if (enroll_in_tx(ids, tx, site, kp, name, profile_path, &reserved, errmsg,
                         errmsg_len) == 0)
            rc = qs_audit_tx_commit(&tx, errmsg, errmsg_len);
        qs_audit_tx_rollback(&tx);
    }
    qs_keypair_destroy(&kp);
    if (rc != 0 && reserved && unlink(profile_path) != 0 && errno != ENOENT) {
        size_t len = strlen(errmsg);
        snprintf(errmsg + len, errmsg_len - len, "; and cannot remove '%s' after the "
                 "failure: %s; remove it by hand", profile_path, strerror(errno));
    }
    return rc;
}

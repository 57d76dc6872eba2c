/* qs_site.h - the layout of a site home directory (--home DIR or QS_HOME).
 *
 *   DIR/                 0700
 *     quietstate.conf    endpoints and options (qsctl init)
 *     site.db            control plane: enrolled clients, revocations,
 *                        policy versions, hash-chained audit log
 *     store.db           data: latest, history partitions, counters (+ -wal)
 *     audit.head         last audit entry's seq and hash
 *     store.lock         qs-store's single-instance lock (empty), 0600
 *     broker.stats       qs-broker's counters (qs_brokerstats.h), 0600
 *     keys/              0700
 *       broker.key|.pub  broker CurveZMQ key pair
 *       store.key|.pub   store key pair (CurveZMQ and end-to-end)
 *       site.key         BLAKE2b key for pseudonyms
 *       audit.key        BLAKE2b key for the audit hash chain
 *       epochs/          0700, one data key per retention epoch (day)
 *
 * The same list, with each entry's required mode, its creator and whether it
 * holds a secret, is a table (qs_site_files): qsctl init creates from it,
 * verify checks permissions against it, and docs/operators.md ("Files in the
 * site home") is checked against it by tests/unit/test_site.c.
 */
#ifndef QS_SITE_H
#define QS_SITE_H

#include "qs_limits.h"

typedef struct {
    char home[QS_MAX_PATH_BYTES];
    char conf[QS_MAX_PATH_BYTES];
    char site_db[QS_MAX_PATH_BYTES];
    char store_db[QS_MAX_PATH_BYTES];
    char broker_stats[QS_MAX_PATH_BYTES];
    char keys_dir[QS_MAX_PATH_BYTES];
    char broker_key[QS_MAX_PATH_BYTES];
    char broker_pub[QS_MAX_PATH_BYTES];
    char store_key[QS_MAX_PATH_BYTES];
    char store_pub[QS_MAX_PATH_BYTES];
    char site_key[QS_MAX_PATH_BYTES];
    char audit_key[QS_MAX_PATH_BYTES];
    char epochs_dir[QS_MAX_PATH_BYTES];
    char audit_head[QS_MAX_PATH_BYTES];
} qs_site_paths_t;

/* Resolve home (the --home argument, or QS_HOME when NULL) and fill every
 * path. Returns 0, or -1 with errmsg (no home given, path too long). */
int qs_site_paths(qs_site_paths_t *paths, const char *home, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Check that home exists and was set up by qsctl init; -1 with a message
 * that says to run qsctl init otherwise. */
int qs_site_check(const qs_site_paths_t *paths, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* What an entry of the site home is. */
typedef enum {
    QS_SITE_DIR,        /* a directory */
    QS_SITE_FILE,       /* one regular file */
    QS_SITE_PATTERN,    /* regular files whose names match rel (fnmatch(3)), e.g.
                         * every <epoch>-<topic>.key in keys/epochs) */
} qs_site_kind_t;

/* One entry of the site home. */
typedef struct {
    const char *rel;       /* path relative to the home ("." is the home itself;
                            * directories end without '/'); unique in the table */
    qs_site_kind_t kind;
    unsigned mode;         /* the mode it must have: 0700 directories, 0600 files.
                            * A check refuses any group or other bit (mode & 077) */
    const char *creator;   /* who creates it: "qsctl init", "qs-store", "qs-broker",
                            * "SQLite" (WAL/SHM side files), "qs-producer simulate" */
    int secret;            /* 1 if it holds a secret key (wipe, back up with care) */
    int required;          /* 1 if every finished site has it (qsctl init makes it);
                            * 0 if it appears later or only sometimes */
    int paths_field;       /* index for qs_site_file_path(), -1 for patterns and
                            * entries without a qs_site_paths_t field */
    const char *what;      /* one line for operators (docs and init's summary) */
} qs_site_file_t;

/* The table of every file and directory a site home may hold, in creation
 * order (parents before children); *n gets the number of entries. The table
 * is static: never NULL, never freed.
 *
 * For a permission check (qsctl verify), walk the table: for each entry
 * with kind DIR or FILE, build its path with qs_site_file_path() (or join
 * paths->home and rel), lstat it, report it missing if `required`, and
 * report (mode & 077) != 0; for a PATTERN, match the directory's entries
 * with fnmatch(rel, ...) and check each like a FILE with required = 0. */
const qs_site_file_t *qs_site_files(size_t *n);

/* The entry whose rel equals rel, or NULL. */
const qs_site_file_t *qs_site_file_find(const char *rel);

/* The absolute path of a DIR or FILE entry in paths (a field of paths),
 * or NULL for patterns. */
const char *qs_site_file_path(const qs_site_paths_t *paths, const qs_site_file_t *f);

/* 1 if name (one directory entry directly in the home, no '/') is a
 * top-level entry that qsctl init makes, or that SQLite or an atomic write
 * leaves beside them: what an interrupted init can leave in the home. */
int qs_site_is_init_entry(const char *name);

#endif

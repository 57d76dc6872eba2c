/* qs_store_group.h - named collections of machines ("Finance") and their suppressed compliance.
 *
 * A group is a name an administrator chose (not personal: docs/groups.md)
 * and a set of members, each a machine's keyed pseudonym (the pseudonym of
 * the machine's name under the current fold, qs_pseudonym_machine()'s
 * machine_ps[0]: what the store writes into latest.machine_ps). Membership
 * lives in the store's own database, beside the rows it filters, on both
 * engines: groups(name, created_ms) and group_members(group_name,
 * machine_ps), created when the first group is. A group can exist empty.
 *
 * Every answer about a group is k-suppressed as the fleet's is: member
 * counts from 1 to k - 1 come back as QS_STOREDB_SUPPRESSED (0 is nobody), and a group's
 * compliance is qs_storedb_compliance's answer over the group's members'
 * rows of latest, under the same rules (query_rules.h), so it fills the
 * same struct and prints through the same printers.
 *
 * A name a function does not know is QS_GROUP_UNKNOWN, with nothing
 * changed. Removing members and forgetting a machine match every spelling
 * of its pseudonym (qs_machine_ps_t), as lookup and forget do.
 */
#ifndef QS_STORE_GROUP_H
#define QS_STORE_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "qs_policy.h"
#include "qs_pseudonym.h"
#include "qs_store_query.h"
#include "qs_storedb.h"

#define QS_GROUP_NAME_MAX_CHARS 64u
#define QS_GROUP_NAME_MAX_BYTES (4u * QS_GROUP_NAME_MAX_CHARS)

/* The group named does not exist (nothing was changed). */
#define QS_GROUP_UNKNOWN (-2)

/* A group name: 1..64 characters of valid UTF-8, no control characters
 * (C0, DEL, C1), no blank at either end. 0, or -1 with errmsg saying why. */
int qs_group_name_check(const char *name, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Create group name (created_ms = now_ms) unless it exists: *created is 1
 * when it was made, 0 when it was there already. 0, or -1 with errmsg. */
int qs_storedb_group_create(qs_storedb_t *db, const char *name, int64_t now_ms, int *created,
                            char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* 0 with *exists 1 or 0, or -1 with errmsg. */
int qs_storedb_group_exists(qs_storedb_t *db, const char *name, int *exists, char *errmsg,
                            size_t errmsg_len) __attribute__((warn_unused_result));

/* Add the n machines (pseudonyms as in latest.machine_ps) to group name in
 * one transaction; members already there stay. *added gets the new ones.
 * 0; QS_GROUP_UNKNOWN; or -1 with errmsg (nothing added). */
int qs_storedb_group_add(qs_storedb_t *db, const char *name,
                         const uint8_t (*machine_ps)[QS_PSEUDONYM_BYTES], size_t n,
                         int64_t *added, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Remove the n machines (every spelling of each) from group name, or, when
 * n is 0, the group itself with all its members and its daily snapshots
 * (qs_store_trend.h), in one transaction.
 * *removed gets the memberships removed. 0; QS_GROUP_UNKNOWN; or -1. */
int qs_storedb_group_remove(qs_storedb_t *db, const char *name, const qs_machine_ps_t *who,
                            size_t n, int64_t *removed, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

typedef struct {
    char *name;             /* owned by the list */
    int64_t created_ms;
    int64_t members;        /* QS_STOREDB_SUPPRESSED when 0 < members < k */
} qs_group_row_t;

typedef struct {
    int k;                  /* the threshold applied to member counts */
    qs_group_row_t *rows;   /* in name (byte) order */
    size_t n;
} qs_group_list_t;

/* Every group, or only group name (NULL: all), with its member count
 * suppressed below the policy's k. 0; QS_GROUP_UNKNOWN (name given and
 * missing); or -1 with errmsg. Free with qs_group_list_free. */
int qs_storedb_group_list(qs_storedb_t *db, qs_group_list_t *out, const qs_policy_t *policy,
                          const char *name, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Free the rows; leaves *l empty. */
void qs_group_list_free(qs_group_list_t *l);

/* qs_storedb_compliance over the members of group name only: machines per
 * (topic type, topic id, state) among the rows of latest whose machine_ps
 * is a member, suppressed by the same rules, filters as there. 0;
 * QS_GROUP_UNKNOWN; or -1 with errmsg. Free with qs_storedb_compliance_free. */
int qs_storedb_group_compliance(qs_storedb_t *db, qs_storedb_compliance_t *out,
                                const qs_policy_t *policy, const char *name,
                                const uint32_t *topic_type, const char *topic_id,
                                char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

#endif

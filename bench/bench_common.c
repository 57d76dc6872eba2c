/* bench_common.c - helpers the qs-bench sub-commands share (see bench.h).
 *
 * A benchmark site is made by `qsctl init` and `qsctl policy set`; qs-bench
 * opens it with the same library calls as the daemons, and enrolls its own
 * clients straight into site.db (one transaction, with qs_enroll_key, the
 * enrollment qsctl enroll uses) so that the broker's ZAP handler and the
 * store's keyset admit them like any enrolled client.
 */
#include "bench.h"

#include "qs_enroll.h"
#include "qs_log.h"
#include "qs_sitedb.h"
#include "quietstate.pb-c.h"
#include "simgen.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_FIELD_TAG 0x0Au   /* Batch.messages: field 1, length-delimited */

double
bench_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
bench_site_open(bench_site_t *site, const char *home)
{
    char err[1024];

    memset(site, 0, sizeof *site);
    if (home == NULL) {
        fprintf(stderr, "qs-bench: --home DIR is required (a site made by qsctl init)\n");
        return -1;
    }
    if (qs_site_paths(&site->paths, home, err, sizeof err) != 0 ||
        qs_site_check(&site->paths, err, sizeof err) != 0 ||
        qs_config_load(&site->cfg, site->paths.conf, err, sizeof err) != 0 ||
        (site->store_kp = qs_keypair_load(site->paths.store_key, err, sizeof err)) == NULL ||
        qs_pubkey_load(site->broker_pk, site->paths.broker_pub, err, sizeof err) != 0 ||
        qs_pubkey_load(site->store_pk, site->paths.store_pub, err, sizeof err) != 0 ||
        qs_secret_load(&site->site_key, site->paths.site_key, 0, err, sizeof err) != 0) {
        fprintf(stderr, "qs-bench: cannot open the site '%s': %s\n", home, err);
        bench_site_close(site);
        return -1;
    }
    return 0;
}

void
bench_site_close(bench_site_t *site)
{
    qs_keypair_destroy(&site->store_kp);
    if (site->site_key != NULL)
        sodium_free(site->site_key);
    site->site_key = NULL;
}

void
bench_keys_free(qs_keypair_t **keys, size_t n)
{
    if (keys == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        qs_keypair_destroy(&keys[i]);
    free(keys);
}

int
bench_enroll(bench_site_t *site, const char *prefix, size_t n, qs_keypair_t ***keys_out)
{
    char err[512], name[64];
    qs_sitedb_t *db;
    qs_keypair_t **keys = qs_calloc(n, sizeof *keys);
    int64_t now = (int64_t)time(NULL) * 1000;

    *keys_out = NULL;
    db = qs_sitedb_open(site->paths.site_db, 0, err, sizeof err);
    if (db == NULL) {
        fprintf(stderr, "qs-bench: %s\n", err);
        free(keys);
        return -1;
    }
    if (qs_sitedb_begin(db) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if ((keys[i] = qs_keypair_generate()) == NULL)
            qs_fatal("out of locked memory generating client keys");
        snprintf(name, sizeof name, "%s-%06zu", prefix, i + 1);
        if (qs_enroll_key(NULL, NULL, db, site->site_key, name, qs_keypair_public(keys[i]),
                          now, 0, err, sizeof err) != 0) {
            fprintf(stderr, "qs-bench: cannot enroll '%s': %s\n", name, err);
            qs_sitedb_rollback(db);
            goto fail;
        }
    }
    if (qs_sitedb_commit(db) != 0)
        goto fail;
    qs_sitedb_destroy(&db);
    *keys_out = keys;
    return 0;
fail:
    fprintf(stderr, "qs-bench: cannot enroll bench clients in '%s'\n", site->paths.site_db);
    qs_sitedb_destroy(&db);
    bench_keys_free(keys, n);
    return -1;
}

size_t
bench_pack_message(uint8_t *buf, size_t cap, uint32_t c, uint64_t s, int64_t base_ms,
                   int details, int steady)
{
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;
    char topic[16], machine[24], domain[] = "simcorp", empty[] = "",
         text[] = "0x80240022: the download of the update failed";

    if (!details && !steady)
        return qs_simgen_pack(buf, cap, c, s, base_ms);
    /* The simulator's message, field for field, plus an error text, or with
     * the state its client reported first for this topic (a resync). */
    snprintf(topic, sizeof topic, "KB%u", QS_SIM_FIRST_KB + qs_simgen_topic(c, s));
    snprintf(machine, sizeof machine, "sim-host-%05u", c);
    m.serial = s;
    m.time_utc_ms = base_ms + (int64_t)s;
    m.topic_type = QS_SIM_TOPIC_TYPE;
    m.topic_id = topic;
    m.state_id = steady ? qs_simgen_state(c, 1 + qs_simgen_topic(c, s)) : qs_simgen_state(c, s);
    m.details = details ? text : empty;
    m.machine_name = machine;
    m.domain = domain;
    m.user_name = empty;
    if (quietstate__state_message__get_packed_size(&m) > cap)
        return 0;
    return quietstate__state_message__pack(&m, buf);
}

size_t
bench_frame_batch(uint8_t *out, const uint8_t *msgs, const size_t *lens, size_t n)
{
    size_t plen = 0, off = 0;

    for (size_t i = 0; i < n; i++) {
        size_t v = lens[i];
        out[plen++] = BATCH_FIELD_TAG;
        while (v >= 0x80) {
            out[plen++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        out[plen++] = (uint8_t)v;
        memcpy(out + plen, msgs + off, lens[i]);
        plen += lens[i];
        off += lens[i];
    }
    return plen;
}

/* headroom.c - free space of store.db's file system against the reserve (headroom.h). */
#include "headroom.h"

#include "qs_log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

struct qs_headroom {
    char *dir;                   /* NULL: off */
    uint64_t reserve;
    int64_t next_check;
    int low;
    uint64_t avail;              /* at the last check */
};

qs_headroom_t *
qs_headroom_new(const char *dir, uint64_t reserve_bytes)
{
    qs_headroom_t *h = qs_calloc(1, sizeof *h);

    if (dir != NULL && reserve_bytes > 0) {
        size_t n = strlen(dir) + 1;
        h->dir = qs_calloc(n, 1);
        memcpy(h->dir, dir, n);
        h->reserve = reserve_bytes;
    }
    return h;
}

void
qs_headroom_destroy(qs_headroom_t **h_p)
{
    if (h_p == NULL || *h_p == NULL)
        return;
    free((*h_p)->dir);
    free(*h_p);
    *h_p = NULL;
}

int
qs_headroom_low(qs_headroom_t *h, int64_t now_ms)
{
    struct statvfs sv;
    uint64_t avail;
    int low;

    if (h->dir == NULL || now_ms < h->next_check)
        return h->low;
    h->next_check = now_ms + QS_HEADROOM_CHECK_MS;
    if (statvfs(h->dir, &sv) != 0)
        return h->low = 0;
    avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    h->avail = avail;
    low = avail < h->reserve;
    if (low && !h->low)
        log_warn("free space on store.db's file system is %llu KiB, under [store] "
                 "disk_reserve_mb (%llu MiB): answering RETRY_LATER/DISK_RESERVE and storing "
                 "nothing until space is freed (qs-retention, qsctl forget still work)",
                 (unsigned long long)(avail / 1024),
                 (unsigned long long)(h->reserve / (1024 * 1024)));
    else if (!low && h->low)
        log_info("free space on store.db's file system is %llu KiB, above the reserve again: "
                 "taking messages", (unsigned long long)(avail / 1024));
    h->low = low;
    return low;
}

uint64_t
qs_headroom_free(const qs_headroom_t *h)
{
    return h->dir != NULL ? h->avail : 0;
}

/* debver.h - Debian version numbers, compared exactly as dpkg compares them.
 *
 * [epoch:]upstream[-revision] (deb-version(7)): the epoch is compared as a
 * number, then upstream and revision with dpkg's verrevcmp: alternating runs
 * of non-digits (compared character by character, letters before
 * non-letters, '~' before everything, even the end) and digits (compared as
 * numbers). A missing revision compares like "0"; a missing epoch is 0.
 * scan.c uses it to decide whether an apt candidate is newer than the
 * installed version; test_debver.c checks it against known pairs and, when
 * dpkg is installed, against `dpkg --compare-versions`.
 */
#ifndef QS_PRODUCER_DEBVER_H
#define QS_PRODUCER_DEBVER_H

/* 0 when v is a version dpkg accepts without error: an optional epoch of
 * digits (at most INT_MAX), a non-empty upstream part, a non-empty revision
 * after the last '-' when there is one, only the characters of
 * deb-version(7) (alphanumerics . + ~ - and ':' after an epoch), no blanks.
 * -1 otherwise. */
int qs_debver_valid(const char *v);

/* Compare a and b: *cmp < 0, 0 or > 0 as a is older than, equal to or newer
 * than b. Returns 0, or -1 (and *cmp = 0) when either is not valid. */
int qs_debver_compare(const char *a, const char *b, int *cmp);

#endif

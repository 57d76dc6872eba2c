/* qs_test.h - a minimal unit-test harness: named tests, checks that report
 * file and line, a summary line CTest and CI can read.
 *
 * Use:
 *   static void test_envelope_rejects_tampered_ciphertext(void) { QS_CHECK(x == 1); }
 *   int main(void) { QS_RUN(test_envelope_rejects_tampered_ciphertext); return qs_test_summary(); }
 * Each test binary is one CTest test; it prints "N passed, N failed".
 */
#ifndef QS_TEST_H
#define QS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int qs_test_failures_in_current;
static int qs_test_passed;
static int qs_test_failed;

#define QS_CHECK(cond)                                                       \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            qs_test_failures_in_current++;                                   \
        }                                                                    \
    } while (0)

#define QS_CHECK_EQ_INT(a, b)                                                \
    do {                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                  \
        if (a_ != b_) {                                                      \
            fprintf(stderr, "  FAIL %s:%d: %s == %s (%lld != %lld)\n",       \
                    __FILE__, __LINE__, #a, #b, a_, b_);                     \
            qs_test_failures_in_current++;                                   \
        }                                                                    \
    } while (0)

#define QS_CHECK_STR(a, b)                                                   \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {               \
            fprintf(stderr, "  FAIL %s:%d: %s == %s (\"%s\" != \"%s\")\n",   \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",          \
                    b_ ? b_ : "(null)");                                     \
            qs_test_failures_in_current++;                                   \
        }                                                                    \
    } while (0)

#define QS_RUN(fn)                                                           \
    do {                                                                     \
        qs_test_failures_in_current = 0;                                     \
        fn();                                                                \
        if (qs_test_failures_in_current == 0) {                              \
            qs_test_passed++;                                                \
            printf("ok   %s\n", #fn);                                        \
        } else {                                                             \
            qs_test_failed++;                                                \
            printf("FAIL %s\n", #fn);                                        \
        }                                                                    \
    } while (0)

static inline int
qs_test_summary(void)
{
    printf("%d passed, %d failed\n", qs_test_passed, qs_test_failed);
    return qs_test_failed == 0 ? 0 : 1;
}

/* 1 if the raw bytes of the file at path contain needle[0..len), 0 if not
 * or if there is no such file. Reads the whole file: for scanning databases,
 * WALs and keys for data that must not be there. */
static inline int
qs_test_file_contains(const char *path, const void *needle, size_t len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t have = 0, cap = 0, n;
    int found = 0;

    if (fp == NULL)
        return 0;
    do {
        if (have == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            buf = realloc(buf, cap);
            if (buf == NULL) {
                perror("realloc");
                exit(2);
            }
        }
        n = fread(buf + have, 1, cap - have, fp);
        have += n;
    } while (n > 0);
    fclose(fp);
    for (size_t i = 0; !found && len > 0 && i + len <= have; i++)
        found = buf[i] == *(const unsigned char *)needle && memcmp(buf + i, needle, len) == 0;
    free(buf);
    return found;
}

/* A fresh private temporary directory for a test; the caller removes it. */
static inline void
qs_test_tmpdir(char *out, size_t out_len, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, out_len, "%s/qs-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (mkdtemp(out) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

#endif

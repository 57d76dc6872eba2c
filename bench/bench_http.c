/* bench_http.c - qs-bench http: a fixed-rate, open-loop HTTP load generator for qs-web.
 *
 * GET URL with "Authorization: Bearer TOKEN" (the token read from
 * --token-file) at --rate requests per second for --seconds, over at most
 * --connections keep-alive connections (libcurl multi interface, one easy
 * handle per connection slot, reused, so each request after the first on a
 * slot rides an open connection). The schedule is open loop: request k is
 * due at t0 + k / RATE whatever happened before; a request that finds every
 * slot busy waits in a backlog, and its latency is counted from its due time,
 * not from when a slot freed, so a server stall shows in the percentiles
 * instead of silently lowering the rate (no coordinated omission).
 *
 * One untimed warm-up request opens the first connection; then "qs-bench
 * http: schedule starts" goes to stderr (bench/run waits for it). SIGTERM or
 * SIGINT ends the schedule early (bench/run stops the load when the ingest it
 * runs beside is done); up to HTTP_DRAIN_S is then given to requests in
 * flight. Only a 200 answer is a success: any other status, a transport
 * error, a timeout or a request never answered is an error and ranks as
 * infinitely slow in the percentiles (so errors can only make them worse).
 * Prints one JSON line: sent, ok, errors by status, p50/p90/p99/max in ms
 * (-1 = an error at that rank), achieved rate, new connections, CPU seconds.
 */
#include "bench.h"

#include "qs_log.h"

#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define HTTP_DRAIN_S 5.0
#define HTTP_TIMEOUT_MS 10000L
#define HTTP_MAX_CODES 16          /* distinct error statuses reported */
#define HTTP_TOKEN_MAX 512

static volatile sig_atomic_t http_stop;

static void
http_on_signal(int sig)
{
    (void)sig;
    http_stop = 1;
}

struct http_slot {
    CURL *easy;
    double due;                    /* scheduled time of its request */
    int busy;
};

struct http_run {
    CURLM *multi;
    struct curl_slist *headers;
    struct http_slot *slots;
    size_t n_slots;
    double *backlog;               /* due times waiting for a free slot */
    size_t bl_head, bl_tail, bl_cap;
    double *samples;               /* ms; INFINITY for an error */
    size_t n_samples, cap_samples;
    uint64_t sent, ok, transport_errors, new_connections;
    size_t scheduled, unanswered;
    long codes[HTTP_MAX_CODES], code_counts[HTTP_MAX_CODES];
    size_t n_codes;
    uint64_t other_codes;
    size_t bytes;
};

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Bodies are counted, not kept. */
static size_t
http_discard(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct http_run *r = user;

    (void)ptr;
    r->bytes += size * nmemb;
    return size * nmemb;
}

static void
http_sample(struct http_run *r, double ms)
{
    if (r->n_samples == r->cap_samples) {
        r->cap_samples = r->cap_samples ? r->cap_samples * 2 : 4096;
        r->samples = qs_realloc(r->samples, r->cap_samples * sizeof *r->samples);
    }
    r->samples[r->n_samples++] = ms;
}

static void
http_count_status(struct http_run *r, long code)
{
    for (size_t i = 0; i < r->n_codes; i++)
        if (r->codes[i] == code) {
            r->code_counts[i]++;
            return;
        }
    if (r->n_codes == HTTP_MAX_CODES) {
        r->other_codes++;
        return;
    }
    r->codes[r->n_codes] = code;
    r->code_counts[r->n_codes++] = 1;
}

/* The token file's first line, as an Authorization header. 0 or -1. */
static int
http_auth_header(char *out, size_t out_len, const char *path)
{
    char tok[HTTP_TOKEN_MAX];
    FILE *f = fopen(path, "r");
    size_t n;
    int m;

    if (f == NULL || fgets(tok, sizeof tok, f) == NULL) {
        fprintf(stderr, "qs-bench http: cannot read a token from '%s'\n", path);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    n = strcspn(tok, "\r\n \t");
    tok[n] = '\0';
    m = snprintf(out, out_len, "Authorization: Bearer %s", tok);
    memset(tok, 0, sizeof tok);
    if (n == 0 || m < 0 || (size_t)m >= out_len) {
        fprintf(stderr, "qs-bench http: no usable token in '%s'\n", path);
        return -1;
    }
    return 0;
}

static int
http_open(struct http_run *r, const struct bench_opts *o)
{
    char auth[HTTP_TOKEN_MAX + 64];
    int rc = http_auth_header(auth, sizeof auth, o->token_file);

    if (rc != 0)
        return -1;
    r->headers = curl_slist_append(NULL, auth);
    memset(auth, 0, sizeof auth);
    r->multi = curl_multi_init();
    if (r->headers == NULL || r->multi == NULL)
        return -1;
    curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)r->n_slots);
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)r->n_slots);
    r->slots = qs_calloc(r->n_slots, sizeof *r->slots);
    for (size_t i = 0; i < r->n_slots; i++) {
        CURL *e = curl_easy_init();
        if (e == NULL)
            return -1;
        r->slots[i].easy = e;
        curl_easy_setopt(e, CURLOPT_URL, o->url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_discard);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, HTTP_TIMEOUT_MS);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &r->slots[i]);
    }
    r->bl_cap = 1024;
    r->backlog = qs_calloc(r->bl_cap, sizeof *r->backlog);
    return 0;
}

static void
http_close(struct http_run *r)
{
    for (size_t i = 0; r->slots != NULL && i < r->n_slots; i++) {
        if (r->slots[i].easy == NULL)
            continue;
        if (r->slots[i].busy)
            curl_multi_remove_handle(r->multi, r->slots[i].easy);
        curl_easy_cleanup(r->slots[i].easy);
    }
    if (r->multi != NULL)
        curl_multi_cleanup(r->multi);
    curl_slist_free_all(r->headers);
    free(r->slots);
    free(r->backlog);
    free(r->samples);
}

static void
http_backlog_push(struct http_run *r, double due)
{
    if (r->bl_tail == r->bl_cap) {
        if (r->bl_head > 0) {        /* slide the live part to the front */
            memmove(r->backlog, r->backlog + r->bl_head,
                    (r->bl_tail - r->bl_head) * sizeof *r->backlog);
            r->bl_tail -= r->bl_head;
            r->bl_head = 0;
        }
        if (r->bl_tail == r->bl_cap) {
            r->bl_cap *= 2;
            r->backlog = qs_realloc(r->backlog, r->bl_cap * sizeof *r->backlog);
        }
    }
    r->backlog[r->bl_tail++] = due;
}

/* Hand backlogged requests to free slots. 0 or -1. */
static int
http_dispatch(struct http_run *r)
{
    for (size_t i = 0; i < r->n_slots && r->bl_head < r->bl_tail; i++) {
        struct http_slot *s = &r->slots[i];
        if (s->busy)
            continue;
        s->due = r->backlog[r->bl_head++];
        if (curl_multi_add_handle(r->multi, s->easy) != CURLM_OK)
            return -1;
        s->busy = 1;
        r->sent++;
    }
    return 0;
}

/* Collect finished transfers: one sample each. */
static void
http_collect(struct http_run *r, int recording)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
        struct http_slot *s = NULL;
        long code = 0, conns = 0;
        double now = bench_now_s();

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(m->easy_handle, CURLINFO_NUM_CONNECTS, &conns);
        if (recording) {
            r->new_connections += (uint64_t)conns;
            if (m->data.result != CURLE_OK)
                r->transport_errors++;
            else if (code == 200)
                r->ok++;
            else
                http_count_status(r, code);
            http_sample(r, m->data.result == CURLE_OK && code == 200
                               ? (now - s->due) * 1000.0 : INFINITY);
        }
        curl_multi_remove_handle(r->multi, m->easy_handle);
        s->busy = 0;
    }
}

/* Run the multi handle for up to wait_s seconds. 0 or -1. */
static int
http_step(struct http_run *r, double wait_s, int recording)
{
    int running = 0, ms = (int)ceil(wait_s * 1000.0);

    if (curl_multi_perform(r->multi, &running) != CURLM_OK)
        return -1;
    http_collect(r, recording);
    if (http_dispatch(r) != 0)
        return -1;
    if (ms > 50)
        ms = 50;                    /* see a stop signal soon */
    if (curl_multi_poll(r->multi, NULL, 0, ms < 0 ? 0 : ms, NULL) != CURLM_OK)
        return -1;
    return 0;
}

static size_t
http_busy(const struct http_run *r)
{
    size_t n = r->bl_tail - r->bl_head;
    for (size_t i = 0; i < r->n_slots; i++)
        n += (size_t)r->slots[i].busy;
    return n;
}

/* One untimed request so that the timed ones find a connection open.
 * *status gets its HTTP status (0: no answer). 0 or -1. */
static int
http_warmup(struct http_run *r, long *status)
{
    double deadline = bench_now_s() + HTTP_TIMEOUT_MS / 1000.0 + 1.0;

    *status = 0;
    http_backlog_push(r, bench_now_s());
    if (http_dispatch(r) != 0)
        return -1;
    r->sent = 0;
    while (http_busy(r) > 0 && bench_now_s() < deadline && !http_stop)
        if (http_step(r, 0.01, 0) != 0)
            return -1;
    curl_easy_getinfo(r->slots[0].easy, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* The open-loop schedule, then the drain. *el gets the schedule's seconds. */
static int
http_timed(struct http_run *r, const struct bench_opts *o, double *el)
{
    double interval = 1.0 / o->rate, t0 = bench_now_s(), t_end = t0 + o->seconds, deadline;
    size_t k = 0;

    for (;;) {
        double now = bench_now_s(), next = t0 + (double)k * interval;
        if (http_stop || next >= t_end)
            break;
        if (now >= next) {
            http_backlog_push(r, next);
            k++;
            continue;
        }
        if (http_step(r, next - now, 1) != 0)
            return -1;
    }
    *el = bench_now_s() - t0;
    deadline = bench_now_s() + HTTP_DRAIN_S;
    while (http_busy(r) > 0 && bench_now_s() < deadline)
        if (http_step(r, 0.01, 1) != 0)
            return -1;
    /* Never sent or never answered: errors, infinitely slow. */
    r->scheduled = k;
    r->unanswered = k > r->n_samples ? k - r->n_samples : 0;
    while (r->n_samples < k)
        http_sample(r, INFINITY);
    return 0;
}

static double
http_pct(const struct http_run *r, double q)
{
    double v = r->samples[(size_t)(q * (double)(r->n_samples - 1))];
    return isinf(v) ? -1.0 : v;
}

static void
http_report(struct http_run *r, const struct bench_opts *o, long warm_status, double el)
{
    struct rusage ru;
    double cpu = 0;

    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    qsort(r->samples, r->n_samples, sizeof *r->samples, cmp_double);
    printf("{\"name\": \"http_load\", \"rate_target\": %.0f, \"seconds\": %.3f, "
           "\"connections\": %zu, \"warmup_status\": %ld, \"scheduled\": %zu, \"sent\": %llu, "
           "\"ok\": %llu, \"errors\": %llu, \"errors_by_status\": {",
           o->rate, el, r->n_slots, warm_status, r->scheduled, (unsigned long long)r->sent,
           (unsigned long long)r->ok,
           (unsigned long long)((uint64_t)r->scheduled - r->ok));
    for (size_t i = 0; i < r->n_codes; i++)
        printf("%s\"%ld\": %ld", i ? ", " : "", r->codes[i], r->code_counts[i]);
    printf("}, \"other_statuses\": %llu, \"transport_errors\": %llu, \"unanswered\": %zu, "
           "\"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, "
           "\"rate_achieved\": %.1f, \"new_connections\": %llu, \"body_bytes\": %zu, "
           "\"cpu_s\": %.3f}\n",
           (unsigned long long)r->other_codes, (unsigned long long)r->transport_errors,
           r->unanswered, http_pct(r, 0.50), http_pct(r, 0.90), http_pct(r, 0.99),
           http_pct(r, 1.0), el > 0 ? (double)r->ok / el : 0.0,
           (unsigned long long)r->new_connections, r->bytes, cpu);
}

int
bench_http(const struct bench_opts *o)
{
    struct http_run r;
    struct sigaction sa;
    long warm_status = 0;
    double el = 0;
    int rc = 1;

    if (o->url == NULL || o->token_file == NULL || o->rate <= 0) {
        fprintf(stderr, "qs-bench http: --url URL, --token-file FILE and --rate REQ_PER_S "
                "are required\n");
        return 2;
    }
    memset(&r, 0, sizeof r);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = http_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    r.n_slots = (size_t)o->connections;
    if (http_open(&r, o) == 0 && http_warmup(&r, &warm_status) == 0) {
        fprintf(stderr, "qs-bench http: warm-up answered %ld; schedule starts\n", warm_status);
        if (http_timed(&r, o, &el) == 0 && r.n_samples > 0) {
            http_report(&r, o, warm_status, el);
            rc = 0;
        } else if (r.n_samples == 0) {
            fprintf(stderr, "qs-bench http: no request was due (stopped at once?)\n");
        }
    } else {
        fprintf(stderr, "qs-bench http: cannot set up the client for '%s'\n", o->url);
    }
    http_close(&r);
    curl_global_cleanup();
    return rc;
}

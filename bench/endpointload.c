/* The client of the endpoint workload (12): connections, requests and bytes per second
 * against an echo server (bench/echoback.c), directly or through a proxy.
 *
 *   endpointload MODE ADDRESS [-c THREADS] [-t SECONDS] [-n BYTES] [-s SIZE]
 *
 * ADDRESS is "unix:/path" or "tcp:IP:PORT". MODE:
 *   conn  each thread, until SECONDS are up: connect, send one SIZE-byte line (32), read
 *         the echo, close; latency = connect() to the last byte of the echo.
 *   req   each thread keeps one connection and sends a line, reads the echo, again, until
 *         SECONDS are up; latency = write() to the last byte of the echo.
 *   bulk  one connection: send "BULK BYTES" (1 GiB by default) and read until that many
 *         bytes came back; reports bytes per second from the request to the last byte.
 * Prints one JSON line: {"mode", "address", "threads", "seconds", "count", "per_s",
 * "p50_us", "p90_us", "p99_us", "max_us", "samples", "errors"} (bulk: "bytes", "seconds",
 * "mb_per_s", "first_byte_us", "errors"). Latencies come from CLOCK_MONOTONIC around each
 * request, kept in an array preallocated per thread (at most MAX_SAMPLES each; requests past
 * that are counted but not sampled). A failed request counts as an error; the thread then
 * reconnects (at most MAX_ERRORS per thread, then it stops). Exit 0 when something was
 * measured, 1 when nothing succeeded, 2 on bad usage. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_SAMPLES (1 << 21) /* per thread: 2 M x 4 bytes */
#define MAX_ERRORS 1000
#define BULK_BUF (1 << 20)

static struct sockaddr_storage addr;
static socklen_t addr_len;
static int is_tcp;
static int line_size = 32;
static long long deadline_ns;

struct worker {
    pthread_t th;
    long long count, errors;
    unsigned *lat_ns; /* per request, ns (a request over 4.29 s is clamped) */
    long long samples;
    char err[128];
};

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int parse_addr(const char *a) {
    if (strncmp(a, "unix:", 5) == 0) {
        struct sockaddr_un *u = (struct sockaddr_un *)&addr;
        if (strlen(a + 5) >= sizeof u->sun_path) return -1;
        u->sun_family = AF_UNIX;
        strcpy(u->sun_path, a + 5);
        addr_len = sizeof *u;
        return 0;
    }
    if (strncmp(a, "tcp:", 4) == 0) {
        char host[64];
        const char *hp = a + 4, *colon = strrchr(hp, ':');
        if (!colon || (size_t)(colon - hp) >= sizeof host) return -1;
        memcpy(host, hp, colon - hp);
        host[colon - hp] = 0;
        struct sockaddr_in *in = (struct sockaddr_in *)&addr;
        in->sin_family = AF_INET;
        in->sin_port = htons(atoi(colon + 1));
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1) return -1;
        addr_len = sizeof *in;
        is_tcp = 1;
        return 0;
    }
    return -1;
}

static int dial(struct worker *w) {
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(w->err, sizeof w->err, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0) {
        snprintf(w->err, sizeof w->err, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (is_tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* One line out, its echo back in full. 0 or -1. */
static int exchange(struct worker *w, int fd, const char *line) {
    if (write(fd, line, line_size) != line_size) {
        snprintf(w->err, sizeof w->err, "write: %s", strerror(errno));
        return -1;
    }
    char buf[256];
    int have = 0;
    while (have < line_size) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0) {
            snprintf(w->err, sizeof w->err, "read: %s", n ? strerror(errno) : "connection closed");
            return -1;
        }
        have += n;
    }
    if (have != line_size || memcmp(buf, line, line_size) != 0) {
        snprintf(w->err, sizeof w->err, "echo differs from the request");
        return -1;
    }
    return 0;
}

static void record(struct worker *w, long long t0) {
    long long d = now_ns() - t0;
    if (w->samples < MAX_SAMPLES) w->lat_ns[w->samples++] = d > 0xffffffffLL ? 0xffffffffu : (unsigned)d;
    w->count++;
}

static char mode;

static void *work(void *arg) {
    struct worker *w = arg;
    char line[256];
    memset(line, 'x', line_size);
    snprintf(line, 24, "%p", (void *)w);
    line[strlen(line)] = 'x';
    line[line_size - 1] = '\n';
    int fd = -1;
    while (now_ns() < deadline_ns && w->errors < MAX_ERRORS) {
        long long t0 = now_ns();
        if (mode == 'c') {
            fd = dial(w);
            if (fd < 0 || exchange(w, fd, line) < 0) {
                w->errors++;
                if (fd >= 0) close(fd);
                fd = -1;
                continue;
            }
            close(fd);
            fd = -1;
            record(w, t0);
        } else {
            if (fd < 0) {
                fd = dial(w);
                if (fd < 0) {
                    w->errors++;
                    continue;
                }
                t0 = now_ns();
            }
            if (exchange(w, fd, line) < 0) {
                w->errors++;
                close(fd);
                fd = -1;
                continue;
            }
            record(w, t0);
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static int cmp_u(const void *a, const void *b) {
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

static double pctl(unsigned *s, long long n, double p) {
    if (n == 0) return 0;
    double k = (n - 1) * p / 100.0;
    long long f = (long long)k, c = f + 1 < n ? f + 1 : n - 1;
    return (s[f] + (s[c] - (double)s[f]) * (k - f)) / 1000.0;
}

static int bulk(const char *address, long long bytes) {
    struct worker w = {0};
    int fd = dial(&w);
    if (fd < 0) {
        printf("{\"mode\": \"bulk\", \"address\": \"%s\", \"bytes\": 0, \"errors\": 1, \"error\": \"%s\"}\n", address, w.err);
        return 1;
    }
    int sz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz); /* capped by rmem_max; a hint */
    static char buf[BULK_BUF];
    char req[64];
    int len = snprintf(req, sizeof req, "BULK %lld\n", bytes);
    long long t0 = now_ns(), first = 0, got = 0;
    const char *err = NULL;
    if (write(fd, req, len) != len) err = "write failed";
    /* Bounded: a proxy that stops relaying ends the read by the 120 s receive timeout. */
    struct timeval tv = {.tv_sec = 120};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!err && got < bytes) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            err = n ? strerror(errno) : "connection closed early";
            break;
        }
        if (!first) first = now_ns();
        got += n;
    }
    long long t1 = now_ns();
    close(fd);
    double s = (t1 - t0) / 1e9;
    printf("{\"mode\": \"bulk\", \"address\": \"%s\", \"bytes\": %lld, \"seconds\": %.6f, \"mb_per_s\": %.1f, "
           "\"first_byte_us\": %.1f, \"errors\": %d%s%s%s}\n",
           address, got, s, got / s / 1e6, first ? (first - t0) / 1e3 : 0.0, err ? 1 : 0,
           err ? ", \"error\": \"" : "", err ? err : "", err ? "\"" : "");
    return got == bytes ? 0 : 1;
}

static void usage(void) {
    fprintf(stderr, "usage: endpointload conn|req|bulk unix:/path|tcp:IP:PORT [-c THREADS] [-t SECONDS] "
                    "[-n BYTES] [-s SIZE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 3) usage();
    const char *m = argv[1], *address = argv[2];
    int threads = 1;
    double seconds = 5;
    long long bytes = 1LL << 30;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-c")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-n")) bytes = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-s")) line_size = atoi(argv[i + 1]);
        else usage();
    }
    if (threads < 1 || threads > MAX_THREADS || seconds <= 0 || seconds > 600 || line_size < 2 ||
        line_size > 200 || bytes < 1 || parse_addr(address) < 0)
        usage();
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(m, "bulk")) return bulk(address, bytes);
    if (strcmp(m, "conn") && strcmp(m, "req")) usage();
    mode = m[0];

    static struct worker ws[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        ws[i].lat_ns = malloc(MAX_SAMPLES * sizeof(unsigned));
        if (!ws[i].lat_ns) {
            perror("malloc");
            return 2;
        }
        /* Touch the pages now, so page faults don't land inside the measured requests. */
        memset(ws[i].lat_ns, 0, MAX_SAMPLES * sizeof(unsigned));
    }
    long long t0 = now_ns();
    deadline_ns = t0 + (long long)(seconds * 1e9);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&ws[i].th, NULL, work, &ws[i]) != 0) {
            perror("pthread_create");
            return 2;
        }
    long long count = 0, errors = 0, samples = 0;
    const char *err = "";
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].th, NULL);
        count += ws[i].count;
        errors += ws[i].errors;
        samples += ws[i].samples;
        if (ws[i].errors && !*err) err = ws[i].err;
    }
    double elapsed = (now_ns() - t0) / 1e9;
    unsigned *all = malloc((samples ? samples : 1) * sizeof(unsigned));
    if (!all) {
        perror("malloc");
        return 2;
    }
    long long k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, ws[i].lat_ns, ws[i].samples * sizeof(unsigned));
        k += ws[i].samples;
    }
    qsort(all, samples, sizeof(unsigned), cmp_u);
    printf("{\"mode\": \"%s\", \"address\": \"%s\", \"threads\": %d, \"seconds\": %.3f, \"count\": %lld, "
           "\"per_s\": %.1f, \"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.1f, "
           "\"samples\": %lld, \"errors\": %lld, \"first_error\": \"%s\"}\n",
           m, address, threads, elapsed, count, count / elapsed, pctl(all, samples, 50),
           pctl(all, samples, 90), pctl(all, samples, 99), samples ? all[samples - 1] / 1000.0 : 0.0,
           samples, errors, err);
    return count > 0 ? 0 : 1;
}

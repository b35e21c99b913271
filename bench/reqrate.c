/* Requests per second against an HTTP API on a Unix socket.
 *
 *   reqrate SOCKET PATH SECONDS keepalive|fresh
 *
 * Sends GET PATH one request at a time for SECONDS, on one kept-alive connection or a
 * fresh connection per request (as each CLI call makes), and prints one JSON line:
 * {"requests": N, "seconds": S, "per_s": R, "p50_us": L, "errors": E}. A request counts
 * only with a 200 answer read in full (Content-Length bodies). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int dial(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(2);
    }
    return fd;
}

static char buf[1 << 22];

/* One request on fd; returns the status code, or -1 when the connection failed. */
static int request(int fd, const char *req, size_t len) {
    if (write(fd, req, len) != (ssize_t)len) return -1;
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) return -1;
        have += n;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    char *cl = strcasestr(buf, "content-length:");
    size_t body = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
    size_t want = (end - buf) + 4 + body;
    while (have < want) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) return -1;
        have += n;
    }
    return status;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: reqrate SOCKET PATH SECONDS keepalive|fresh\n");
        return 2;
    }
    int fresh = strcmp(argv[4], "fresh") == 0;
    double seconds = atof(argv[3]);
    char req[1024];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: steward\r\n%s\r\n", argv[2],
                       fresh ? "Connection: close\r\n" : "");
    size_t cap = 1 << 22, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    long errors = 0;
    int fd = fresh ? -1 : dial(argv[1]);
    double start = now(), stop = start + seconds;
    while (now() < stop) {
        double t0 = now();
        if (fresh) fd = dial(argv[1]);
        int status = request(fd, req, len);
        if (fresh) close(fd);
        if (status == 200) {
            if (n < cap) lat[n] = now() - t0;
            n++;
        } else {
            errors++;
            if (status < 0 && !fresh) {
                close(fd);
                fd = dial(argv[1]);
            }
        }
    }
    double took = now() - start;
    size_t kept = n < cap ? n : cap;
    qsort(lat, kept, sizeof *lat, cmp);
    printf("{\"requests\": %zu, \"seconds\": %.3f, \"per_s\": %.1f, \"p50_us\": %.1f, \"errors\": %ld}\n",
           n, took, n / took, kept ? lat[kept / 2] * 1e6 : 0.0, errors);
    return 0;
}

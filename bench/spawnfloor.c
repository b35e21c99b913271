/*
 * spawnfloor: the raw cost of starting N probes, with no supervisor in the way.
 *
 *   spawnfloor PROBE LOG N [fork|spawn] [TIMEOUT_S]
 *
 * Starts N copies of `PROBE run LOG` as fast as one process can (fork+execv, or
 * posix_spawn with "spawn"), then polls LOG until it holds N "start" lines, then
 * SIGKILLs and reaps every child. Prints one JSON object on stdout:
 *   t0_ns          CLOCK_REALTIME just before the first fork
 *   forked_ns      when the last fork/posix_spawn returned
 *   last_start_ns  the largest start timestamp written by a probe
 *   elapsed_ns     last_start_ns - t0_ns: the floor for "N services running"
 * Exit status 1 if not every probe started within TIMEOUT_S (default 60).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: spawnfloor PROBE LOG N [fork|spawn] [TIMEOUT_S]\n");
        return 2;
    }
    const char *probe = argv[1], *log = argv[2];
    long n = strtol(argv[3], NULL, 10);
    int use_spawn = argc > 4 && strcmp(argv[4], "spawn") == 0;
    long timeout_s = argc > 5 ? strtol(argv[5], NULL, 10) : 60;
    if (n <= 0 || n > 100000) return 2;

    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (!pids) return 2;
    char *child_argv[] = {(char *)probe, "run", (char *)log, NULL};

    long started = 0;
    int rc = 0;
    long long t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid;
        if (use_spawn) {
            int e = posix_spawn(&pid, probe, NULL, NULL, child_argv, environ);
            if (e != 0) { fprintf(stderr, "posix_spawn: %s\n", strerror(e)); rc = 1; break; }
        } else {
            pid = fork();
            if (pid < 0) { perror("fork"); rc = 1; break; }
            if (pid == 0) { execv(probe, child_argv); _exit(127); }
        }
        pids[started++] = pid;
    }
    long long forked = now_ns();

    /* Count start lines, reading only what was appended since the last poll. */
    long lines = 0;
    long long last_start = 0;
    char buf[65536], part[128];
    size_t partlen = 0;
    int fd = -1;
    long long deadline = forked + (long long)timeout_s * 1000000000LL;
    while (rc == 0 && lines < started) {
        if (fd < 0) fd = open(log, O_RDONLY | O_CLOEXEC);
        ssize_t got = fd < 0 ? 0 : read(fd, buf, sizeof buf);
        if (got > 0) {
            for (ssize_t i = 0; i < got; i++) {
                if (buf[i] != '\n') {
                    if (partlen < sizeof part - 1) part[partlen++] = buf[i];
                    continue;
                }
                part[partlen] = 0;
                partlen = 0;
                long long ns;
                if (sscanf(part, "start %lld", &ns) == 1) {
                    lines++;
                    if (ns > last_start) last_start = ns;
                }
            }
            continue;
        }
        if (now_ns() > deadline) { fprintf(stderr, "timeout: %ld of %ld started\n", lines, started); rc = 1; break; }
        sleep_ms(1);
    }

    for (long i = 0; i < started; i++) kill(pids[i], SIGKILL);
    for (long i = 0; i < started; i++) waitpid(pids[i], NULL, 0);
    printf("{\"n\": %ld, \"started\": %ld, \"mode\": \"%s\", \"t0_ns\": %lld, \"forked_ns\": %lld, "
           "\"last_start_ns\": %lld, \"elapsed_ns\": %lld}\n",
           n, lines, use_spawn ? "posix_spawn" : "fork+exec", t0, forked, last_start,
           last_start ? last_start - t0 : -1);
    return rc;
}

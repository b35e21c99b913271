/*
 * notifyfloor: the raw cost of receiving notify datagrams, with no supervisor in the way.
 *
 *   notifyfloor PROBE LOG N PERIOD_MS WINDOW_S [check] [TIMEOUT_S]
 *
 * Binds N abstract datagram sockets with SO_PASSCRED (as a supervisor of N notify
 * services must), fork+execs N copies of `PROBE watchdog LOG PERIOD_MS`, each with its own
 * socket in NOTIFY_SOCKET, and reads every datagram from one epoll loop with one recvmsg
 * each (same buffer sizes as steward: 4096 bytes of data, room for the credentials and 253
 * descriptors). With "check", it also opens and reads /proc/<sender pid>/stat for every
 * datagram and compares the session with the probe's pid, which is how steward decides
 * that a sender belongs to the instance. Once all N sent READY=1, it waits 1 s, then
 * counts the datagrams and its own CPU time (CLOCK_PROCESS_CPUTIME_ID, ns) over WINDOW_S,
 * SIGTERMs and reaps the probes, and prints one JSON object on stdout:
 *   datagrams      datagrams received in the window
 *   wall_ns        the window's length (CLOCK_MONOTONIC)
 *   cpu_ns         this process's CPU time in the window
 *   max_gap_ns     the largest gap between two datagrams of one socket in the window
 *   rejected       datagrams whose sender failed the check (with "check")
 * Exit status 1 if not every probe was ready within TIMEOUT_S (default 60).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long clock_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Session id (field 6) of /proc/PID/stat, or -1. */
static long session_of(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    long ppid, pgrp, session; /* after ") ": state, ppid, pgrp, session */
    if (!p || sscanf(p + 2, "%*c %ld %ld %ld", &ppid, &pgrp, &session) != 3) return -1;
    return session;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: notifyfloor PROBE LOG N PERIOD_MS WINDOW_S [check] [TIMEOUT_S]\n");
        return 2;
    }
    const char *probe = argv[1], *logf = argv[2], *period = argv[4];
    int n = atoi(argv[3]);
    double window_s = atof(argv[5]);
    int check = argc > 6 && strcmp(argv[6], "check") == 0;
    int timeout_s = argc > 7 ? atoi(argv[7]) : 60;
    if (n <= 0 || window_s <= 0) return 2;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int *sock = calloc(n, sizeof *sock);
    pid_t *kid = calloc(n, sizeof *kid);
    char *ready = calloc(n, 1);
    long long *last = calloc(n, sizeof *last);
    if (ep < 0 || !sock || !kid || !ready || !last) return 3;

    /* Each child's environment: ours plus NOTIFY_SOCKET. */
    int envc = 0;
    while (environ[envc]) envc++;
    char **env = calloc(envc + 2, sizeof *env);
    memcpy(env, environ, envc * sizeof *env);
    char envvar[128];
    env[envc] = envvar;

    int rc = 0;
    int started = 0;
    for (int i = 0; i < n; i++) {
        char name[96];
        int len = snprintf(name, sizeof name, "steward-bench-floor/%d/%d", (int)getpid(), i);
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path + 1, name, len);
        int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (s < 0 || setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
            bind(s, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0) {
            fprintf(stderr, "socket %d: %s\n", i, strerror(errno));
            rc = 1;
            break;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
        sock[i] = s;
        snprintf(envvar, sizeof envvar, "NOTIFY_SOCKET=@%s", name);
        pid_t p = fork();
        if (p == 0) {
            setsid(); /* as steward does: the session id then names the instance */
            char *av[] = {(char *)probe, "watchdog", (char *)logf, (char *)period, NULL};
            execve(probe, av, env);
            _exit(127);
        }
        if (p < 0) {
            fprintf(stderr, "fork: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        kid[i] = p;
        started++;
    }

    long long datagrams = 0, rejected = 0, max_gap = 0, t0 = 0, c0 = 0, t1 = 0, c1 = 0;
    long long settle_at = 0;
    int nready = 0;
    long long deadline = clock_ns(CLOCK_MONOTONIC) + (long long)timeout_s * 1000000000LL;
    static char buf[4096];
    static char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(253 * sizeof(int))];
    while (rc == 0) {
        struct epoll_event evs[64];
        int k = epoll_wait(ep, evs, 64, 100);
        long long now = clock_ns(CLOCK_MONOTONIC);
        for (int j = 0; j < k; j++) {
            int i = (int)evs[j].data.u32;
            for (;;) {
                struct iovec iov = {buf, sizeof buf};
                struct msghdr m;
                memset(&m, 0, sizeof m);
                m.msg_iov = &iov;
                m.msg_iovlen = 1;
                m.msg_control = cbuf;
                m.msg_controllen = sizeof cbuf;
                ssize_t r = recvmsg(sock[i], &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (r < 0) break;
                int pid = 0;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                        struct ucred u;
                        memcpy(&u, CMSG_DATA(c), sizeof u);
                        pid = u.pid;
                    }
                }
                if (check && session_of(pid) != kid[i]) rejected++;
                if (!ready[i] && r >= 7 && memcmp(buf, "READY=1", 7) == 0) {
                    ready[i] = 1;
                    nready++;
                }
                if (t0) {
                    datagrams++;
                    if (last[i] && now - last[i] > max_gap) max_gap = now - last[i];
                    last[i] = now;
                }
            }
        }
        if (!settle_at && nready == n) settle_at = now + 1000000000LL;
        if (!settle_at && now > deadline) {
            fprintf(stderr, "timeout: %d of %d probes ready\n", nready, n);
            rc = 1;
            break;
        }
        if (settle_at && !t0 && now >= settle_at) {
            t0 = clock_ns(CLOCK_MONOTONIC);
            c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        }
        if (t0 && now >= t0 + (long long)(window_s * 1e9)) {
            c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
            t1 = clock_ns(CLOCK_MONOTONIC);
            break;
        }
    }

    for (int i = 0; i < started; i++) kill(kid[i], SIGTERM);
    long long reap_deadline = clock_ns(CLOCK_MONOTONIC) + 5000000000LL;
    int left = started;
    while (left > 0) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p > 0) { left--; continue; }
        if (p < 0 && errno == ECHILD) break;
        if (clock_ns(CLOCK_MONOTONIC) > reap_deadline) {
            for (int i = 0; i < started; i++) kill(kid[i], SIGKILL);
            reap_deadline = clock_ns(CLOCK_MONOTONIC) + 5000000000LL;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    if (rc != 0) return rc;
    printf("{\"n\": %d, \"period_ms\": %s, \"check\": %s, \"datagrams\": %lld, \"wall_ns\": %lld, "
           "\"cpu_ns\": %lld, \"max_gap_ns\": %lld, \"rejected\": %lld}\n",
           n, period, check ? "true" : "false", datagrams, t1 - t0, c1 - c0, max_gap, rejected);
    return 0;
}

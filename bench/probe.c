/*
 * probe: the tiny service every supervisor in the benchmark runs.
 *
 *   probe crash LOG   append "start <ns> <pid>", then "exit <ns> <pid>", exit 1
 *   probe run   LOG   append "start <ns> <pid>", then pause() until a signal ends it
 *   probe exit0 LOG   like crash, but exit 0
 *   probe watchdog LOG PERIOD_MS
 *                     append "start <ns> <pid>", send READY=1 to $NOTIFY_SOCKET, then
 *                     WATCHDOG=1 every PERIOD_MS until SIGTERM/SIGINT; then append
 *                     "watchdog <pid> <sent> <failed> <max_gap_ns> <first_ns> <last_ns>"
 *                     and exit 0 (see below)
 *   probe flood LOG SECONDS [GO]
 *                     append "start <ns> <pid>", wait until the file GO exists (if given;
 *                     looked for every 10 ms), then write stdout as fast as it is read
 *                     for SECONDS: 64 KiB write(2)s of 16-byte lines, each its number in 15
 *                     decimal digits and a newline; then append
 *                     "flood <pid> <bytes> <first_ns> <last_ns>" (bytes written, and
 *                     CLOCK_REALTIME before the first and after the last write) and pause()
 *
 * <ns> is CLOCK_REALTIME in nanoseconds. Each line is one write(2) on an O_APPEND
 * descriptor, so lines from many probes sharing one LOG never interleave.
 * The clock is read before anything else in main, so "start" is as close to the
 * first instruction of the program as C allows.
 *
 * Mode watchdog speaks systemd's notify protocol the way sd_notify(3) does: one datagram
 * per message on an AF_UNIX SOCK_DGRAM socket to $NOTIFY_SOCKET, which is a path or, when
 * it starts with '@', a name in the abstract namespace (sun_path[0] = 0, the name after
 * the '@', address length = offsetof(sun_path) + 1 + strlen(name)). Pings are sent on a
 * fixed CLOCK_MONOTONIC schedule (t0 + k * PERIOD); a ping more than one period late is
 * sent at once and the schedule moves on without a burst. Sends use MSG_DONTWAIT, so a
 * supervisor that stops reading shows up as <failed> (EAGAIN: its queue is full) instead of
 * a probe stuck in sendto. On exit the probe appends, in one line: WATCHDOG=1 datagrams
 * sent, sends that failed, the largest gap between two consecutive successful sends (ns),
 * and CLOCK_REALTIME of the first and last successful WATCHDOG=1 (0 if none).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void log_line(int fd, const char *what, long long ns) {
    char buf[96];
    int n = snprintf(buf, sizeof buf, "%s %lld %ld\n", what, ns, (long)getpid());
    if (n > 0 && write(fd, buf, (size_t)n) != n) _exit(3);
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* A datagram socket connected to $NOTIFY_SOCKET; exits 5 if there is none. */
static int notify_connect(void) {
    const char *e = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t len = e ? strlen(e) : 0;
    if (len < 2 || len >= sizeof sa.sun_path || (e[0] != '@' && e[0] != '/')) {
        static const char msg[] = "probe: NOTIFY_SOCKET missing or not a socket address\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(5);
    }
    socklen_t salen;
    if (e[0] == '@') {
        sa.sun_path[0] = 0;
        memcpy(sa.sun_path + 1, e + 1, len - 1);
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len); /* 1 + strlen(name) */
    } else {
        memcpy(sa.sun_path, e, len);
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, salen) < 0) {
        static const char msg[] = "probe: cannot connect to NOTIFY_SOCKET\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(6);
    }
    return s;
}

static int notify_send(int s, const char *msg) {
    for (;;) {
        ssize_t n = send(s, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) return 0;
        if (errno != EINTR || stop_requested) return -1;
    }
}

static int watchdog_mode(int fd, long period_ms) {
    if (period_ms <= 0) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: clock_nanosleep returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int s = notify_connect();
    long long sent = 0, failed = 0, max_gap = 0, first = 0, last = 0, last_mono = 0;
    if (notify_send(s, "READY=1") != 0) failed++;
    const long long period = period_ms * 1000000LL;
    long long next = mono_ns() + period;
    while (!stop_requested) {
        struct timespec ts = {(time_t)(next / 1000000000LL), (long)(next % 1000000000LL)};
        if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) continue;
        if (stop_requested) break;
        if (notify_send(s, "WATCHDOG=1") == 0) {
            long long m = mono_ns();
            if (sent > 0 && m - last_mono > max_gap) max_gap = m - last_mono;
            last_mono = m;
            last = now_ns();
            if (sent == 0) first = last;
            sent++;
        } else {
            failed++;
        }
        next += period;
        long long m = mono_ns();
        if (next < m) next = m + period; /* more than a period late: no catch-up burst */
    }
    char buf[192];
    int n = snprintf(buf, sizeof buf, "watchdog %ld %lld %lld %lld %lld %lld\n", (long)getpid(),
                     sent, failed, max_gap, first, last);
    if (n > 0 && write(fd, buf, (size_t)n) != n) _exit(3);
    _exit(0);
}

/* Fills `block` with the next lines of the flood pattern; `line` counts them. */
static void flood_fill(char *block, size_t size, unsigned long long *line) {
    for (size_t at = 0; at + 16 <= size; at += 16) {
        unsigned long long n = (*line)++;
        for (int i = 14; i >= 0; i--) {
            block[at + (size_t)i] = (char)('0' + n % 10);
            n /= 10;
        }
        block[at + 15] = '\n';
    }
}

static int flood_mode(int fd, double seconds, const char *go) {
    static char block[64 << 10];
    while (go && access(go, F_OK) != 0) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    unsigned long long line = 0, bytes = 0;
    const long long end = mono_ns() + (long long)(seconds * 1e9);
    const long long first = now_ns();
    while (mono_ns() < end) {
        flood_fill(block, sizeof block, &line);
        size_t off = 0;
        while (off < sizeof block) {
            ssize_t n = write(1, block + off, sizeof block - off);
            if (n < 0) {
                if (errno == EINTR) continue;
                _exit(7);
            }
            off += (size_t)n;
            bytes += (unsigned long long)n;
        }
    }
    char buf[160];
    int n = snprintf(buf, sizeof buf, "flood %ld %llu %lld %lld\n", (long)getpid(), bytes, first,
                     now_ns());
    if (n > 0 && write(fd, buf, (size_t)n) != n) _exit(3);
    for (;;) pause();
}

int main(int argc, char **argv) {
    long long t0 = now_ns();
    if (argc < 3 || ((strcmp(argv[1], "watchdog") == 0 || strcmp(argv[1], "flood") == 0) && argc < 4)) {
        static const char usage[] =
            "usage: probe crash|run|exit0 LOG | probe watchdog LOG PERIOD_MS | probe flood LOG SECONDS [GO]\n";
        (void)!write(2, usage, sizeof usage - 1);
        return 2;
    }
    int fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return 4;
    log_line(fd, "start", t0);
    if (strcmp(argv[1], "run") == 0) {
        for (;;) pause();
    }
    if (strcmp(argv[1], "watchdog") == 0) return watchdog_mode(fd, atol(argv[3]));
    if (strcmp(argv[1], "flood") == 0) return flood_mode(fd, atof(argv[3]), argc > 4 ? argv[4] : NULL);
    int code = strcmp(argv[1], "exit0") == 0 ? 0 : 1;
    log_line(fd, "exit", now_ns());
    _exit(code);
}

/*
 * probe: the tiny service every supervisor in the benchmark runs.
 *
 *   probe crash LOG   append "start <ns> <pid>", then "exit <ns> <pid>", exit 1
 *   probe run   LOG   append "start <ns> <pid>", then pause() until a signal ends it
 *   probe exit0 LOG   like crash, but exit 0
 *
 * <ns> is CLOCK_REALTIME in nanoseconds. Each line is one write(2) on an O_APPEND
 * descriptor, so lines from many probes sharing one LOG never interleave.
 * The clock is read before anything else in main, so "start" is as close to the
 * first instruction of the program as C allows.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void log_line(int fd, const char *what, long long ns) {
    char buf[96];
    int n = snprintf(buf, sizeof buf, "%s %lld %ld\n", what, ns, (long)getpid());
    if (n > 0 && write(fd, buf, (size_t)n) != n) _exit(3);
}

int main(int argc, char **argv) {
    long long t0 = now_ns();
    if (argc < 3) {
        static const char usage[] = "usage: probe crash|run|exit0 LOG\n";
        (void)!write(2, usage, sizeof usage - 1);
        return 2;
    }
    int fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return 4;
    log_line(fd, "start", t0);
    if (strcmp(argv[1], "run") == 0) {
        for (;;) pause();
    }
    int code = strcmp(argv[1], "exit0") == 0 ? 0 : 1;
    log_line(fd, "exit", now_ns());
    _exit(code);
}

/* The backend of the endpoint workload (12): an echo server.
 *
 *   echoback [ADDRESS]
 *
 * Listens on ADDRESS, else on $STEWARD_LISTEN (what steward gives each instance of a service
 * with an endpoint in proxy mode): "unix:/path" (a stale socket file is unlinked first) or
 * "tcp:IP:PORT". With LISTEN_FDS=1 and LISTEN_PID = our pid (an endpoint in socket mode) it
 * takes the listening socket from fd 3 instead.
 *
 * Protocol, per connection: each line ending in '\n' is written back as it came; the line
 * "BULK <n>" instead makes it stream n bytes (zeros, 1 MiB writes) back as fast as the peer
 * reads them, after which it reads lines again. One thread, one epoll loop, non-blocking
 * sockets: a request costs one read and one write. Exits 0 on SIGTERM/SIGINT. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define INBUF 65536
#define CHUNK (1 << 20)
#define MAXEV 256

struct conn {
    int fd;
    int tcp;
    size_t have;            /* bytes in in[] */
    char *out;              /* pending echo bytes (after a short write), malloc'd */
    size_t out_len, out_off;
    unsigned long long bulk; /* bytes of a BULK answer still to send */
    int want_out;           /* EPOLLOUT registered */
    char in[INBUF];
};

static char zeros[CHUNK];
static volatile sig_atomic_t stop;
static int ep;

static void on_term(int s) { (void)s; stop = 1; }

static void die(const char *what) {
    fprintf(stderr, "echoback: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int listen_on(const char *addr) {
    int fd;
    if (strncmp(addr, "unix:", 5) == 0) {
        const char *path = addr + 5;
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof a.sun_path) {
            fprintf(stderr, "echoback: unix path too long: %s\n", path);
            exit(2);
        }
        strcpy(a.sun_path, path);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) die("socket");
        if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die(path);
    } else if (strncmp(addr, "tcp:", 4) == 0) {
        char host[64];
        const char *hp = addr + 4, *colon = strrchr(hp, ':');
        if (!colon || (size_t)(colon - hp) >= sizeof host) {
            fprintf(stderr, "echoback: bad address %s\n", addr);
            exit(2);
        }
        memcpy(host, hp, colon - hp);
        host[colon - hp] = 0;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
            fprintf(stderr, "echoback: bad IPv4 address %s\n", host);
            exit(2);
        }
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) die("socket");
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die(addr);
    } else {
        fprintf(stderr, "echoback: address must be unix:/path or tcp:IP:PORT, not %s\n", addr);
        exit(2);
    }
    if (listen(fd, 4096) < 0) die("listen");
    return fd;
}

static void set_events(struct conn *c, int out) {
    if (c->want_out == out) return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void drop(struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->out);
    free(c);
}

/* Sends what is pending (echo bytes, then a BULK answer). 1: all sent, 0: would block,
 * -1: connection gone. */
static int flush(struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->out_off += n;
    }
    c->out_len = c->out_off = 0;
    while (c->bulk) {
        size_t k = c->bulk < CHUNK ? c->bulk : CHUNK;
        ssize_t n = write(c->fd, zeros, k);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->bulk -= n;
    }
    return 1;
}

static void queue(struct conn *c, const char *p, size_t n) {
    if (!n || c->out_len + n > INBUF * 4) return; /* a peer that never reads: stop echoing */
    char *o = realloc(c->out, c->out_len + n);
    if (!o) return;
    memcpy(o + c->out_len, p, n);
    c->out = o;
    c->out_len += n;
}

/* Handles complete lines in in[]; stops at a BULK request (its answer goes first). */
static void lines(struct conn *c) {
    size_t off = 0, echo_from = 0;
    while (off < c->have && !c->bulk) {
        char *nl = memchr(c->in + off, '\n', c->have - off);
        if (!nl) break;
        size_t end = nl - c->in + 1;
        if (end - off > 5 && memcmp(c->in + off, "BULK ", 5) == 0) {
            queue(c, c->in + echo_from, off - echo_from);
            c->bulk = strtoull(c->in + off + 5, NULL, 10);
            echo_from = end;
        }
        off = end;
    }
    queue(c, c->in + echo_from, off - echo_from);
    memmove(c->in, c->in + off, c->have - off);
    c->have -= off;
}

static void serve(struct conn *c, unsigned events) {
    if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
        drop(c);
        return;
    }
    for (int round = 0; round < 64; round++) {
        int r = flush(c);
        if (r < 0) {
            drop(c);
            return;
        }
        if (r == 0) {
            set_events(c, 1);
            return;
        }
        if (c->have) { /* lines left behind a BULK request */
            lines(c);
            if (c->out_len || c->bulk) continue;
        }
        if (c->have == INBUF) { /* a line longer than the buffer: echo it as it is */
            queue(c, c->in, c->have);
            c->have = 0;
            continue;
        }
        ssize_t n = read(c->fd, c->in + c->have, INBUF - c->have);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            drop(c);
            return;
        }
        if (n < 0) {
            set_events(c, 0);
            return;
        }
        c->have += n;
        lines(c);
    }
    set_events(c, 1); /* more to do: come back after the others had their turn */
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd;
    const char *fds = getenv("LISTEN_FDS"), *lpid = getenv("LISTEN_PID");
    const char *addr = argc > 1 ? argv[1] : getenv("STEWARD_LISTEN");
    if (argc <= 1 && fds && atoi(fds) >= 1 && (!lpid || atoi(lpid) == getpid())) {
        lfd = 3;
        fcntl(lfd, F_SETFD, FD_CLOEXEC);
        fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    } else if (addr && *addr) {
        lfd = listen_on(addr);
    } else {
        fprintf(stderr, "echoback: no address (argument, STEWARD_LISTEN or LISTEN_FDS)\n");
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int tcp = getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family != AF_UNIX;

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");
    fprintf(stderr, "echoback: pid %d listening (%s)\n", getpid(), addr && argc > 1 ? addr : fds ? "fd 3" : addr);

    struct epoll_event evs[MAXEV];
    while (!stop) {
        int n = epoll_wait(ep, evs, MAXEV, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                for (int k = 0; k < 64; k++) { /* accept what is queued, bounded */
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    struct conn *c = malloc(sizeof *c);
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    memset(c, 0, offsetof(struct conn, in));
                    c->fd = fd;
                    c->tcp = tcp;
                    if (tcp) {
                        int one = 1;
                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    }
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        close(fd);
                        free(c);
                    }
                }
            } else {
                serve(evs[i].data.ptr, evs[i].events);
            }
        }
    }
    return 0;
}

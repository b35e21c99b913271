/*
 * restartfloor: the least a supervisor can do to restart one service.
 *
 *   restartfloor PROG [ARG...]
 *
 * fork+execv PROG; sleep in sigwaitinfo(2) until SIGCHLD, reap, start it again at once;
 * forever. SIGTERM (or SIGINT) SIGKILLs the current child, reaps it and exits 0.
 * The bench runs the probe under it to get the floor for the crash-loop gap and for
 * SIGKILL -> successor: what the kernel's exit, wake-up, fork and exec cost here.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: restartfloor PROG [ARG...]\n");
        return 2;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (;;) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            execv(argv[1], argv + 1);
            _exit(127);
        }
        for (;;) {
            siginfo_t si;
            int sig = sigwaitinfo(&set, &si);
            if (sig == SIGTERM || sig == SIGINT) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return 0;
            }
            if (sig == SIGCHLD && waitpid(pid, NULL, WNOHANG) == pid) break;
        }
    }
}

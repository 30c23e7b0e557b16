/* measure COMMAND [ARGS...] — run COMMAND and report, on stderr after its own output:
 *
 *   measure: exit=N wall_us=W user_us=U sys_us=S maxrss_kib=M
 *
 * wall_us is CLOCK_MONOTONIC from just before fork to just after wait4 returns; the
 * rest is wait4(2)'s rusage of the child. The exit status is the command's (128 + signal
 * if it was killed).
 *
 * Why a program of its own: Linux counts the memory a process held before exec in its
 * peak RSS (exec keeps the old mm's high-water mark), so a child forked from busybox
 * `time` starts at busybox's 5 MiB and from `ip netns exec` at glibc iproute2's. This
 * launcher is static and small; what it held at exec is far below the figures measured.
 * It is cross-compiled for the guest by vm/test.sh (zig cc) and runs in /payload.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t); /* monotonic: the guest clock may be stepped */
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static long long tv_us(struct timeval t)
{
    return (long long)t.tv_sec * 1000000 + t.tv_usec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: measure COMMAND [ARGS...]\n");
        return 2;
    }
    long long started_us = now_us();
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("measure: wait4");
        return 1;
    }
    long long wall_us = now_us() - started_us;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(stderr, "measure: exit=%d wall_us=%lld user_us=%lld sys_us=%lld maxrss_kib=%ld\n", code,
            wall_us, tv_us(ru.ru_utime), tv_us(ru.ru_stime), ru.ru_maxrss);
    return code;
}

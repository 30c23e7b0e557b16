/* rusage: run a command and print its CPU time and peak RSS as wait4(2) reports them.
 *
 * Linux counts the memory a process had before exec in its peak RSS, so a child
 * forked from a big benchmark driver (Python: 11 MiB) would carry that figure. This
 * launcher is a small static program: its own footprint at exec is what the child
 * starts from, far below the figures measured.
 *
 * Usage: rusage COMMAND [ARGS...]   prints "rusage: exit=N user_us=U sys_us=S maxrss_kib=M"
 * on stderr after the command's own output. Build: cc -O2 -static -o rusage rusage.c
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rusage COMMAND [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
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
        perror("wait4");
        return 1;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(stderr, "rusage: exit=%d user_us=%ld sys_us=%ld maxrss_kib=%ld\n", code,
            (long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
            (long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss);
    return code;
}

/* measure COMMAND [ARGS...] — run COMMAND and report, on stderr after its own output:
 *
 *   measure: exit=N wall_us=W user_us=U sys_us=S hwm_kib=H file_kib=F anon_kib=A maxrss_kib=M
 *
 * wall_us is CLOCK_MONOTONIC from just before fork to just after wait4 returns; user_us,
 * sys_us and maxrss_kib are wait4(2)'s rusage of the child. The exit status is the
 * command's (128 + signal if it was killed).
 *
 * hwm_kib is the exact peak RSS: VmHWM of /proc/PID/status, read while the child is held
 * at its exit (ptrace's PTRACE_EVENT_EXIT stop comes before the kernel takes its memory
 * down); file_kib and anon_kib are its RssFile and RssAnon at that moment (-1 if /proc
 * could not be read). ru_maxrss is not exact: the kernel reads it from per-CPU counters
 * that reach the total in batches (bench/compare.py says more). With MEASURE_SMAPS=PATH
 * in the environment, /proc/PID/smaps at the same stop is copied to PATH, to see where
 * the pages are. The child is traced and nothing else: no system call is stopped, a
 * signal sent to it is passed on, what it starts is not traced.
 *
 * Why a program of its own: Linux counts the memory a process held before exec in its
 * peak RSS (exec keeps the old mm's high-water mark), so a child forked from busybox
 * `time` starts at busybox's 5 MiB and from `ip netns exec` at glibc iproute2's. This
 * launcher is static and small; what it held at exec is far below the figures measured.
 * It is cross-compiled for the guest by vm/test.sh (zig cc) and runs in /payload.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
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

/* The value in kB of the line KEY ("VmHWM:") of /proc/PID/status, or -1. */
static long status_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            kib = strtol(line + strlen(key), NULL, 10);
    fclose(f);
    return kib;
}

/* /proc/PID/smaps copied to PATH. */
static void copy_smaps(pid_t pid, const char *path)
{
    char from[64], buf[4096];
    size_t n;
    snprintf(from, sizeof from, "/proc/%d/smaps", (int)pid);
    FILE *in = fopen(from, "r"), *out = fopen(path, "w");
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    if (!in || !out)
        perror("measure: smaps");
    if (in)
        fclose(in);
    if (out)
        fclose(out);
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
        ptrace(PTRACE_TRACEME, 0, NULL, NULL); /* stops at the exec, with SIGTRAP */
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    int status, traced = 0;
    long hwm = -1, file = -1, anon = -1;
    struct rusage ru;
    for (;;) {
        if (wait4(pid, &status, 0, &ru) < 0) {
            perror("measure: wait4");
            return 1;
        }
        if (!WIFSTOPPED(status))
            break;
        int pass = 0; /* the signal passed on when it continues */
        if (!traced) {
            /* The exec's SIGTRAP: from now on a later exec is an event, not a signal. */
            long opts = PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC;
            if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)opts) < 0)
                perror("measure: PTRACE_SETOPTIONS");
            traced = 1;
        } else if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
            hwm = status_kib(pid, "VmHWM:");
            file = status_kib(pid, "RssFile:");
            anon = status_kib(pid, "RssAnon:");
            const char *smaps = getenv("MEASURE_SMAPS");
            if (smaps)
                copy_smaps(pid, smaps);
        } else if (status >> 16 == 0) {
            siginfo_t si; /* a signal for the child (not a group-stop, which has none) */
            if (ptrace(PTRACE_GETSIGINFO, pid, NULL, &si) == 0)
                pass = WSTOPSIG(status);
        }
        ptrace(PTRACE_CONT, pid, NULL, (void *)(long)pass);
    }
    long long wall_us = now_us() - started_us;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(stderr,
            "measure: exit=%d wall_us=%lld user_us=%lld sys_us=%lld hwm_kib=%ld file_kib=%ld anon_kib=%ld "
            "maxrss_kib=%ld\n",
            code, wall_us, tv_us(ru.ru_utime), tv_us(ru.ru_stime), hwm, file, anon, ru.ru_maxrss);
    return code;
}

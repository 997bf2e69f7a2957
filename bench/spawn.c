/*
 * spawn: run one command and report its wall time and peak RSS.
 *
 *   spawn [-i STDIN] [-o STDOUT] [-e STDERR] -- CMD [ARGS...]
 *
 * Prints one line on its own stdout:  "<wall_ns> <maxrss_kib> <wait_status>"
 * The child's stdout defaults to /dev/null and stderr is inherited unless -e.
 *
 * Why a C helper instead of Python's os.wait4 directly: on Linux a child's
 * ru_maxrss includes the RSS high-water mark of the address space it had
 * *before* exec (fork and vfork/posix_spawn alike), so every child spawned
 * straight from a Python interpreter reports at least the interpreter's RSS
 * (~14 MiB, and more as it grows).  Forking from this tiny process keeps
 * that floor at ~1 MiB.  Wall time is taken here too (fork -> wait4), so the
 * interpreter's own overhead is not counted either.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void redirect(const char *path, int fd, int flags)
{
    int f = open(path, flags, 0644);
    if (f < 0) {
        fprintf(stderr, "spawn: open %s: %s\n", path, strerror(errno));
        _exit(126);
    }
    if (f != fd) {
        dup2(f, fd);
        close(f);
    }
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = "/dev/null", *err = NULL;
    int c;
    while ((c = getopt(argc, argv, "+i:o:e:")) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'e': err = optarg; break;
        default:
            fprintf(stderr, "usage: spawn [-i IN] [-o OUT] [-e ERR] -- CMD [ARGS...]\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "spawn: no command\n");
        return 2;
    }
    fflush(stdout);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("spawn: fork");
        return 2;
    }
    if (pid == 0) {
        if (in)
            redirect(in, 0, O_RDONLY);
        redirect(out, 1, O_WRONLY | O_CREAT | O_TRUNC);
        if (err)
            redirect(err, 2, O_WRONLY | O_CREAT | O_TRUNC);
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "spawn: exec %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    pid_t r;
    do {
        r = wait4(pid, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r < 0) {
        perror("spawn: wait4");
        return 2;
    }
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    printf("%lld %ld %d\n", ns, ru.ru_maxrss, status);
    return 0;
}

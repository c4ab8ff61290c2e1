/* forks N: forks N children, all alive at once (each makes a few calls, then waits until the
 * last one is forked), then reaps them. Prints "ok N". No SIGCHLD handler, so no call is cut
 * short by a signal. Built static for the busybox rootfs. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 300;
    int go[2];
    if (pipe(go)) return 1;
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            char c;
            close(go[1]);
            for (int k = 0; k < 10; k++) syscall(SYS_getppid);
            while (read(go[0], &c, 1) < 0) {}
            _exit(0);
        }
    }
    close(go[1]);
    long reaped = 0;
    int status;
    while (wait(&status) > 0)
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) reaped++;
    printf("ok %ld\n", reaped);
    return reaped == n ? 0 : 1;
}

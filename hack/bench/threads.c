/* threads N CALLS: starts N threads that each make CALLS getppid calls, keeps them all alive
 * until the last has started (a barrier), then lets them exit and joins them. Prints "ok N".
 * Small stacks, so that 10,000 threads fit. Built static for the busybox rootfs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

static long calls;
static pthread_barrier_t all_started;

static void *work(void *arg) {
    (void)arg;
    for (long i = 0; i < calls; i++) syscall(SYS_getppid);
    pthread_barrier_wait(&all_started);
    return NULL;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    calls = argc > 2 ? atol(argv[2]) : 10;
    pthread_t *t = calloc(n, sizeof *t);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&all_started, NULL, n + 1);
    for (long i = 0; i < n; i++) {
        int e = pthread_create(&t[i], &attr, work, NULL);
        if (e) {
            fprintf(stderr, "pthread_create %ld: error %d\n", i, e);
            return 1;
        }
    }
    pthread_barrier_wait(&all_started);
    for (long i = 0; i < n; i++) pthread_join(t[i], NULL);
    printf("ok %ld\n", n);
    return 0;
}

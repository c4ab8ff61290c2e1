/* The floor of the two ways a ptrace monitor can stop a system call, on the same getppid loop:
 *   syscall  PTRACE_SYSCALL: two stops per call (entry and exit), the tracer resumes each.
 *   seccomp  a seccomp filter returning SECCOMP_RET_TRACE for every call, PTRACE_O_TRACESECCOMP:
 *            one stop per call, the tracer resumes it with PTRACE_CONT.
 * Each both with a tracer that blocks in waitpid, and with one that first polls waitpid (WNOHANG)
 * up to 100 times, as ids-runc's ptrace monitor does: on a VM, a tracer that sleeps is woken by an
 * IPI to an idle vCPU for every stop.
 * The tracer does nothing else (no GET_SYSCALL_INFO, no detector): a benchmark reference.
 *   ptrace-floor CALLS     prints microseconds per call for each */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void loop(long calls) {
    for (long i = 0; i < calls; i++) syscall(SYS_getppid);
}

static void install_trace_filter(void) {
    struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE)};
    struct sock_fprog prog = {.len = 1, .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
        perror("seccomp");
        _exit(2);
    }
}

/* Runs the loop in a traced child; returns seconds from the first resume to the child's exit. */
static int next_stop(pid_t child, int *status, int polls) {
    for (int i = 0; i < polls; i++) {
        int r = waitpid(child, status, __WALL | WNOHANG);
        if (r != 0) return r;
    }
    return waitpid(child, status, __WALL);
}

static double traced(long calls, int seccomp, int polls) {
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        if (seccomp) install_trace_filter();
        loop(calls);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    ptrace(PTRACE_SETOPTIONS, child, 0,
           PTRACE_O_EXITKILL | (seccomp ? PTRACE_O_TRACESECCOMP : PTRACE_O_TRACESYSGOOD));
    int resume = seccomp ? PTRACE_CONT : PTRACE_SYSCALL;
    double start = now();
    ptrace(resume, child, 0, 0);
    for (;;) {
        if (next_stop(child, &status, polls) < 0) break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) break;
        int sig = WSTOPSIG(status);
        int deliver = (sig == SIGTRAP || sig == (SIGTRAP | 0x80)) ? 0 : sig;
        ptrace(resume, child, 0, deliver);
    }
    return now() - start;
}

int main(int argc, char **argv) {
    long calls = argc > 1 ? atol(argv[1]) : 200000;
    double t0 = now();
    loop(calls);
    double native = now() - t0;
    double sys = traced(calls, 0, 0);
    double sec = traced(calls, 1, 0);
    double sys_poll = traced(calls, 0, 100);
    double sec_poll = traced(calls, 1, 100);
    printf("native  %.2f us/call\nsyscall %.2f us/call\nseccomp %.2f us/call\n"
           "syscall+poll %.2f us/call\nseccomp+poll %.2f us/call\n",
           native * 1e6 / calls, sys * 1e6 / calls, sec * 1e6 / calls, sys_poll * 1e6 / calls,
           sec_poll * 1e6 / calls);
    return 0;
}

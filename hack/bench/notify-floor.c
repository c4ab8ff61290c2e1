/* The floor a seccomp-notify monitor can reach: the least a supervisor can do. It listens on the
 * socket runc hands the notify fd to (linux.seccomp.listenerPath), takes one fd, asks for
 * synchronous wake-ups, and answers every notification CONTINUE from a blocking RECV loop; a second
 * thread only waits (on a pidfd) for the container's init to exit and then ends the process. No
 * exec handovers, no control socket, no detector: a benchmark reference, not a monitor.
 *   notify-floor SOCKET_PATH      (prints "ready" once listening) */
#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static void *watch_init(void *arg) {
    struct pollfd p = {.fd = *(int *)arg, .events = POLLIN};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {}
    _exit(0);
}

/* The notify fd, and the "pid" of runc's message (the container's init). */
static int receive_fd(int conn, int *pid) {
    char buf[8192], ctl[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(conn, &msg, 0);
    if (n <= 0) return -1;
    buf[n < (ssize_t)sizeof buf ? n : (ssize_t)sizeof buf - 1] = 0;
    char *at = strstr(buf, "\"pid\":");
    *pid = at ? atoi(at + 6) : 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
            return fd;
        }
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]); return 2; }
    int lsock = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    unlink(argv[1]);
    if (bind(lsock, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lsock, 4) < 0) { perror("listen"); return 1; }
    printf("ready\n");
    fflush(stdout);
    int conn = accept(lsock, NULL, NULL);
    int pid = 0;
    int fd = receive_fd(conn, &pid);
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (fd < 0 || pidfd < 0) { fprintf(stderr, "no fd or pid received\n"); return 1; }
    close(conn);
    /* The flags are the ioctl's argument itself, not a pointer to them. */
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
        perror("SECCOMP_IOCTL_NOTIF_SET_FLAGS");
    pthread_t t;
    pthread_create(&t, NULL, watch_init, &pidfd);
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (;;) {
        memset(&req, 0, sizeof req);
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
            if (errno == EINTR || errno == ENOENT) continue;
            return 0;
        }
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT && errno != EINTR) return 0;
    }
}

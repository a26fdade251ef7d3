/* boxclient: `reliability box ARGS...` answered by a resident server (refbox/server.py), without
   starting an interpreter: the command a CLI sandbox script runs three times per execution.

   Usage: boxclient SOCKET PYTHON ARGS...
     With a server listening at SOCKET: sends ARGS, the environment, the working directory and fds 0-2
     (the server's worker writes to them directly), forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the
     worker, and ends as the worker ended (its exit code, or the same signal). If this client dies,
     the server kills the worker with SIGKILL: killing the client is killing the command.
     Without one (no socket, nobody listening): execs PYTHON -m reliability box ARGS..., the same command.

   Request: a 4-byte length (host order), then NUL-terminated strings: the count of ARGS in decimal,
   ARGS, the count of environment entries, the entries, the working directory. Answer: two 4-byte
   integers, kind (0 exit code, 1 signal) and value. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static int sock = -1;
static const int FORWARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

struct buf {
    char *data;
    size_t len, cap;
};

static void put(struct buf *b, const char *s) {
    size_t n = strlen(s) + 1;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data) {
            perror("boxclient: request");
            exit(1);
        }
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void put_count(struct buf *b, long n) {
    char text[32];
    snprintf(text, sizeof text, "%ld", n);
    put(b, text);
}

static void fallback(const char *python, int argc, char **args) {
    char **argv = calloc(argc + 5, sizeof *argv);
    if (!argv) {
        perror("boxclient");
        exit(1);
    }
    argv[0] = (char *)python;
    argv[1] = "-m";
    argv[2] = "reliability";
    argv[3] = "box";
    memcpy(argv + 4, args, argc * sizeof *args);
    execvp(python, argv);
    fprintf(stderr, "boxclient: cannot run %s: %s\n", python, strerror(errno));
    exit(127);
}

static void forward(int sig) {
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    if (write(sock, &b, 1) < 0) { /* the server is gone: the read below says so */
    }
    errno = saved;
}

static int send_request(struct buf *b) {
    uint32_t len = (uint32_t)b->len;
    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec iov = {&len, sizeof len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof len)
        return -1;
    for (size_t done = 0; done < b->len;) {
        ssize_t n = send(sock, b->data + done, b->len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: boxclient SOCKET PYTHON ARGS...\n");
        return 2;
    }
    const char *path = argv[1], *python = argv[2];
    char **args = argv + 3;
    int nargs = argc - 3;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        fallback(python, nargs, args);
    strcpy(addr.sun_path, path);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
        fallback(python, nargs, args); /* no server: the CLI itself */

    for (int fd = 0; fd < 3; fd++) /* a closed standard fd cannot be passed: /dev/null stands in */
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) {
            perror("boxclient: /dev/null");
            return 1;
        }
    struct buf b = {0};
    put_count(&b, nargs);
    for (int i = 0; i < nargs; i++)
        put(&b, args[i]);
    long nenv = 0;
    while (environ[nenv])
        nenv++;
    put_count(&b, nenv);
    for (long i = 0; i < nenv; i++)
        put(&b, environ[i]);
    char cwd[4096];
    put(&b, getcwd(cwd, sizeof cwd) ? cwd : "/");

    struct sigaction sa = {.sa_handler = forward}; /* no SA_RESTART: the read sees EINTR and goes on */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof FORWARDED / sizeof *FORWARDED; i++)
        sigaction(FORWARDED[i], &sa, NULL);
    if (send_request(&b) < 0) {
        fprintf(stderr, "boxclient: the server at %s took no request: %s\n", path, strerror(errno));
        return 1;
    }

    int32_t answer[2];
    size_t got = 0;
    while (got < sizeof answer) {
        ssize_t n = read(sock, (char *)answer + got, sizeof answer - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "boxclient: the server at %s ended without an answer\n", path);
            return 1;
        }
        got += (size_t)n;
    }
    if (answer[0] == 0)
        return answer[1];
    /* Ended by a signal: end by the same one, so our caller sees what the command did. */
    signal(answer[1], SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, answer[1]);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(answer[1]);
    return 128 + answer[1];
}

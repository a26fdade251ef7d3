/* boxinit: pid 1 of a refbox run's pid namespace, in C (see refbox/boxinit.py for why and how).
   Not a program of its own: boxsup.c, the C supervisor, includes it and forks init_main().

   The same steps, in the same order, as the Python path (supervisor._init_main, isolation.enter,
   supervisor._exec_program): die with the supervisor, new session, join the run cgroup, unshare the
   mount, IPC, UTS and network namespaces, build the read-only root and pivot into it, fork the
   program; the program redirects its stdio, resets signals, sets its rlimits, drops every privilege,
   installs the seccomp filter and execs. init waits for it and reports "<wait status> <maxrss kB>".
   Every policy (what to bind, which limits, the filter itself) is decided in Python and passed in.

   Its part of the command line (init_arg): box=DIR  bind=PATH...  device=PATH...  tmp_mb=N
     procs=FILE...  uid=N  gid=N  rlimit=RESOURCE:SOFT:HARD...  seccomp=HEX  keep_orphans=1
     env=NAME=VALUE... (the program's whole environment)
   Fds: 3 setup errors (EOF once the program execs), 4 the report, 5 stdout, 6 stderr,
        7 a pidfd of the supervisor. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ERR_FD = 3, REPORT_FD = 4, STDOUT_FD = 5, STDERR_FD = 6, SUPERVISOR_FD = 7, FIRST_FREE_FD = 8 };
#define MAX_ITEMS 64
#define STAGING "/tmp"
#define BOX_IN_JAIL "/box"
#define RO_BIND (MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
#define DEVICE_BIND (MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC)

struct spec {
    const char *box;
    const char *binds[MAX_ITEMS];
    int nbinds;
    const char *devices[MAX_ITEMS];
    int ndevices;
    const char *procs[MAX_ITEMS];
    int nprocs;
    const char *rlimits[MAX_ITEMS];
    int nrlimits;
    int tmp_mb, keep_orphans;
    uid_t uid;
    gid_t gid;
    const char *seccomp_hex;
    char *env[MAX_ITEMS + 1]; /* the program's environment; ours is the caller's */
    int nenv;
    char **argv;
};

static const char *step = "parse arguments";

static void fail(void) {
    char msg[2048];
    int n = snprintf(msg, sizeof msg, "%s: %s", step, strerror(errno));
    if (n > 0 && write(ERR_FD, msg, n < (int)sizeof msg ? n : (int)sizeof msg - 1) < 0) {
        /* nothing left to tell it with */
    }
    _exit(127);
}

#define CHECK(expr)          \
    do {                     \
        if ((expr) < 0)      \
            fail();          \
    } while (0)

static void add(const char **list, int *n, const char *value) {
    if (*n >= MAX_ITEMS) {
        errno = E2BIG;
        fail();
    }
    list[(*n)++] = value;
}

/* One KEY=VALUE of the init's part of the command line; 0 if KEY is not the init's. */
static int init_arg(struct spec *s, const char *a, char *v) {
    if (!strcmp(a, "box")) s->box = v;
    else if (!strcmp(a, "bind")) add(s->binds, &s->nbinds, v);
    else if (!strcmp(a, "device")) add(s->devices, &s->ndevices, v);
    else if (!strcmp(a, "procs")) add(s->procs, &s->nprocs, v);
    else if (!strcmp(a, "rlimit")) add(s->rlimits, &s->nrlimits, v);
    else if (!strcmp(a, "tmp_mb")) s->tmp_mb = atoi(v);
    else if (!strcmp(a, "uid")) s->uid = (uid_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "gid")) s->gid = (gid_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "seccomp")) s->seccomp_hex = v;
    else if (!strcmp(a, "keep_orphans")) s->keep_orphans = atoi(v);
    else if (!strcmp(a, "env")) add((const char **)s->env, &s->nenv, v);
    else return 0;
    return 1;
}

static void init_spec(struct spec *s) {
    memset(s, 0, sizeof *s);
    s->uid = s->gid = (uid_t)-1;
}

static void check_spec(const struct spec *s) {
    if (!s->box || !s->argv || !s->argv[0] || s->uid == (uid_t)-1 || s->gid == (gid_t)-1 || s->tmp_mb <= 0) {
        errno = EINVAL;
        fail();
    }
}

/* -- the jail (isolation.enter) ------------------------------------------------------------------ */
static void make_parents(const char *target) {
    char path[4096];
    snprintf(path, sizeof path, "%s", target);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) < 0 && errno != EEXIST) fail();
        *p = '/';
    }
}

static void bind(const char *source, unsigned long remount_flags) {
    char target[4096];
    struct stat st;
    snprintf(target, sizeof target, "%s%s", STAGING, source);
    make_parents(target);
    CHECK(lstat(source, &st));
    if (S_ISLNK(st.st_mode)) { /* merged /usr: /bin -> usr/bin stays a symlink, resolved in the jail */
        char link[4096];
        ssize_t n = readlink(source, link, sizeof link - 1);
        CHECK(n);
        link[n] = 0;
        CHECK(symlink(link, target));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        CHECK(mkdir(target, 0777));
    } else {
        int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        CHECK(fd);
        close(fd);
    }
    CHECK(mount(source, target, "", MS_BIND | MS_REC, NULL));
    CHECK(mount("none", target, "", remount_flags, NULL)); /* a bind takes its own flags only on remount */
}

static void unescape(char *s) { /* mountinfo writes space, tab, newline and backslash as \ooo */
    char *out = s;
    for (char *in = s; *in; out++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
            in[3] <= '7') {
            *out = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 4;
        } else {
            *out = *in++;
        }
    }
    *out = 0;
}

static int depth(const char *p) {
    int n = 0;
    for (; *p; p++) n += *p == '/';
    return n;
}

static int deeper_first(const void *a, const void *b) {
    return depth(*(char *const *)b) - depth(*(char *const *)a);
}

/* Remount read-only every mount below the read-only binds (MS_REC binds them, the remount changes the
   top one only); noexec is kept. One that refuses is detached. As isolation._submounts_read_only. */
static void submounts_read_only(const struct spec *s) {
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) fail();
    char *points[1024];
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *field = line, *save = NULL;
        for (int i = 0; i < 5 && field; i++) field = strtok_r(i ? NULL : line, " ", &save);
        if (!field) continue;
        unescape(field);
        size_t len = strlen(STAGING);
        if (strncmp(field, STAGING "/", len + 1)) continue;
        int below_a_root = 0;
        for (int i = 0; i < s->nbinds; i++) {
            char root[4096];
            int r = snprintf(root, sizeof root, "%s%s", STAGING, s->binds[i]);
            if (!strcmp(field, root)) {
                below_a_root = 0;
                break;
            }
            if (!strncmp(field, root, r) && field[r] == '/') below_a_root = 1;
        }
        if (!below_a_root) continue;
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = !strcmp(points[i], field);
        if (seen) continue;
        if (n == (int)(sizeof points / sizeof *points)) { /* fail closed: never leave one writable */
            errno = E2BIG;
            fail();
        }
        if (!(points[n++] = strdup(field))) fail();
    }
    free(line);
    fclose(f);
    qsort(points, n, sizeof *points, deeper_first);
    for (int i = 0; i < n; i++) {
        struct statvfs vfs;
        CHECK(statvfs(points[i], &vfs));
        if (mount("none", points[i], "", RO_BIND | (vfs.f_flag & ST_NOEXEC ? MS_NOEXEC : 0), NULL) < 0)
            CHECK(umount2(points[i], MNT_DETACH));
        free(points[i]);
    }
}

static void enter_jail(const struct spec *s) {
    unsigned long nosuid_nodev = MS_NOSUID | MS_NODEV;
    char path[4096], options[64];
    step = "enter namespaces and root";
    CHECK(unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET));
    CHECK(sethostname("box", 3));
    CHECK(mount("none", "/", "", MS_REC | MS_PRIVATE, NULL)); /* nothing below reaches the host */
    int box_fd = open(s->box, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); /* before /tmp is covered */
    CHECK(box_fd);
    CHECK(mount("jail", STAGING, "tmpfs", nosuid_nodev, "size=1m,mode=755"));
    for (int i = 0; i < s->nbinds; i++) bind(s->binds[i], RO_BIND);
    submounts_read_only(s);
    for (int i = 0; i < s->ndevices; i++) bind(s->devices[i], DEVICE_BIND); /* rw, never exec or suid */
    CHECK(mkdir(STAGING "/tmp", 0777));
    snprintf(options, sizeof options, "size=%dm,mode=1777", s->tmp_mb);
    CHECK(mount("tmp", STAGING "/tmp", "tmpfs", nosuid_nodev, options));
    CHECK(mkdir(STAGING BOX_IN_JAIL, 0777));
    snprintf(path, sizeof path, "/proc/self/fd/%d", box_fd); /* reaches the box under the staging tmpfs */
    CHECK(mount(path, STAGING BOX_IN_JAIL, "", MS_BIND, NULL));
    CHECK(mount("none", STAGING BOX_IN_JAIL, "", MS_BIND | MS_REMOUNT | nosuid_nodev, NULL));
    close(box_fd);
    CHECK(mkdir(STAGING "/proc", 0777));
    CHECK(mount("proc", STAGING "/proc", "proc", nosuid_nodev | MS_NOEXEC, NULL));
    CHECK(mount("none", STAGING, "", MS_REMOUNT | MS_RDONLY | nosuid_nodev, NULL));
    CHECK(chdir(STAGING)); /* pivot_root(".", ".") stacks the old root; detaching it leaves the jail */
    CHECK(syscall(SYS_pivot_root, ".", "."));
    CHECK(umount2(".", MNT_DETACH));
    CHECK(chdir(BOX_IN_JAIL));
}

/* -- the program, right before exec (supervisor._exec_program, isolation.drop_privileges) ----------- */
static void set_rlimits(const struct spec *s) {
    step = "set rlimits";
    for (int i = 0; i < s->nrlimits; i++) {
        int resource;
        unsigned long long soft, hard;
        if (sscanf(s->rlimits[i], "%d:%llu:%llu", &resource, &soft, &hard) != 3) {
            errno = EINVAL;
            fail();
        }
        struct rlimit r = {(rlim_t)soft, (rlim_t)hard};
        CHECK(setrlimit(resource, &r));
    }
}

static void drop_privileges(const struct spec *s) {
    step = "drop privileges";
    char buf[32] = {0};
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    CHECK(fd);
    CHECK(read(fd, buf, sizeof buf - 1));
    close(fd);
    int last_cap = atoi(buf);
    for (int cap = 0; cap <= last_cap; cap++) CHECK(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)); /* needs CAP_SETPCAP */
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    CHECK(syscall(SYS_setgroups, 0, NULL));
    CHECK(syscall(SYS_setresgid, s->gid, s->gid, s->gid));
    CHECK(syscall(SYS_setresuid, s->uid, s->uid, s->uid));
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    CHECK(syscall(SYS_capset, &header, data)); /* the uid change emptied them; say so explicitly */
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}

static void install_seccomp(const char *hex) {
    step = "install seccomp filter";
    static struct sock_filter code[512];
    size_t len = strlen(hex);
    if (len % 16 || len / 16 > 512) {
        errno = EINVAL;
        fail();
    }
    unsigned char *raw = (unsigned char *)code;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            errno = EINVAL;
            fail();
        }
        raw[i] = (unsigned char)byte;
    }
    struct sock_fprog prog = {(unsigned short)(len / 16), code};
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
}

/* Every disposition to default, through the system call: glibc's signal() refuses its two internal
   signals, and its posix_spawn leaves those ignored, which exec would pass on to the program. */
static void reset_signals(void) {
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } dfl = {SIG_DFL, 0, NULL, 0};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) CHECK(syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask));
    sigset_t none;
    sigemptyset(&none);
    CHECK(sigprocmask(SIG_SETMASK, &none, NULL));
}

static void exec_program(const struct spec *s, int devnull) {
    step = "redirect stdio";
    CHECK(dup2(devnull, 0));
    CHECK(dup2(STDOUT_FD, 1));
    CHECK(dup2(STDERR_FD, 2));
    close(STDOUT_FD); /* an fd of the sandbox's must not reach the program */
    close(STDERR_FD);
    close(devnull);
    step = "reset signals";
    reset_signals();
    set_rlimits(s);
    drop_privileges(s);
    if (s->seccomp_hex) install_seccomp(s->seccomp_hex); /* last: it also binds what is left of setup */
    static char what[4200];
    snprintf(what, sizeof what, "exec %s", s->argv[0]);
    step = what;
    environ = (char **)s->env; /* NULL-terminated: add() leaves room; execvp searches its PATH */
    execvp(s->argv[0], s->argv);
    fail();
}

/* pid 1 of the run's pid namespace, forked by the supervisor (boxsup.c) with its fds in place. */
static void init_main(const struct spec *s) {
    step = "die with the supervisor";
    if (fcntl(ERR_FD, F_SETFD, FD_CLOEXEC) < 0) _exit(127); /* EOF at exec tells the supervisor it worked */
    if (!s->keep_orphans) {
        /* The supervisor alone enforces the limits: once it is dead nothing may run on unbounded. */
        CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
        struct pollfd died = {SUPERVISOR_FD, POLLIN, 0};
        if (poll(&died, 1, 0) > 0) _exit(127); /* it died before the line above took hold */
    }
    close(SUPERVISOR_FD);
    step = "setsid";
    CHECK(setsid());
    /* init never execs, so close-on-exec does not help: an inherited fd here would delay EOFs. */
    if (syscall(SYS_close_range, FIRST_FREE_FD, ~0U, 0) < 0)
        for (int fd = FIRST_FREE_FD; fd < 1024; fd++) close(fd);
    step = "join run cgroup"; /* first, so every descendant is born inside it */
    for (int i = 0; i < s->nprocs; i++) {
        int fd = open(s->procs[i], O_WRONLY | O_CLOEXEC);
        CHECK(fd);
        CHECK(write(fd, "0", 1));
        close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(devnull);
    enter_jail(s);
    step = "fork program";
    pid_t program = fork();
    CHECK(program);
    if (program == 0) {
        close(REPORT_FD);
        exec_program(s, devnull);
    }
    close(ERR_FD); /* the program's copy alone now decides when the supervisor sees EOF */
    for (;;) { /* as init we also inherit every orphan of the namespace: reap them on the way */
        int status;
        struct rusage ru;
        pid_t pid = wait4(-1, &status, 0, &ru);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) _exit(127);
        if (pid == program) {
            dprintf(REPORT_FD, "%d %ld", status, ru.ru_maxrss);
            _exit(0);
        }
    }
}

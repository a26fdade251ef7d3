/* boxsup: a refbox run's supervisor in C (see refbox/boxinit.py for why and how).

   The steps of the Python supervisor (supervisor._supervise), in the same order: record each phase in
   the box's state file, become a child subreaper, unshare the pid namespace, fork init (boxinit.c),
   wait for the program's exec, watch the run cgroup's CPU time and the wall clock, kill the whole
   cgroup at a limit and at the end, reap, measure the cgroup (CPU, OOM kills, peak memory), remove it.
   It reports facts, one "KEY VALUE" line each, and decides nothing: the verdict and every message are
   made in Python (supervisor.result_from), the same for both supervisors.

   Usage: boxsup KEY=VALUE... -- PROGRAM ARGS...
     (environment: the caller's, as a forked supervisor's would be: the pipeline finds its processes
     by it; the program gets only its env= items)
     init's keys (boxinit.c), and:
     cpu_s=S  wall_s=S                     the limits it enforces
     cpu_file=PATH  cpu_v2=0|1             cpuacct.usage (ns), or cpu.stat's usage_usec
     oom_file=PATH  peak_file=PATH         a file with an "oom_kill N" line; peak memory in bytes
     kill_file=PATH                        cgroup.kill (v2, Linux 5.14+); else each pid is killed
     list_file=PATH                        the cgroup.procs that sees every task at once
     rmdir=DIR...                          the run cgroup, in each hierarchy
     caller=PID                            who started us (keep_orphans: its death ends our watch)
     state=PATH  phase.NAME=DOC  point.NAME=pause|error|delay:MS
                                           the state file, its document at each phase, failpoints
   Fds: 3 the answer (also where fail() writes: a failure before the facts is the whole answer),
        5 the program's stdout, 6 its stderr. */
#include "boxinit.c"

#include <time.h>

enum { ANSWER_FD = 3 };
#define MIN_CHECK_S 0.002 /* never poll faster than this while the program runs */
#define KILL_DEADLINE_S 5.0
#define MAX_PIDS 4096
enum { SETUP, EXECUTE, TIMEOUT, CLEANUP, VERDICT, NPHASES };
static const char *const PHASE_NAMES[NPHASES] = {"setup", "execute", "timeout", "cleanup", "verdict"};

struct sup {
    double cpu_s, wall_s;
    const char *cpu_file, *oom_file, *peak_file, *kill_file, *list_file, *state;
    int cpu_v2;
    const char *rmdirs[MAX_ITEMS];
    int nrmdirs;
    const char *docs[NPHASES], *points[NPHASES];
    pid_t caller;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void nap(double seconds) {
    struct timespec t = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&t, &t) < 0 && errno == EINTR) {
    }
}

static int phase_index(const char *name) {
    for (int i = 0; i < NPHASES; i++)
        if (!strcmp(name, PHASE_NAMES[i])) return i;
    errno = EINVAL;
    fail();
    return -1;
}

static void parse(int argc, char **argv, struct spec *s, struct sup *u) {
    init_spec(s);
    memset(u, 0, sizeof *u);
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "--")) {
            s->argv = argv + i + 1;
            break;
        }
        char *eq = strchr(a, '=');
        if (!eq) {
            errno = EINVAL;
            fail();
        }
        *eq = 0;
        char *v = eq + 1;
        if (init_arg(s, a, v)) continue;
        if (!strcmp(a, "cpu_s")) u->cpu_s = strtod(v, NULL);
        else if (!strcmp(a, "wall_s")) u->wall_s = strtod(v, NULL);
        else if (!strcmp(a, "cpu_file")) u->cpu_file = v;
        else if (!strcmp(a, "cpu_v2")) u->cpu_v2 = atoi(v);
        else if (!strcmp(a, "oom_file")) u->oom_file = v;
        else if (!strcmp(a, "peak_file")) u->peak_file = v;
        else if (!strcmp(a, "kill_file")) u->kill_file = v;
        else if (!strcmp(a, "list_file")) u->list_file = v;
        else if (!strcmp(a, "rmdir")) add(u->rmdirs, &u->nrmdirs, v);
        else if (!strcmp(a, "caller")) u->caller = (pid_t)atoi(v);
        else if (!strcmp(a, "state")) u->state = v;
        else if (!strncmp(a, "phase.", 6)) u->docs[phase_index(a + 6)] = v;
        else if (!strncmp(a, "point.", 6)) u->points[phase_index(a + 6)] = v;
        else {
            errno = EINVAL;
            fail();
        }
    }
    check_spec(s);
    if (u->cpu_s <= 0 || u->wall_s <= 0 || !u->cpu_file || !u->oom_file || !u->list_file || !u->nrmdirs) {
        errno = EINVAL;
        fail();
    }
}

/* The phase in the state file (a temp file renamed over it: readers see one whole document; no fsync,
   as phases.py), then its failpoint. */
static void enter(const struct sup *u, int phase) {
    if (u->state && u->docs[phase]) {
        char tmp[4200];
        step = "record phase";
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", u->state, (int)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        CHECK(fd);
        size_t len = strlen(u->docs[phase]);
        if (write(fd, u->docs[phase], len) != (ssize_t)len) fail();
        close(fd);
        CHECK(rename(tmp, u->state));
    }
    const char *point = u->points[phase];
    if (!point) return;
    if (!strcmp(point, "pause"))
        for (;;) pause(); /* a test kills us here */
    if (!strcmp(point, "error")) {
        dprintf(ANSWER_FD, "FailpointError: failpoint phase.%s", PHASE_NAMES[phase]);
        _exit(127);
    }
    if (!strncmp(point, "delay:", 6)) nap(atoi(point + 6) / 1000.0);
}

/* A cgroup file's text ("" and -1 if it is missing). */
static ssize_t read_file(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return n;
}

static long long keyed(const char *text, const char *key) { /* "KEY N" on a line of its own */
    size_t len = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, key, len) && line[len] == ' ') return atoll(line + len + 1);
    return 0;
}

static long long cpu_ns(const struct sup *u) {
    char buf[4096];
    step = "read the run cgroup's CPU time";
    CHECK(read_file(u->cpu_file, buf, sizeof buf));
    return u->cpu_v2 ? keyed(buf, "usage_usec") * 1000 : atoll(buf);
}

/* Sleep until init exits or a limit is reached (supervisor._watch). 1 and `tle` ("cpu S" or "wall S")
   at a limit, 0 when the program ended, -1 (errno) if watching failed. */
static int watch(const struct sup *u, const struct spec *s, pid_t child, double start, char *tle, size_t n) {
    cpu_set_t set;
    int ncpus = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
    int pidfd = syscall(SYS_pidfd_open, child, 0);
    if (pidfd < 0) return -1;
    for (;;) {
        if (s->keep_orphans && getppid() != u->caller) _exit(0); /* the defect: abandon the run */
        double cpu = cpu_ns(u) / 1e9, wall = now() - start;
        if (cpu >= u->cpu_s) return snprintf(tle, n, "cpu %.9f", cpu), close(pidfd), 1;
        if (wall >= u->wall_s) return snprintf(tle, n, "wall %.9f", wall), close(pidfd), 1;
        double timeout = (u->cpu_s - cpu) / ncpus;
        if (u->wall_s - wall < timeout) timeout = u->wall_s - wall;
        if (timeout < MIN_CHECK_S) timeout = MIN_CHECK_S;
        if (s->keep_orphans && timeout > 0.05) timeout = 0.05; /* notice the caller's death soon */
        struct timespec t = {(time_t)timeout, (long)((timeout - (time_t)timeout) * 1e9)};
        struct pollfd p = {pidfd, POLLIN, 0};
        int r = ppoll(&p, 1, &t, NULL);
        if (r > 0) return close(pidfd), 0;
        if (r < 0 && errno != EINTR) return close(pidfd), -1;
    }
}

struct ending {
    pid_t main;
    int have, status;
    long maxrss;
};

static void reap(struct ending *e) { /* the zombies a subreaper inherits; the main child's status kept */
    int status;
    struct rusage ru;
    pid_t pid;
    while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0)
        if (pid == e->main) e->have = 1, e->status = status, e->maxrss = ru.ru_maxrss;
}

static int list_pids(const struct sup *u, pid_t *pids) {
    static char buf[65536];
    if (read_file(u->list_file, buf, sizeof buf) < 0) return 0;
    int n = 0;
    for (char *p = buf; *p && n < MAX_PIDS;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p) break;
        pids[n++] = (pid_t)pid;
        p = end;
    }
    return n;
}

/* SIGKILL every process of the run cgroup until none is left (Cgroups.kill_all); the pids seen. */
static int kill_all(const struct sup *u, struct ending *e) {
    static pid_t pids[MAX_PIDS], seen[MAX_PIDS];
    int nseen = 0;
    double deadline = now() + KILL_DEADLINE_S, pause_s = 0.0005;
    step = "kill the run cgroup";
    for (;;) {
        int n = list_pids(u, pids);
        if (!n) return nseen;
        for (int i = 0; i < n; i++) {
            int known = 0;
            for (int j = 0; j < nseen && !known; j++) known = seen[j] == pids[i];
            if (!known && nseen < MAX_PIDS) seen[nseen++] = pids[i];
        }
        if (u->kill_file) {
            int fd = open(u->kill_file, O_WRONLY | O_CLOEXEC);
            CHECK(fd);
            CHECK(write(fd, "1", 1));
            close(fd);
        } else {
            for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
        }
        reap(e);
        if (!list_pids(u, pids)) return nseen;
        if (now() > deadline) {
            dprintf(ANSWER_FD, "cgroup %s still has processes after SIGKILL", u->list_file);
            _exit(127);
        }
        nap(pause_s); /* only while the kernel finishes killing: rare, short */
        pause_s = pause_s * 2 < 0.05 ? pause_s * 2 : 0.05;
    }
}

static void read_all(int fd, char *buf, size_t size) {
    size_t len = 0;
    ssize_t n;
    while (len < size - 1 && ((n = read(fd, buf + len, size - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0) len += n;
    buf[len] = 0;
    close(fd);
}

static void one_line(char *text) { /* a fact is one line */
    for (; *text; text++)
        if (*text == '\n') *text = ' ';
}

/* init's fds in place (boxinit.c's enum), from wherever they are now; every other fd closed. */
static void place_fds(int err_w, int report_w, int me) {
    int from[3] = {err_w, report_w, me}, to[3] = {ERR_FD, REPORT_FD, SUPERVISOR_FD};
    for (int i = 0; i < 3; i++) CHECK(from[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 64));
    for (int i = 0; i < 3; i++) CHECK(dup2(from[i], to[i]));
    if (syscall(SYS_close_range, FIRST_FREE_FD, ~0U, 0) < 0)
        for (int fd = FIRST_FREE_FD; fd < 1024; fd++) close(fd);
}

int main(int argc, char **argv) {
    struct spec s;
    struct sup u;
    parse(argc, argv, &s, &u);
    step = "close inherited fds"; /* the caller's other fds would delay their EOFs */
    close(REPORT_FD);
    if (syscall(SYS_close_range, SUPERVISOR_FD, ~0U, 0) < 0)
        for (int fd = SUPERVISOR_FD; fd < 1024; fd++) close(fd);
    enter(&u, SETUP);
    step = "supervisor setup";
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    int err[2], report[2];
    CHECK(pipe2(err, O_CLOEXEC));
    CHECK(pipe2(report, O_CLOEXEC));
    CHECK(unshare(CLONE_NEWPID)); /* our next (and only) child is pid 1 of a new namespace */
    int me = syscall(SYS_pidfd_open, getpid(), 0); /* init's way to tell that we died before it watched */
    CHECK(me);
    double start = now();
    pid_t child = fork();
    CHECK(child);
    if (child == 0) {
        place_fds(err[1], report[1], me);
        init_main(&s); /* never returns */
    }
    close(me);
    close(err[1]);
    close(report[1]);
    struct ending e = {child, 0, 0, 0};
    static char setup_error[2048], tle[64] = "", watch_error[256] = "";
    read_all(err[0], setup_error, sizeof setup_error);
    if (!setup_error[0]) {
        enter(&u, EXECUTE);
        int r = watch(&u, &s, child, start, tle, sizeof tle);
        if (r < 0) snprintf(watch_error, sizeof watch_error, "%s", strerror(errno));
        if (r > 0) enter(&u, TIMEOUT);
    }
    double wall = now() - start;
    enter(&u, CLEANUP);
    int killed = kill_all(&u, &e);
    if (!e.have) {
        struct rusage ru;
        while (wait4(child, &e.status, 0, &ru) < 0)
            if (errno != EINTR) fail();
        e.have = 1, e.maxrss = ru.ru_maxrss;
    }
    reap(&e);
    char program[64];
    read_all(report[0], program, sizeof program);
    int status;
    long maxrss;
    if (sscanf(program, "%d %ld", &status, &maxrss) == 2) /* the program's own, as init saw it */
        e.status = status, e.maxrss = maxrss;
    char buf[4096];
    long long cpu = cpu_ns(&u);
    step = "read the run cgroup's OOM kills";
    CHECK(read_file(u.oom_file, buf, sizeof buf));
    long long oom = keyed(buf, "oom_kill");
    long long peak = u.peak_file && read_file(u.peak_file, buf, sizeof buf) >= 0 ? atoll(buf) : -1;
    static char remove_error[4400] = "";
    for (int i = 0; i < u.nrmdirs && !remove_error[0]; i++) {
        double deadline = now() + KILL_DEADLINE_S; /* EBUSY until a killed task is fully released */
        while (rmdir(u.rmdirs[i]) < 0 && errno != ENOENT) {
            if (errno != EBUSY || now() > deadline) {
                snprintf(remove_error, sizeof remove_error, "cannot remove cgroup %s: %s", u.rmdirs[i],
                         strerror(errno));
                break;
            }
            nap(0.001);
        }
    }
    enter(&u, VERDICT);
    one_line(setup_error);
    dprintf(ANSWER_FD,
            "wall %.9f\nstatus %d\nmaxrss %ld\nkilled %d\ncpu_ns %lld\noom %lld\npeak %lld\n"
            "tle %s\nsetup_error %s\nwatch_error %s\nremove_error %s\n",
            wall, e.status, e.maxrss, killed, cpu, oom, peak, tle, setup_error, watch_error, remove_error);
    _exit(0);
}

/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * notify: the command is run two forks away from the gate, so that the
 * gate reaps its own child at once and the command's watcher belongs to
 * init:
 *
 *   gate ── fork ──► detacher: /dev/null on 0-2, nothing else open;
 *                    forks the watcher and exits (reaped by the gate)
 *                    └─ watcher: its own session; forks the command,
 *                       waits for it at most NOTIFY_SECONDS, then
 *                       SIGKILLs its process group and exits
 *                       └─ command: its own session, default signals,
 *                          execve with the six variables only
 *
 * A pipe, close-on-exec, tells the gate whether the execve happened:
 * end of file when it did, the errno when something failed first.
 * Between fork and execve only async-signal-safe calls are made: the
 * responder forks from one of its threads.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "names.h"
#include "notify.h"
#include "number.h"

static const int thresholds[] = { 80, 90, 100 };

/* Commands running, counted in memory the watchers share after fork. */
static atomic_int    *running;
static pthread_once_t running_once = PTHREAD_ONCE_INIT;

static void
running_map(void)
{
	void *p = mmap(NULL, sizeof *running, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	running = p == MAP_FAILED ? NULL : p;
}

/* The command's argv and environment, made before any fork. */
struct command {
	const char *path;
	char       *argv[2];
	char       *envp[7];
	char        vars[6][USER_NAME_MAX + 32];
};

static void
command_init(struct command *c, const char *path, const char *user,
    int64_t used, int64_t limit, int threshold)
{
	int64_t tenths = number_muldiv64(used, 1000, limit);	/* rounded down */
	size_t  i;

	c->path = path;
	c->argv[0] = (char *)(uintptr_t)path;	/* execve does not write */
	c->argv[1] = NULL;
	snprintf(c->vars[0], sizeof c->vars[0], "UPGATE_USER=%s", user);
	snprintf(c->vars[1], sizeof c->vars[1], "UPGATE_USED=%lld",
	    (long long)used);
	snprintf(c->vars[2], sizeof c->vars[2], "UPGATE_LIMIT=%lld",
	    (long long)limit);
	snprintf(c->vars[3], sizeof c->vars[3], "UPGATE_PERCENT=%lld.%lld",
	    (long long)(tenths / 10), (long long)(tenths % 10));
	snprintf(c->vars[4], sizeof c->vars[4], "UPGATE_THRESHOLD=%d",
	    threshold);
	snprintf(c->vars[5], sizeof c->vars[5], "PATH=/usr/bin:/bin");
	for (i = 0; i < 6; i++)
		c->envp[i] = c->vars[i];
	c->envp[6] = NULL;
}

/* In a child: tells the gate errno, then ends. */
static void
child_fail(int report)
{
	int e = errno;

	/* nothing more to be done if the gate cannot be told */
	if (write(report, &e, sizeof e) != (ssize_t)sizeof e)
		_exit(126);
	_exit(127);
}

/* Closes every descriptor from 3 up but keep. */
static void
close_others(int keep)
{
	if (keep > 3)
		(void)close_range(3, (unsigned)keep - 1, 0);
	(void)close_range((unsigned)keep + 1, ~0U, 0);
}

/* 0 to 2 on /dev/null: no web server waits for these processes. */
static void
null_stdio(int report)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd == -1 || dup2(fd, 0) == -1 || dup2(fd, 1) == -1 ||
	    dup2(fd, 2) == -1)
		child_fail(report);
	if (fd > 2)
		close(fd);
}

static void
default_signals(void)
{
	struct sigaction sa;
	sigset_t         none;
	int              s;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (s = 1; s < NSIG; s++)
		(void)sigaction(s, &sa, NULL);	/* SIGKILL, SIGSTOP: EINVAL */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
run_command(const struct command *c, int report)
{
	if (setsid() == -1)
		child_fail(report);
	execve(c->path, c->argv, c->envp);
	child_fail(report);
}

/*
 * Waits for the command to end, NOTIFY_SECONDS at most, without
 * reaping it: its pid, and so its group's, stays taken until the
 * group is killed.
 */
static void
await(pid_t pid)
{
	siginfo_t info;
	int       i;

	for (i = 0; i < NOTIFY_SECONDS * 20; i++) {
		memset(&info, 0, sizeof info);
		if (waitid(P_PID, (id_t)pid, &info,
		    WEXITED | WNOHANG | WNOWAIT) == -1 && errno != EINTR)
			return;
		if (info.si_pid == pid)
			return;
		(void)poll(NULL, 0, 50);
	}
}

static void
watch(const struct command *c, int report)
{
	pid_t pid;

	(void)setsid();
	if ((pid = fork()) == -1) {
		atomic_fetch_sub(running, 1);
		child_fail(report);
	}
	if (pid == 0)
		run_command(c, report);
	close(report);
	await(pid);
	/* what it left behind in its group goes with it */
	(void)kill(-pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	atomic_fetch_sub(running, 1);
	_exit(0);
}

static void
detach(const struct command *c, int report)
{
	pid_t pid;

	close_others(report);
	null_stdio(report);
	default_signals();
	if ((pid = fork()) == -1) {
		atomic_fetch_sub(running, 1);
		child_fail(report);
	}
	if (pid == 0)
		watch(c, report);
	_exit(0);
}

/*
 * Starts c; 0 once it runs, else -1 with errno (EAGAIN: already
 * NOTIFY_RUNNING_MAX running).
 */
static int
spawn(const struct command *c)
{
	int     fds[2], e = 0;
	pid_t   pid;
	ssize_t n;

	if (running == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (atomic_fetch_add(running, 1) >= NOTIFY_RUNNING_MAX) {
		atomic_fetch_sub(running, 1);
		errno = EAGAIN;
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		e = errno;
		atomic_fetch_sub(running, 1);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		detach(c, fds[1]);
	}
	close(fds[1]);
	while ((n = read(fds[0], &e, sizeof e)) == -1 && errno == EINTR)
		;
	close(fds[0]);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof e) {
		errno = e;
		return -1;
	}
	return 0;
}

/* Whether used is at or above t % of limit. */
static int
reached(int64_t used, int64_t limit, int t)
{
	return number_muldiv64(used, 100, limit) >= t;	/* rounded down */
}

void
notify_thresholds(const char *cmd, const char *user, int64_t before,
    int64_t after, int64_t limit, struct diag *d)
{
	struct command c;
	const char    *name;
	size_t         i;

	if (cmd == NULL || limit <= 0)
		return;
	for (i = 0; i < sizeof thresholds / sizeof thresholds[0]; i++) {
		if (reached(before, limit, thresholds[i]) ||
		    !reached(after, limit, thresholds[i]))
			continue;
		pthread_once(&running_once, running_map);
		command_init(&c, cmd, user, after, limit, thresholds[i]);
		if (spawn(&c) == 0)
			continue;
		name = strerrorname_np(errno);
		diag_add(d, cmd, 0, "notify_command for %d %% not run: %s",
		    thresholds[i], name != NULL ? name : "unknown");
	}
}

/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cu_main.h"
#include "tmpdir.h"
#include "ledger.h"

/*
 * Each test gets a fresh tree under $TMPDIR (tmpdir.h): upload/ (upload_dir,
 * its descriptor open) and upload/.upgate (state_dir, opened as l).
 * sync is the ledger_config.sync of every ledger a test opens: 1, but 0
 * in the suite that runs tests again without it.
 */
static struct {
	char          root[128];
	char          upload[160];
	char          state[192];
	int           upload_fd;
	int           sync;
	struct ledger l;
	int           nfd;	/* descriptors open after setup */
} fx = { .sync = 1 };

static int
count_fds(void)
{
	struct dirent *de;
	DIR           *d;
	int            n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* Opens a ledger of the files backend as the gate does. */
static enum ledger_err
open_at(struct ledger *l, const char *state)
{
	struct ledger_config cfg = { state, NULL, fx.sync, 0 };

	return ledger_open(l, &cfg);
}

static void
setup(void)
{
	if (tmpdir_make(fx.root, sizeof fx.root, "ledger") == -1)
		abort();
	snprintf(fx.upload, sizeof fx.upload, "%s/upload", fx.root);
	snprintf(fx.state, sizeof fx.state, "%s/.upgate", fx.upload);
	if (mkdir(fx.upload, 0755) == -1)
		abort();
	fx.upload_fd = open(fx.upload, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fx.nfd = count_fds();
	if (fx.upload_fd == -1 || open_at(&fx.l, fx.state) != LEDGER_OK)
		abort();
}

/*
 * Every test also checks that no descriptor leaked: the ledger keeps
 * some between requests (its folders, a spare reservation file), all
 * closed with it.
 */
static void
teardown(void)
{
	ledger_close(&fx.l);
	CU_ASSERT_EQUAL(count_fds(), fx.nfd);
	close(fx.upload_fd);
	nftw(fx.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
sync_on(void)
{
	fx.sync = 1;
	return 0;
}

static int
sync_off(void)
{
	fx.sync = 0;
	return 0;
}

/* Writes a file below the test root ("upload/alice/a"), parents made. */
static void
put(const char *rel, const char *content)
{
	char  path[1024], *p;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", fx.root, rel);
	for (p = path + strlen(fx.root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs(content, f);
	fclose(f);
}

/* Makes a folder below the test root, parents made. */
static void
make_dir(const char *rel)
{
	char path[1024], *p;

	snprintf(path, sizeof path, "%s/%s/", fx.root, rel);
	for (p = path + strlen(fx.root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
}

static int
exists(const char *rel)
{
	char        path[1024];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", fx.root, rel);
	return lstat(path, &st) == 0;
}

/* Reads a file below the test root whole; its length, or -1. */
static ssize_t
slurp(const char *rel, char *buf, size_t size)
{
	char    path[1024];
	ssize_t n;
	int     fd;

	snprintf(path, sizeof path, "%s/%s", fx.root, rel);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static void
link_at(const char *target, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof path, "%s/%s", fx.root, rel);
	if (symlink(target, path) == -1)
		abort();
}

static int64_t
used_of(const char *user)
{
	struct usage u;

	if (ledger_usage(&fx.l, user, &u) != LEDGER_OK)
		return -1;
	return u.used;
}

static int64_t
reserved_of(const char *user)
{
	struct usage u;

	if (ledger_usage(&fx.l, user, &u) != LEDGER_OK)
		return -1;
	return u.reserved;
}

static int64_t
dead_of(const char *user)
{
	struct usage u;

	if (ledger_usage(&fx.l, user, &u) != LEDGER_OK)
		return -1;
	return u.dead;
}

/* Entries of a folder below the test root, "." and ".." aside. */
static int
count_entries(const char *rel)
{
	char           path[1024];
	struct dirent *de;
	DIR           *d;
	int            n = 0;

	snprintf(path, sizeof path, "%s/%s", fx.root, rel);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* The file of a reservation, below the test root. */
static void
resv_file(const struct reservation *r, char *out, size_t size)
{
	snprintf(out, size, "upload/.upgate/resv/%s/%016llx", r->user,
	    (unsigned long long)r->id);
}

/*
 * Writes a dead reservation file by hand: resv/USER/NAME, the bytes on
 * the fixed-width line, then paths ("t REL\nd REL\n").
 */
static void
put_dead(const char *user, const char *name, long long bytes,
    const char *paths)
{
	char rel[256], content[1024];

	snprintf(rel, sizeof rel, "upload/.upgate/resv/%s/%s", user, name);
	snprintf(content, sizeof content, "%20lld\n%s", bytes, paths);
	put(rel, content);
}

static long
ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (long)(b.tv_sec - a->tv_sec) * 1000 +
	    (b.tv_nsec - a->tv_nsec) / 1000000;
}

/* A recount as the operator's tool runs it: under ledger_lock_all. */
static enum ledger_err
recount(int per_user_dirs, const char *user,
    void (*fn)(void *, const char *, int64_t, int64_t), void *arg)
{
	enum ledger_err e;

	if ((e = ledger_lock_all(&fx.l, 1000)) != LEDGER_OK)
		return e;
	e = ledger_recount(&fx.l, fx.upload_fd, per_user_dirs, user, fn, arg);
	ledger_unlock(&fx.l);
	return e;
}

/* ---- a second thread and its stages ---- */

struct holder {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	int             stage;	/* set by whoever moves it on */
	enum ledger_err err;
	int             mode;	/* what the thread holds: see lock_holder */
};

static void
holder_init(struct holder *h, int mode)
{
	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->mode = mode;
}

static void
holder_destroy(struct holder *h)
{
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
}

static void
holder_set(struct holder *h, int stage)
{
	pthread_mutex_lock(&h->mu);
	h->stage = stage;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static void
holder_wait(struct holder *h, int stage)
{
	pthread_mutex_lock(&h->mu);
	while (h->stage < stage)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

/* ---- open ---- */

static void
test_open_layout(void)
{
	static const char *const dirs[] = {
		"upload/.upgate", "upload/.upgate/usage",
		"upload/.upgate/files", "upload/.upgate/resv",
	};
	struct ledger l2;
	struct stat   st;
	char          path[512];
	size_t        i;

	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", fx.root, dirs[i]);
		CU_ASSERT_FATAL(stat(path, &st) == 0);
		CU_ASSERT(S_ISDIR(st.st_mode));
		CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	}
	CU_ASSERT(exists("upload/.upgate/lock"));
	CU_ASSERT_PTR_EQUAL(fx.l.ops, &ledger_files_ops);
	CU_ASSERT_STRING_EQUAL(fx.l.ops->name, "files");
	CU_ASSERT_EQUAL(fx.l.sync, fx.sync);
	/* a second open of an existing state_dir works too */
	CU_ASSERT_EQUAL(open_at(&l2, fx.state), LEDGER_OK);
	ledger_close(&l2);
	ledger_close(&l2);
	CU_ASSERT_EQUAL(l2.state_fd, -1);
	CU_ASSERT_PTR_NULL(l2.ops);
	CU_ASSERT_PTR_NULL(l2.be);
}

static void
test_open_errors(void)
{
	struct ledger_config cfg = { NULL, NULL, 1, 0 };
	struct ledger        l2;
	char                 path[512];

	snprintf(path, sizeof path, "%s/missing/state", fx.root);
	CU_ASSERT_EQUAL(open_at(&l2, path), LEDGER_IO);
	CU_ASSERT_PTR_NULL(l2.ops);
	CU_ASSERT(strstr(l2.cause, "ENOENT") != NULL);
	ledger_close(&l2);
	/* a symbolic link is not followed */
	link_at("upload/.upgate", "linked");
	snprintf(path, sizeof path, "%s/linked", fx.root);
	CU_ASSERT_EQUAL(open_at(&l2, path), LEDGER_IO);
	CU_ASSERT_EQUAL(l2.state_fd, -1);
	ledger_close(&l2);
	/* a file where state_dir should be */
	put("plain", "x");
	snprintf(path, sizeof path, "%s/plain", fx.root);
	CU_ASSERT_EQUAL(open_at(&l2, path), LEDGER_IO);
	ledger_close(&l2);
	/* a file where one of its folders should be */
	put("st2/usage", "x");
	snprintf(path, sizeof path, "%s/st2", fx.root);
	CU_ASSERT_EQUAL(open_at(&l2, path), LEDGER_IO);
	CU_ASSERT_PTR_NULL(l2.ops);
	ledger_close(&l2);
	/* a database URI picks the other backend; a failure leaves l closed */
	cfg.state_dir = fx.state;
	cfg.uri = "postgresql://localhost/upgate";
	CU_ASSERT_NOT_EQUAL(ledger_open(&l2, &cfg), LEDGER_OK);
	CU_ASSERT_PTR_NULL(l2.ops);
	CU_ASSERT_EQUAL(l2.state_fd, -1);
	ledger_close(&l2);
	/* a URI that is not a database's: files */
	cfg.uri = "files";
	CU_ASSERT_EQUAL(ledger_open(&l2, &cfg), LEDGER_OK);
	CU_ASSERT_PTR_EQUAL(l2.ops, &ledger_files_ops);
	ledger_close(&l2);
}

/*
 * ledger_open_at works on the descriptor it is given, never on a path,
 * and keeps a copy of its own.
 */
static void
test_open_descriptor(void)
{
	struct ledger_config cfg = { NULL, NULL, 1, 0 };
	struct ledger        l2;
	char                 path[512];
	int                  fd;

	make_dir("st3");
	snprintf(path, sizeof path, "%s/st3", fx.root);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ledger_open_at(&l2, fd, &cfg), LEDGER_OK);
	CU_ASSERT(l2.state_fd >= 0 && l2.state_fd != fd);
	close(fd);
	CU_ASSERT_EQUAL(ledger_set_used(&l2, "alice", 4), LEDGER_OK);
	CU_ASSERT(exists("st3/lock"));
	CU_ASSERT(exists("st3/usage/alice"));
	ledger_close(&l2);
	/* a descriptor that is not open; no descriptor and no path */
	CU_ASSERT_EQUAL(ledger_open_at(&l2, 1000, &cfg), LEDGER_IO);
	CU_ASSERT(strstr(l2.cause, "EBADF") != NULL);
	CU_ASSERT_EQUAL(l2.state_fd, -1);
	CU_ASSERT_EQUAL(ledger_open_at(&l2, -1, &cfg), LEDGER_IO);
	CU_ASSERT_PTR_NULL(l2.ops);
	ledger_close(&l2);
}

/* A closed ledger is safe to close, and refuses everything. */
static void
test_init_close(void)
{
	struct ledger l2;

	ledger_init(&l2);
	CU_ASSERT_PTR_NULL(l2.ops);
	CU_ASSERT_EQUAL(l2.state_fd, -1);
	ledger_close(&l2);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 10), LEDGER_IO);
}

static void
test_strerror(void)
{
	int e;

	for (e = 0; e < LEDGER__MAX; e++)
		CU_ASSERT_PTR_NOT_NULL(ledger_strerror((enum ledger_err)e));
	CU_ASSERT_STRING_NOT_EQUAL(ledger_strerror(LEDGER_BUSY),
	    ledger_strerror(LEDGER_IO));
	CU_ASSERT_PTR_NOT_NULL(ledger_strerror(LEDGER__MAX));
}

/* ---- locks ---- */

static void
test_lock_unlock(void)
{
	struct ledger l2;

	CU_ASSERT_FATAL(open_at(&l2, fx.state) == LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 200), LEDGER_OK);
	/* taking it again through the same description is harmless */
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 200), LEDGER_OK);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 0), LEDGER_OK);
	ledger_unlock(&l2);
	ledger_unlock(&fx.l);		/* none held: safe */
	/* a user's lock, then a file's: both dropped by one unlock */
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 200), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_file(&fx.l, "alice/a", 200), LEDGER_OK);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "alice/a", 0), LEDGER_OK);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_all(&fx.l, 200), LEDGER_OK);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_all(&l2, 0), LEDGER_OK);
	ledger_unlock(&l2);
	/* bad names */
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "../x", 0), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, NULL, 0), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_lock_file(&fx.l, NULL, 0), LEDGER_IO);
	ledger_close(&l2);
}

/*
 * Narrow locks: alice's lock held by one description keeps alice's
 * away from another, not bob's.
 */
static void
test_lock_user_narrow(void)
{
	struct ledger l2;

	CU_ASSERT_FATAL(open_at(&l2, fx.state) == LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 200), LEDGER_OK);
	/* bob's at once: no wait at all */
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "bob", 0), LEDGER_OK);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 0), LEDGER_BUSY);
	/* a lock not obtained is not held: l2's unlock drops nothing */
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 0), LEDGER_BUSY);
	/* a file lock of the same name is another lock */
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "alice", 0), LEDGER_OK);
	ledger_unlock(&l2);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 0), LEDGER_BUSY);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "bob", 0), LEDGER_OK);
	ledger_unlock(&fx.l);
	/* closing drops the lock */
	ledger_close(&l2);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 0), LEDGER_OK);
	ledger_unlock(&fx.l);
}

/* A held lock: LEDGER_BUSY once timeout_ms have passed, not before. */
static void
test_lock_busy_timeout(void)
{
	struct ledger   l2;
	struct timespec t0;
	long            ms;

	CU_ASSERT_FATAL(open_at(&l2, fx.state) == LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 200), LEDGER_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 300), LEDGER_BUSY);
	ms = ms_since(&t0);
	CU_ASSERT(ms >= 250);	/* it waited; BUSY says it was not woken */
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "alice/a", 0), LEDGER_OK);
	ledger_unlock(&l2);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_all(&fx.l, 200), LEDGER_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "alice/a", 300), LEDGER_BUSY);
	ms = ms_since(&t0);
	CU_ASSERT(ms >= 250);	/* it waited; BUSY says it was not woken */
	CU_ASSERT_EQUAL(ledger_lock_all(&l2, 100), LEDGER_BUSY);
	ledger_unlock(&fx.l);
	ledger_close(&l2);
}

/* lock_all excludes every user's lock and file's lock, and vice versa. */
static void
test_lock_all_excludes(void)
{
	struct ledger l2;

	CU_ASSERT_FATAL(open_at(&l2, fx.state) == LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "zed", 200), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_all(&l2, 0), LEDGER_BUSY);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_file(&fx.l, "some/file", 200), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_all(&l2, 0), LEDGER_BUSY);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_all(&l2, 200), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 0), LEDGER_BUSY);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "bob", 0), LEDGER_BUSY);
	CU_ASSERT_EQUAL(ledger_lock_file(&fx.l, "alice/a", 0), LEDGER_BUSY);
	CU_ASSERT_EQUAL(ledger_lock_all(&fx.l, 0), LEDGER_BUSY);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "bob", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_file(&fx.l, "alice/a", 0), LEDGER_OK);
	ledger_unlock(&fx.l);
	ledger_close(&l2);
}

/* Two paths' locks do not exclude each other; the same path's does. */
static void
test_lock_file(void)
{
	struct ledger l2;

	CU_ASSERT_FATAL(open_at(&l2, fx.state) == LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_file(&fx.l, "docs/a.pdf", 200), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "docs/b.pdf", 0), LEDGER_OK);
	ledger_unlock(&l2);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "docs/a.pdf", 0), LEDGER_BUSY);
	/* a user's lock of the same name is another lock */
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "docs", 0), LEDGER_OK);
	ledger_unlock(&l2);
	ledger_unlock(&fx.l);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "docs/a.pdf", 0), LEDGER_OK);
	ledger_unlock(&l2);
	ledger_close(&l2);
}

static void
test_lock_closed(void)
{
	struct ledger l2;

	CU_ASSERT_FATAL(open_at(&l2, fx.state) == LEDGER_OK);
	ledger_close(&l2);
	CU_ASSERT_EQUAL(ledger_lock_user(&l2, "alice", 10), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_lock_file(&l2, "alice/a", 10), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_lock_all(&l2, 10), LEDGER_IO);
	ledger_unlock(&l2);
}

/* A child process holding the lock makes the parent wait for it. */
static void
test_lock_waits_for_child(void)
{
	struct timespec t0;
	struct ledger   l2;
	int             p[2], status;
	pid_t           pid;
	char            c;

	CU_ASSERT_FATAL(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		if (open_at(&l2, fx.state) != LEDGER_OK ||
		    ledger_lock_user(&l2, "alice", 1000) != LEDGER_OK)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		usleep(400 * 1000);
		_exit(0);	/* the lock dies with the process */
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(read(p[0], &c, 1) == 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 100), LEDGER_BUSY);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "bob", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, "alice", 5000), LEDGER_OK);
	CU_ASSERT(ms_since(&t0) >= 250);
	ledger_unlock(&fx.l);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(p[0]);
	close(p[1]);
}

/*
 * A thread with a ledger of its own takes a lock (mode 'u': alice's,
 * 'a': every lock), says so, and drops it 200 ms later.
 */
static void *
lock_holder(void *arg)
{
	struct holder *h = arg;
	struct ledger  l3;

	if ((h->err = open_at(&l3, fx.state)) == LEDGER_OK)
		h->err = h->mode == 'a' ? ledger_lock_all(&l3, 1000) :
		    ledger_lock_user(&l3, "alice", 1000);
	holder_set(h, 1);
	usleep(200 * 1000);
	ledger_unlock(&l3);
	holder_wait(h, 2);
	ledger_close(&l3);
	return NULL;
}

/*
 * The waiter sleeps in the kernel and is woken by the release: it gets
 * the lock well before its 5 s, which a wait that only ends on its
 * timer would not.
 */
static void
woken(int holder_mode, int waiter_all)
{
	struct timespec t0;
	struct holder   h;
	pthread_t       th;
	enum ledger_err e;
	long            ms;

	holder_init(&h, holder_mode);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, lock_holder, &h) == 0);
	holder_wait(&h, 1);
	CU_ASSERT_EQUAL(h.err, LEDGER_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = waiter_all ? ledger_lock_all(&fx.l, 5000) :
	    ledger_lock_user(&fx.l, "alice", 5000);
	ms = ms_since(&t0);
	CU_ASSERT_EQUAL(e, LEDGER_OK);
	CU_ASSERT(ms >= 100);	/* it did wait for the holder; OK, not BUSY,
				   says the release woke it */
	ledger_unlock(&fx.l);
	holder_set(&h, 2);
	pthread_join(th, NULL);
	holder_destroy(&h);
}

static void
test_lock_woken_user(void)
{
	woken('u', 0);
}

static void
test_lock_woken_all_for_user(void)
{
	woken('u', 1);
}

static void
test_lock_woken_user_for_all(void)
{
	woken('a', 0);
}

/* ---- usage ---- */

static void
test_usage_missing_and_set(void)
{
	struct usage u = { 7, 7, 7 };

	CU_ASSERT_EQUAL(ledger_usage(&fx.l, "alice", &u), LEDGER_OK);
	CU_ASSERT_EQUAL(u.used, 0);
	CU_ASSERT_EQUAL(u.reserved, 0);
	CU_ASSERT_EQUAL(u.dead, 0);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 12345), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 12345);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", INT64_MAX), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), INT64_MAX);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 0), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 0);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", -1), LEDGER_IO);
	CU_ASSERT_EQUAL(used_of("bob"), 0);
	/* no temporary file is left behind */
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/usage"), 1);
}

/* usage/USER: one fixed-width line, rewritten in place. */
static void
test_usage_format(void)
{
	char    buf[64];
	ssize_t n;

	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 1234),
	    LEDGER_OK);
	n = slurp("upload/.upgate/usage/alice", buf, sizeof buf);
	CU_ASSERT_EQUAL(n, 21);
	CU_ASSERT_STRING_EQUAL(buf, "                1234\n");
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", INT64_MAX), LEDGER_OK);
	CU_ASSERT_EQUAL(slurp("upload/.upgate/usage/alice", buf, sizeof buf),
	    21);
	CU_ASSERT_STRING_EQUAL(buf, " 9223372036854775807\n");
	/* a smaller figure leaves nothing of the larger one behind */
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 5), LEDGER_OK);
	CU_ASSERT_EQUAL(slurp("upload/.upgate/usage/alice", buf, sizeof buf),
	    21);
	CU_ASSERT_STRING_EQUAL(buf, "                   5\n");
	CU_ASSERT_EQUAL(used_of("alice"), 5);
	/* the old format, "USED\n", is still read, and rewritten wide */
	put("upload/.upgate/usage/bob", "123\n");
	CU_ASSERT_EQUAL(used_of("bob"), 123);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "bob", "bob/x", 7), LEDGER_OK);
	CU_ASSERT_EQUAL(slurp("upload/.upgate/usage/bob", buf, sizeof buf),
	    21);
	CU_ASSERT_STRING_EQUAL(buf, "                 130\n");
	CU_ASSERT_EQUAL(used_of("bob"), 130);
	put("upload/.upgate/usage/carol", "9223372036854775807\n");
	CU_ASSERT_EQUAL(used_of("carol"), INT64_MAX);
	put("upload/.upgate/usage/dave", " 1\n");	/* spaces first: fine */
	CU_ASSERT_EQUAL(used_of("dave"), 1);
}

static void
test_bad_user_names(void)
{
	static const char *const bad[] = {
		"", ".alice", "-alice", "al/ice", "al ice", "../x",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct reservation r;
	struct usage       u;
	struct record      rec = { "alice", 1 };
	size_t             i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CU_ASSERT_EQUAL(ledger_usage(&fx.l, bad[i], &u), LEDGER_IO);
		CU_ASSERT_EQUAL(ledger_set_used(&fx.l, bad[i], 1), LEDGER_IO);
		CU_ASSERT_EQUAL(ledger_lock_user(&fx.l, bad[i], 0), LEDGER_IO);
		CU_ASSERT_EQUAL(ledger_reserve(&fx.l, bad[i], 1, NULL, &r),
		    LEDGER_IO);
		CU_ASSERT_EQUAL(r.id, 0);
		CU_ASSERT_EQUAL(r.fd, -1);
		CU_ASSERT_EQUAL(ledger_commit(&fx.l, bad[i], "a", 1),
		    LEDGER_IO);
		CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, bad[i], fx.upload_fd,
		    NULL, NULL), LEDGER_IO);
		CU_ASSERT_EQUAL(ledger_recount(&fx.l, fx.upload_fd, 1, bad[i],
		    NULL, NULL), LEDGER_IO);
		CU_ASSERT_EQUAL(ledger_largest(&fx.l, bad[i], NULL, NULL, 5),
		    0);
		CU_ASSERT_EQUAL(ledger_each_record(&fx.l, bad[i], NULL, NULL),
		    LEDGER_IO);
		if (strlen(bad[i]) >= sizeof rec.owner)
			continue;	/* it would not fit: truncated, valid */
		snprintf(rec.owner, sizeof rec.owner, "%s", bad[i]);
		CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "a", &rec), LEDGER_IO);
	}
	CU_ASSERT_EQUAL(ledger_usage(&fx.l, NULL, &u), LEDGER_IO);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/usage"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/files"), 0);
	/* a 64-byte name with dots and @ is fine */
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l,
	    "a.b_c@d-eaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    1), LEDGER_OK);
}

static void
test_usage_corrupt(void)
{
	static const char *const corrupt[] = {
		"", "12", "12\n\n", "-1\n", "x\n", "1 \n", "\n", "   \n",
		"                    \n", "99999999999999999999\n", "0x10\n",
		"                  -1\n", "1\n2\n",
		"1111111111111111111111111111111111111111111111\n",
	};
	struct usage u;
	char         path[512];
	size_t       i;

	for (i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
		put("upload/.upgate/usage/alice", corrupt[i]);
		CU_ASSERT_EQUAL(ledger_usage(&fx.l, "alice", &u), LEDGER_IO);
		CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 1),
		    LEDGER_IO);
	}
	/* a commit that could not raise usage wrote no record */
	CU_ASSERT(!exists("upload/.upgate/files/alice/a"));
	/* set_used rewrites a corrupt figure no longer than the line */
	put("upload/.upgate/usage/alice", "corrupt");
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 3), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 3);
	/* a folder, or a link, where the file should be */
	snprintf(path, sizeof path, "%s/usage/alice", fx.state);
	CU_ASSERT(remove(path) == 0);
	put("upload/.upgate/usage/alice/x", "1\n");
	CU_ASSERT_EQUAL(ledger_usage(&fx.l, "alice", &u), LEDGER_IO);
	put("upload/target", "5\n");
	link_at("../../target", "upload/.upgate/usage/bob");
	CU_ASSERT_EQUAL(ledger_usage(&fx.l, "bob", &u), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "bob", 9), LEDGER_IO);
	CU_ASSERT_EQUAL(slurp("upload/target", path, sizeof path), 2);
	put("upload/.upgate/usage/carol", "007\n");
	CU_ASSERT_EQUAL(used_of("carol"), 7);
}

/* ---- reservations ---- */

static void
test_reserve_release(void)
{
	struct reservation r1, r2, r3;
	char               path[256], buf[256];

	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 1000), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 100,
	    "alice/.upgate-tmp-1", &r1), LEDGER_OK);
	CU_ASSERT(r1.fd >= 0);
	CU_ASSERT(r1.id != 0);
	CU_ASSERT_EQUAL(r1.bytes, 100);
	CU_ASSERT_STRING_EQUAL(r1.user, "alice");
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 50, NULL, &r2),
	    LEDGER_OK);
	CU_ASSERT(r2.id != r1.id);
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "bob", 7, "b/.upgate-tmp-2",
	    &r3), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 1000);
	CU_ASSERT_EQUAL(reserved_of("alice"), 150);
	CU_ASSERT_EQUAL(reserved_of("bob"), 7);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 2);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/bob"), 1);
	/* its file: the fixed-width bytes, then its path */
	resv_file(&r1, path, sizeof path);
	CU_ASSERT_EQUAL(slurp(path, buf, sizeof buf), 21 + 22);
	CU_ASSERT_STRING_EQUAL(buf,
	    "                 100\nt alice/.upgate-tmp-1\n");

	ledger_release_reservation(&fx.l, &r1);
	CU_ASSERT_EQUAL(r1.fd, -1);
	CU_ASSERT_EQUAL(r1.id, 0);
	CU_ASSERT(!exists(path));
	CU_ASSERT_EQUAL(reserved_of("alice"), 50);
	ledger_release_reservation(&fx.l, &r1);	/* twice */
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &r2, 80), LEDGER_OK);
	CU_ASSERT_EQUAL(r2.bytes, 80);
	CU_ASSERT_EQUAL(reserved_of("alice"), 80);
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &r2, 3), LEDGER_OK);
	CU_ASSERT_EQUAL(reserved_of("alice"), 3);
	resv_file(&r2, path, sizeof path);
	CU_ASSERT_EQUAL(slurp(path, buf, sizeof buf), 21);
	CU_ASSERT_STRING_EQUAL(buf, "                   3\n");
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &r2, -1), LEDGER_IO);
	CU_ASSERT_EQUAL(r2.bytes, 3);
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &r1, 1), LEDGER_IO);
	ledger_release_reservation(&fx.l, &r2);
	ledger_release_reservation(NULL, &r3);	/* left dead for a reclaim */
	CU_ASSERT_EQUAL(r3.fd, -1);
	CU_ASSERT_EQUAL(reserved_of("alice"), 0);
	CU_ASSERT_EQUAL(reserved_of("bob"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/bob"), 1);
	/* a reservation of nothing is one too */
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 0, NULL, &r1),
	    LEDGER_OK);
	CU_ASSERT(r1.id != 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 1);
	ledger_release_reservation(&fx.l, &r1);
}

/* Paths added to a reservation: one line each, after the bytes. */
static void
test_reservation_add(void)
{
	struct reservation r, dead;
	char               path[256], buf[512];

	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 9, NULL, &r),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_DIR,
	    "alice/new"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_DIR,
	    "alice/new/deep"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_TMP,
	    "alice/new/deep/.upgate-tmp-z"), LEDGER_OK);
	/* a dot: only the last component of a temporary file */
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_DIR,
	    "alice/.hidden"), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_TMP,
	    "alice/.x/.upgate-tmp-z"), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_TMP,
	    "alice/.."), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_TMP,
	    "alice/a\nt b"), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_DIR, ""),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_DIR, NULL),
	    LEDGER_IO);
	/* setting the bytes leaves the paths */
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &r, 12345), LEDGER_OK);
	resv_file(&r, path, sizeof path);
	CU_ASSERT(slurp(path, buf, sizeof buf) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "               12345\n"
	    "d alice/new\nd alice/new/deep\nt alice/new/deep/.upgate-tmp-z\n");
	CU_ASSERT_EQUAL(reserved_of("alice"), 12345);
	ledger_release_reservation(&fx.l, &r);
	CU_ASSERT(!exists(path));
	/* an ended reservation takes nothing */
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &r, RESV_DIR,
	    "alice/x"), LEDGER_IO);
	ledger_reservation_init(&dead);
	CU_ASSERT_EQUAL(ledger_reservation_add(&fx.l, &dead, RESV_DIR,
	    "alice/x"), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reservation_set(&fx.l, &dead, 1), LEDGER_IO);
}

static void
test_reserve_errors(void)
{
	struct reservation r;

	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", -1, NULL, &r),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(r.fd, -1);
	CU_ASSERT_EQUAL(r.id, 0);
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 1, "", &r), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 1, "a\nb", &r),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 1, "../x", &r),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 1, "a/.b/c", &r),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(r.fd, -1);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv"), 0);
	/* resv/USER cannot be made: a file is in the way */
	put("upload/.upgate/resv/alice", "x");
	CU_ASSERT_NOT_EQUAL(ledger_reserve(&fx.l, "alice", 1, NULL, &r),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(r.fd, -1);
	CU_ASSERT_EQUAL(r.id, 0);
	/* one from ledger_reservation_init, released */
	ledger_reservation_init(&r);
	CU_ASSERT_EQUAL(r.fd, -1);
	CU_ASSERT_EQUAL(r.id, 0);
	ledger_release_reservation(&fx.l, &r);
	CU_ASSERT_EQUAL(r.fd, -1);
	ledger_release_reservation(NULL, &r);
	CU_ASSERT_EQUAL(r.fd, -1);
}

static void
count_reclaim(void *arg, const char *user, int64_t bytes)
{
	char *log = arg;
	size_t len = strlen(log);

	snprintf(log + len, 256 - len, "%s:%lld;", user, (long long)bytes);
}

/*
 * A released reservation file is kept by its ledger for the next one,
 * of any user: renamed, not made and removed each time.  It holds
 * nothing while kept, names none of its old paths once reused, and is
 * removed when the ledger closes — or, when its process died, by the
 * operator's reclaim of everyone.
 */
static void
test_reservation_file_reused(void)
{
	struct reservation r, rb;
	struct ledger      l2;
	struct stat        st1, st2;
	char               path[256], full[1024], buf[256], log[256] = "";
	uint64_t           id;
	int                status;
	pid_t              pid;

	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 100,
	    "alice/.upgate-tmp-1", &r), LEDGER_OK);
	id = r.id;
	resv_file(&r, path, sizeof path);
	snprintf(full, sizeof full, "%s/%s", fx.root, path);
	CU_ASSERT_EQUAL(stat(full, &st1), 0);
	ledger_release_reservation(&fx.l, &r);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 1);
	CU_ASSERT_EQUAL(reserved_of("alice"), 0);
	CU_ASSERT_EQUAL(dead_of("alice"), 0);

	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "bob", 7, NULL, &rb), LEDGER_OK);
	CU_ASSERT_EQUAL(rb.id, id);
	resv_file(&rb, path, sizeof path);
	snprintf(full, sizeof full, "%s/%s", fx.root, path);
	CU_ASSERT_EQUAL(stat(full, &st2), 0);
	CU_ASSERT_EQUAL(st1.st_ino, st2.st_ino);
	CU_ASSERT_EQUAL(slurp(path, buf, sizeof buf), 21);
	CU_ASSERT_STRING_EQUAL(buf, "                   7\n");
	CU_ASSERT_EQUAL(reserved_of("bob"), 7);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 0);
	/* a second one at once is a new file */
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "alice", 5, NULL, &r), LEDGER_OK);
	CU_ASSERT(r.id != id);
	ledger_release_reservation(&fx.l, &r);	/* the new spare */
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 1);
	CU_ASSERT_EQUAL(reserved_of("bob"), 7);

	/* a process that dies with a spare leaves it dead, holding nothing */
	put("upload/alice/.upgate-tmp-1", "partial");
	if ((pid = fork()) == 0) {
		struct reservation r2;

		if (open_at(&l2, fx.state) != LEDGER_OK ||
		    ledger_reserve(&l2, "alice", 9, "alice/.upgate-tmp-1",
		    &r2) != LEDGER_OK)
			_exit(1);
		ledger_release_reservation(&l2, &r2);
		if (ledger_reserve(&l2, "carol", 1, NULL, &r2) != LEDGER_OK)
			_exit(1);
		_exit(0);	/* carol's reservation: dead, the reused file */
	}
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 1);
	CU_ASSERT_EQUAL(dead_of("alice"), 0);
	CU_ASSERT_EQUAL(dead_of("carol"), 1);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "carol:1;");
	CU_ASSERT_EQUAL(dead_of("carol"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 1);
	/* the reused file named alice's path no more */
	CU_ASSERT(exists("upload/alice/.upgate-tmp-1"));
	/* bob's live reservation was spared */
	CU_ASSERT_EQUAL(reserved_of("bob"), 7);

	/* a spare whose process died is removed; the live one stays */
	if ((pid = fork()) == 0) {
		struct reservation r2;

		if (open_at(&l2, fx.state) != LEDGER_OK ||
		    ledger_reserve(&l2, "alice", 9, NULL, &r2) != LEDGER_OK)
			_exit(1);
		ledger_release_reservation(&l2, &r2);
		_exit(0);
	}
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &status, 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 2);
	CU_ASSERT_EQUAL(dead_of("alice"), 0);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "carol:1;");
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 1);
	ledger_release_reservation(&fx.l, &rb);	/* one spare: removed */
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 1);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/bob"), 0);
	ledger_close(&fx.l);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/.idle"), 0);
	CU_ASSERT_EQUAL(open_at(&fx.l, fx.state), LEDGER_OK);
}

/* A handler killed with SIGKILL leaves a reservation nobody locks. */
static void
test_reclaim_killed_child(void)
{
	struct reservation r;
	struct ledger      l2;
	char               log[256] = "", c;
	int                p[2], status;
	pid_t              pid;

	put("upload/alice/.upgate-tmp-abc", "partial");
	CU_ASSERT_FATAL(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		if (open_at(&l2, fx.state) != LEDGER_OK ||
		    ledger_reserve(&l2, "alice", 1000,
		    "alice/.upgate-tmp-abc", &r) != LEDGER_OK)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(read(p[0], &c, 1) == 1);
	CU_ASSERT_EQUAL(reserved_of("alice"), 1000);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "");
	CU_ASSERT(exists("upload/alice/.upgate-tmp-abc"));
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "");

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFSIGNALED(status));
	/* dead: not counted, but left for the reclaim */
	CU_ASSERT_EQUAL(reserved_of("alice"), 0);
	CU_ASSERT_EQUAL(dead_of("alice"), 1);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 1);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "bob", fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "");
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "alice:1000;");
	CU_ASSERT_EQUAL(dead_of("alice"), 0);
	CU_ASSERT(!exists("upload/alice/.upgate-tmp-abc"));
	CU_ASSERT(exists("upload/alice"));
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 0);
	close(p[0]);
	close(p[1]);
}

/*
 * A child that reserved, named a temporary file and the folders it made,
 * and exited without a release: the reclaim removes the temporary files,
 * then the empty folders deepest first; never a folder with something
 * in it, never a file whose name is not a temporary one.
 */
static void
test_reclaim_paths_killed_child(void)
{
	static const struct {
		enum resv_path kind;
		const char    *rel;
	} paths[] = {
		{ RESV_DIR, "alice/new" },
		{ RESV_DIR, "alice/new/deep" },
		{ RESV_TMP, "alice/new/deep/.upgate-tmp-y" },
		{ RESV_DIR, "alice/full" },
		{ RESV_TMP, "alice/keep.pdf" },
		{ RESV_TMP, "alice/.upgate-tmp-never-made" },
		{ RESV_DIR, "alice/missing" },
	};
	struct reservation r;
	struct ledger      l2;
	char               log[256] = "";
	size_t             i;
	int                status;
	pid_t              pid;

	put("upload/alice/.upgate-tmp-x", "partial");
	put("upload/alice/new/deep/.upgate-tmp-y", "partial too");
	put("upload/alice/full/other", "someone else's");
	put("upload/alice/keep.pdf", "a stored file");
	if ((pid = fork()) == 0) {
		if (open_at(&l2, fx.state) != LEDGER_OK ||
		    ledger_reserve(&l2, "alice", 4096, "alice/.upgate-tmp-x",
		    &r) != LEDGER_OK)
			_exit(1);
		for (i = 0; i < sizeof paths / sizeof paths[0]; i++)
			if (ledger_reservation_add(&l2, &r, paths[i].kind,
			    paths[i].rel) != LEDGER_OK)
				_exit(2);
		_exit(0);	/* no release: its lock goes with it */
	}
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &status, 0);
	CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(reserved_of("alice"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 1);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "alice:4096;");
	CU_ASSERT(!exists("upload/alice/.upgate-tmp-x"));
	CU_ASSERT(!exists("upload/alice/new/deep/.upgate-tmp-y"));
	CU_ASSERT(!exists("upload/alice/new/deep"));
	CU_ASSERT(!exists("upload/alice/new"));
	CU_ASSERT(exists("upload/alice/full/other"));
	CU_ASSERT(exists("upload/alice/keep.pdf"));
	CU_ASSERT(exists("upload/alice"));
	CU_ASSERT_EQUAL(count_entries("upload/alice"), 2);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 0);
	/* once reclaimed, nothing is left to reclaim */
	log[0] = '\0';
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "");
}

/* Another thread's upload, with its own struct ledger as a request has. */
static void *
resv_holder(void *arg)
{
	struct holder     *h = arg;
	struct reservation r;
	struct ledger      l2;

	ledger_reservation_init(&r);
	if ((h->err = open_at(&l2, fx.state)) == LEDGER_OK &&
	    (h->err = ledger_reserve(&l2, "alice", 500,
	    "alice/.upgate-tmp-thr", &r)) == LEDGER_OK)
		h->err = ledger_reservation_add(&l2, &r, RESV_DIR,
		    "alice/thrdir");
	holder_set(h, 1);
	holder_wait(h, 2);
	if (r.id != 0)
		ledger_release_reservation(&l2, &r);
	ledger_close(&l2);
	holder_set(h, 3);
	return NULL;
}

/* The OFD point: a sibling thread's live reservation is not reclaimed. */
static void
test_reclaim_spares_live_thread(void)
{
	struct holder h;
	pthread_t     th;
	char          log[256] = "";

	put("upload/alice/.upgate-tmp-thr", "streaming");
	make_dir("upload/alice/thrdir");
	holder_init(&h, 0);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, resv_holder, &h) == 0);
	holder_wait(&h, 1);
	CU_ASSERT_EQUAL(h.err, LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "");
	CU_ASSERT(exists("upload/alice/.upgate-tmp-thr"));
	CU_ASSERT(exists("upload/alice/thrdir"));
	CU_ASSERT_EQUAL(reserved_of("alice"), 500);
	CU_ASSERT_EQUAL(recount(1, NULL, NULL, NULL), LEDGER_OK);
	CU_ASSERT(exists("upload/alice/.upgate-tmp-thr"));
	CU_ASSERT(exists("upload/alice/thrdir"));
	CU_ASSERT_EQUAL(reserved_of("alice"), 500);
	holder_set(&h, 2);
	holder_wait(&h, 3);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(reserved_of("alice"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 0);
	/* a release removes no path: the owner has done that itself */
	CU_ASSERT(exists("upload/alice/.upgate-tmp-thr"));
	holder_destroy(&h);
}

static void
test_reclaim_filters(void)
{
	char log[256] = "";

	put("outside/.upgate-tmp-x", "x");
	put("upload/alice/a.pdf", "keep");
	put("upload/alice/.hidden/.upgate-tmp-h", "x");
	put("upload/alice/.upgate-tmp-torn", "x");
	put("upload/al/.upgate-tmp-1", "x");
	put("upload/al.ice/.upgate-tmp-2", "x");
	put("upload/real/.upgate-tmp-3", "x");
	link_at("real", "upload/lnk");
	link_at("real", "upload/alice/lnkdir");
	put_dead("al", "00ff", 10, "t al/.upgate-tmp-1\n");
	put_dead("al.ice", "0a0b", 20, "t al.ice/.upgate-tmp-2\n");
	put_dead("alice", "1", 30, "t alice/a.pdf\n");	/* not a tmp file */
	put_dead("alice", "2", 40, "t ../outside/.upgate-tmp-x\n"
	    "d ../outside\n");
	put_dead("alice", "3", 50, "t lnk/.upgate-tmp-3\n"
	    "d alice/lnkdir\n");			/* links */
	put("upload/.upgate/resv/alice/4", "garbage");	/* torn: 0 bytes */
	put_dead("alice", "5", 60, "t alice/.hidden/.upgate-tmp-h\n"
	    "x alice/.upgate-tmp-torn\nt\nt \n\n"
	    "d alice\nt alice/.upgate-tmp-torn");	/* no '\n': torn */
	put("upload/.upgate/resv/alice/.tmp.1", "1\n");
	put_dead("-x", "1", 1, "");			/* not a user's */
	put_dead("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaa", "1", 1, "");

	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "al", fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(log, "al:10;");
	CU_ASSERT(!exists("upload/al/.upgate-tmp-1"));
	CU_ASSERT(exists("upload/al.ice/.upgate-tmp-2"));
	CU_ASSERT(exists("upload/.upgate/resv/al.ice/0a0b"));

	log[0] = '\0';
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd,
	    count_reclaim, log), LEDGER_OK);
	CU_ASSERT(strstr(log, "alice:30;") != NULL);
	CU_ASSERT(strstr(log, "alice:40;") != NULL);
	CU_ASSERT(strstr(log, "alice:50;") != NULL);
	CU_ASSERT(strstr(log, "alice:0;") != NULL);
	CU_ASSERT(strstr(log, "alice:60;") != NULL);
	CU_ASSERT(exists("upload/alice/a.pdf"));
	CU_ASSERT(exists("upload/alice/.hidden/.upgate-tmp-h"));
	CU_ASSERT(exists("upload/alice/.upgate-tmp-torn"));
	CU_ASSERT(exists("outside/.upgate-tmp-x"));
	CU_ASSERT(exists("upload/real/.upgate-tmp-3"));
	CU_ASSERT(exists("upload/alice/lnkdir"));
	CU_ASSERT(exists("upload/alice"));
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 1);

	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd, NULL, NULL),
	    LEDGER_OK);
	CU_ASSERT(!exists("upload/al.ice/.upgate-tmp-2"));
	/* only the names that are not reservations stay */
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/al.ice"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/-x"), 1);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 1);
}

static void
test_closed_ledger(void)
{
	struct ledger      l2;
	struct reservation r;
	struct usage       u;
	struct record      rec = { "alice", 1 };
	struct file_size   out[1];

	CU_ASSERT_FATAL(open_at(&l2, fx.state) == LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_reserve(&l2, "alice", 1, NULL, &r), LEDGER_OK);
	ledger_close(&l2);
	CU_ASSERT_EQUAL(ledger_reservation_set(&l2, &r, 5), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reservation_add(&l2, &r, RESV_DIR, "alice"),
	    LEDGER_IO);
	ledger_release_reservation(&l2, &r);	/* left dead, as with NULL */
	CU_ASSERT_EQUAL(reserved_of("alice"), 0);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 1);
	CU_ASSERT_EQUAL(ledger_usage(&l2, "alice", &u), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_set_used(&l2, "alice", 1), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reserve(&l2, "alice", 1, NULL, &r), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_commit(&l2, "alice", "a", 1), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_forget(&l2, "a"), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_record_get(&l2, "a", &rec), -1);
	CU_ASSERT_EQUAL(ledger_record_put(&l2, "a", &rec), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_record_drop(&l2, "a"), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reclaim(&l2, NULL, fx.upload_fd, NULL, NULL),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_each_user(&l2, NULL, NULL), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_each_record(&l2, NULL, NULL, NULL), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_largest(&l2, "alice", NULL, out, 1), 0);
	CU_ASSERT_EQUAL(ledger_recount(&l2, fx.upload_fd, 1, NULL, NULL,
	    NULL), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_flush(&l2), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, "alice", fx.upload_fd, NULL,
	    NULL), LEDGER_OK);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/resv/alice"), 0);
}

/* ---- records ---- */

static void
test_commit_new_and_replace(void)
{
	struct record rec;

	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/docs/a.pdf", &rec), 1);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/docs/a.pdf",
	    100), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 100);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/docs/a.pdf", &rec), 0);
	CU_ASSERT_STRING_EQUAL(rec.owner, "alice");
	CU_ASSERT_EQUAL(rec.size, 100);
	CU_ASSERT(exists("upload/.upgate/files/alice/docs/a.pdf"));
	/* replacing: the difference, both ways */
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/docs/a.pdf",
	    250), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 250);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/docs/a.pdf",
	    40), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 40);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/docs/a.pdf",
	    40), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 40);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/b", 0),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 40);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/b", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 0);
	/* no temporary record is left behind */
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/files/alice/docs"), 1);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/c", -1),
	    LEDGER_IO);
}

static void
test_commit_other_owner(void)
{
	struct record rec;

	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "shared.txt", 100),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "other.txt", 5),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "bob", "shared.txt", 30),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 5);
	CU_ASSERT_EQUAL(used_of("bob"), 30);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "shared.txt", &rec), 0);
	CU_ASSERT_STRING_EQUAL(rec.owner, "bob");
	CU_ASSERT_EQUAL(rec.size, 30);
	/* the old owner's usage never goes below 0 */
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "bob", 10), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "shared.txt", 1),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("bob"), 0);
	CU_ASSERT_EQUAL(used_of("alice"), 6);
}

static void
test_record_get_cases(void)
{
	static const char *const bad[] = {
		"", "/a", "a/", "a//b", "../x", "a/../b", "a/.b", ".x", ".",
		"a/./b",
	};
	struct record rec;
	char          deep[160];
	size_t        i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CU_ASSERT_EQUAL(ledger_record_get(&fx.l, bad[i], &rec), -1);
		CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", bad[i], 1),
		    LEDGER_IO);
		CU_ASSERT_EQUAL(ledger_forget(&fx.l, bad[i]), LEDGER_IO);
	}
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, NULL, &rec), -1);
	/* 65 components: deeper than any stored path */
	for (i = 0; i < 65; i++)
		memcpy(deep + 2 * i, "a/", 2);
	deep[129] = '\0';
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, deep, &rec), -1);
	deep[127] = '\0';
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, deep, &rec), 1);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/f", 9),
	    LEDGER_OK);
	/* a file on the way, a folder at the end: no record */
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/f/g", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "nobody/x", &rec), 1);
	/* corrupt records */
	put("upload/.upgate/files/alice/bad1", "alice\n");
	put("upload/.upgate/files/alice/bad2", "alice x\n");
	put("upload/.upgate/files/alice/bad3", ".x 1\n");
	put("upload/.upgate/files/alice/bad4", "alice 1");
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/bad1", &rec), -1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/bad2", &rec), -1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/bad3", &rec), -1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/bad4", &rec), -1);
	/* a corrupt record is replaced as if there were none */
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/bad1", 4),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 13);
	/* a symbolic link inside the ledger is not followed */
	link_at("alice", "upload/.upgate/files/lnk");
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "lnk/f", &rec), 1);
}

/* A record file where a folder is needed, and the reverse: stale. */
static void
test_commit_stale_conflicts(void)
{
	struct record rec;

	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 10),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a/b", 20),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 30);	/* over-counts */
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/a/b", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 20);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/x/y/z", 1),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/x", 2),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 33);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/x", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 2);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/x/y/z", &rec), 1);
}

static void
test_forget(void)
{
	struct record rec;

	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/d/e/f.txt", 70),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/g.txt", 30),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice/d/e/f.txt"), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 30);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/d/e/f.txt", &rec), 1);
	/* empty record folders go, the user's stays while not empty */
	CU_ASSERT(!exists("upload/.upgate/files/alice/d"));
	CU_ASSERT(exists("upload/.upgate/files/alice/g.txt"));
	/* nothing to forget */
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice/d/e/f.txt"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice/g.txt/x"), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 30);
	/* never below 0 */
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 10), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice/g.txt"), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 0);
	CU_ASSERT(!exists("upload/.upgate/files/alice"));
	/* a corrupt record is dropped without touching usage */
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 10), LEDGER_OK);
	put("upload/.upgate/files/alice/bad", "junk");
	CU_ASSERT_EQUAL(ledger_forget(&fx.l, "alice/bad"), LEDGER_OK);
	CU_ASSERT(!exists("upload/.upgate/files/alice/bad"));
	CU_ASSERT_EQUAL(used_of("alice"), 10);
}

/*
 * Names planted in state_dir are never written through: a hard link at
 * usage/USER or at a record's temporary name (upgate-quota(8): run as
 * root, in a folder another user could write).
 */
static void
test_planted_links(void)
{
	struct record rec;
	struct usage  u;
	struct stat   st;
	char          victim[512], path[512], buf[64];

	put("victim", "precious\n");
	snprintf(victim, sizeof victim, "%s/victim", fx.root);
	snprintf(path, sizeof path, "%s/usage/alice", fx.state);
	CU_ASSERT_FATAL(link(victim, path) == 0);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 5), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 5);
	CU_ASSERT(stat(path, &st) == 0 && st.st_nlink == 1);
	/* a replaced record goes through a temporary name */
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/f", 10),
	    LEDGER_OK);
	snprintf(path, sizeof path, "%s/files/alice/.rec.tmp.%ld.%ld",
	    fx.state, (long)getpid(), (long)gettid());
	CU_ASSERT_FATAL(link(victim, path) == 0);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/f", 4),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/f", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 4);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/files/alice"), 1);
	CU_ASSERT_EQUAL(used_of("alice"), 9);
	CU_ASSERT_EQUAL(slurp("victim", buf, sizeof buf), 9);
	CU_ASSERT_STRING_EQUAL(buf, "precious\n");
	CU_ASSERT(stat(victim, &st) == 0 && st.st_nlink == 1);
	/* another user's file at usage/USER is replaced by one of ours */
	if (geteuid() == 0) {
		put("upload/.upgate/usage/dave", "3\n");
		snprintf(path, sizeof path, "%s/usage/dave", fx.state);
		CU_ASSERT(chown(path, 65534, 65534) == 0);
		CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "dave", 8), LEDGER_OK);
		CU_ASSERT(stat(path, &st) == 0 && st.st_uid == 0);
		CU_ASSERT_EQUAL(used_of("dave"), 8);
	}
	/*
	 * A FIFO, never waited for: reading the figure is refused (what it
	 * held is unknown: 0 would under-count); setting it, as recount
	 * does, replaces it with a file.
	 */
	snprintf(path, sizeof path, "%s/usage/erin", fx.state);
	CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
	CU_ASSERT_EQUAL(ledger_usage(&fx.l, "erin", &u), LEDGER_IO);
	CU_ASSERT_STRING_EQUAL(fx.l.cause, "usage:EINVAL");
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "erin", 1), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("erin"), 1);
	/* a record: refused, the cause said */
	snprintf(path, sizeof path, "%s/files/alice/g", fx.state);
	CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/g", &rec), -1);
	CU_ASSERT_STRING_EQUAL(fx.l.cause, "record:EINVAL");
}

/* Writes that fail leave no temporary file and no half change. */
static void
test_write_failures(void)
{
	struct record rec;
	char          path[256];

	/* a folder where usage/USER should be */
	put("upload/.upgate/usage/bob/x", "");
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "bob", 5), LEDGER_IO);
	CU_ASSERT(strchr(fx.l.cause, ':') != NULL);
	CU_ASSERT_EQUAL(used_of("bob"), -1);
	/* a replacing record that cannot be written: usage goes back */
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "carol", 7), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "carol", "carol/f", 50),
	    LEDGER_OK);
	/* a folder at the name this thread gives a new record */
	snprintf(path, sizeof path,
	    "upload/.upgate/files/carol/.rec.tmp.%ld.%ld/x", (long)getpid(),
	    (long)gettid());
	put(path, "");
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "carol", "carol/f", 100),
	    LEDGER_IO);
	CU_ASSERT_EQUAL(used_of("carol"), 57);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "carol/f", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 50);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/files/carol"), 2);
	/* a new record is written in place: no temporary name needed */
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "carol", "carol/g", 9),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("carol"), 66);
	/* a usage that cannot be raised: no record either */
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "bob", "bob/f", 100), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "bob/f", &rec), 1);
	/* a lowering whose usage cannot be written: the record is changed */
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "dave", "dave/f", 10), LEDGER_OK);
	put("upload/.upgate/usage/dave", "junk");
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "dave", "dave/f", 4), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "dave/f", &rec), 0);
	CU_ASSERT_EQUAL(rec.size, 4);
}

/* ---- largest ---- */

static void
test_largest(void)
{
	struct file_size out[4];
	size_t           n;

	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/small", 10),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/docs/big.pdf",
	    5000), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/docs/x/mid",
	    300), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/tiny", 1),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/mid2", 200),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "bob", "bob/huge", 99999),
	    LEDGER_OK);

	n = ledger_largest(&fx.l, "alice", "alice/", out, 3);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(out[0].name, "docs/big.pdf");
	CU_ASSERT_EQUAL(out[0].size, 5000);
	CU_ASSERT_STRING_EQUAL(out[1].name, "docs/x/mid");
	CU_ASSERT_EQUAL(out[1].size, 300);
	CU_ASSERT_STRING_EQUAL(out[2].name, "mid2");
	CU_ASSERT_EQUAL(out[2].size, 200);

	n = ledger_largest(&fx.l, "alice", "alice", out, 4);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_STRING_EQUAL(out[3].name, "small");
	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "alice", "alice/", out, 0), 0);
	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "carol", "carol/", out, 4), 0);
	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "alice", "../x/", out, 4), 0);
	/* bob's folder holds nothing of alice's */
	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "alice", "bob/", out, 4), 0);
}

static void
test_largest_shared(void)
{
	struct file_size out[2];
	size_t           n;

	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "a.bin", 10), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "bob", "b.bin", 900), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "d/c.bin", 20),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "e.bin", 15), LEDGER_OK);
	n = ledger_largest(&fx.l, "alice", NULL, out, 2);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(out[0].name, "d/c.bin");
	CU_ASSERT_STRING_EQUAL(out[1].name, "e.bin");
	n = ledger_largest(&fx.l, "bob", "", out, 2);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(out[0].name, "b.bin");
}

/* No more than LEDGER_SCAN_MAX records are looked at. */
static void
test_largest_scan_cap(void)
{
	struct file_size *out;
	char              path[512];
	int               i, fd;

	put("upload/.upgate/files/carol/f0", "carol 1\n");
	for (i = 1; i <= LEDGER_SCAN_MAX + 20; i++) {
		snprintf(path, sizeof path, "%s/files/carol/f%d", fx.state, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CU_ASSERT_FATAL(fd != -1);
		CU_ASSERT_FATAL(write(fd, "carol 1\n", 8) == 8);
		close(fd);
	}
	out = calloc(LEDGER_SCAN_MAX + 30, sizeof *out);
	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT_EQUAL(ledger_largest(&fx.l, "carol", "carol/", out,
	    LEDGER_SCAN_MAX + 30), LEDGER_SCAN_MAX);
	free(out);
}

/* ---- recount ---- */

struct changes {
	char text[512];
};

static void
log_change(void *arg, const char *user, int64_t old, int64_t now)
{
	struct changes *c = arg;
	size_t          len = strlen(c->text);

	snprintf(c->text + len, sizeof c->text - len, "%s:%lld>%lld;", user,
	    (long long)old, (long long)now);
}

static void
record_is(const char *rel, const char *owner, int64_t size)
{
	struct record rec;

	CU_ASSERT_EQUAL_FATAL(ledger_record_get(&fx.l, rel, &rec), 0);
	CU_ASSERT_STRING_EQUAL(rec.owner, owner);
	CU_ASSERT_EQUAL(rec.size, size);
}

/* A tree changed behind the ledger's back, per_user_dirs = yes. */
static void
per_user_tree(void)
{
	put("upload/alice/a", "0123456789");			/* 10 */
	put("upload/alice/sub/b", "01234567890123456789");	/* 20 */
	put("upload/alice/.upgate-tmp-x", "ignored temporary");
	put("upload/alice/.hidden/c", "not upgate's");
	put("upload/alice/.dot", "not upgate's");
	put("outside/big", "a file outside, reached through a link");
	put("outside/d/e", "a folder outside, reached through a link");
	link_at("../../outside/big", "upload/alice/link");
	link_at("../../outside/d", "upload/alice/linkdir");
	put("upload/bob/x", "12345");				/* 5 */
	put("upload/not a user/y", "12345");
	put("upload/rootfile", "12345");
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 999), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "carol", 77), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/gone", 50),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 3),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/link", 3),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "dave", "dave/old", 8),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 999), LEDGER_OK);
}

static void
test_recount_per_user_all(void)
{
	struct changes     c = { "" };
	struct reservation r;
	struct record      rec;

	per_user_tree();
	put("upload/bob/.upgate-tmp-dead", "dead upload");
	put_dead("bob", "0001", 40, "t bob/.upgate-tmp-dead\n");
	put("upload/.upgate/usage/bob", "corrupt");	/* rewritten */
	CU_ASSERT_EQUAL(ledger_reserve(&fx.l, "bob", 9, NULL, &r), LEDGER_OK);
	CU_ASSERT_EQUAL(recount(1, NULL,
	    log_change, &c), LEDGER_OK);
	/* sorted by name: alice, bob, carol, dave */
	CU_ASSERT_STRING_EQUAL(c.text,
	    "alice:999>30;bob:0>5;carol:77>0;dave:8>0;");
	CU_ASSERT_EQUAL(used_of("alice"), 30);
	CU_ASSERT_EQUAL(used_of("bob"), 5);
	CU_ASSERT_EQUAL(reserved_of("bob"), 9);
	CU_ASSERT(!exists("upload/bob/.upgate-tmp-dead"));
	CU_ASSERT(exists("upload/alice/.upgate-tmp-x"));
	record_is("alice/a", "alice", 10);
	record_is("alice/sub/b", "alice", 20);
	record_is("bob/x", "bob", 5);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/gone", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/link", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "dave/old", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/.dot", &rec), -1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/linkdir/e", &rec), 1);
	/* a second recount finds nothing to change */
	c.text[0] = '\0';
	CU_ASSERT_EQUAL(recount(1, NULL,
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "");
	ledger_release_reservation(&fx.l, &r);
}

static void
test_recount_per_user_one(void)
{
	struct changes c = { "" };
	struct record  rec;

	per_user_tree();
	CU_ASSERT_EQUAL(recount(1, "alice",
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "alice:999>30;");
	CU_ASSERT_EQUAL(used_of("carol"), 77);
	CU_ASSERT_EQUAL(used_of("bob"), 0);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "bob/x", &rec), 1);
	record_is("dave/old", "dave", 8);
	/* a user with no folder at all */
	c.text[0] = '\0';
	CU_ASSERT_EQUAL(recount(1, "carol",
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "carol:77>0;");
	/* without fn */
	CU_ASSERT_EQUAL(recount(1, "bob",
	    NULL, NULL), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("bob"), 5);
	CU_ASSERT_EQUAL(ledger_recount(&fx.l, -1, 1, "bob", NULL, NULL),
	    LEDGER_IO);
}

/* The user's folder itself is a symbolic link: nothing of it counts. */
static void
test_recount_user_dir_link(void)
{
	struct changes c = { "" };

	put("outside/f", "123");
	link_at("../outside", "upload/eve");
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "eve", 3), LEDGER_OK);
	CU_ASSERT_EQUAL(recount(1, NULL,
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "eve:3>0;");
}

/* per_user_dirs = no: files are whose their records say. */
static void
shared_tree(void)
{
	put("upload/a", "0123456789");				/* 10 */
	put("upload/b", "01234567890123456789");		/* 20 */
	put("upload/c", "1234567");				/* nobody's */
	put("upload/sub/d", "1234");				/* 4 */
	put("upload/.upgate-tmp-q", "temporary");
	put("upload/.hidden/e", "not upgate's");
	put("outside/big", "a file outside");
	link_at("../outside/big", "upload/l");
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "a", 3), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "bob", "b", 20), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "sub/d", 4), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "gone", 100), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "bob", "gone2", 1), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "l", 5), LEDGER_OK);
}

static void
test_recount_shared_all(void)
{
	struct changes c = { "" };
	struct record  rec;

	shared_tree();
	CU_ASSERT_EQUAL(used_of("alice"), 112);
	CU_ASSERT_EQUAL(used_of("bob"), 21);
	CU_ASSERT_EQUAL(recount(0, NULL,
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "alice:112>14;bob:21>20;");
	record_is("a", "alice", 10);
	record_is("sub/d", "alice", 4);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "c", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "gone", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "gone2", &rec), 1);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "l", &rec), 1);
	c.text[0] = '\0';
	CU_ASSERT_EQUAL(recount(0, NULL,
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "");
}

/* A corrupt record of a file: kept for every user, left for one. */
static void
test_recount_shared_corrupt(void)
{
	struct changes c = { "" };

	shared_tree();
	put("upload/.upgate/files/c", "junk");
	put("upload/.upgate/files/h", "junk");		/* its file is gone */
	CU_ASSERT_EQUAL(recount(0, "alice",
	    log_change, &c), LEDGER_OK);
	CU_ASSERT(exists("upload/.upgate/files/h"));
	CU_ASSERT_EQUAL(recount(0, NULL,
	    log_change, &c), LEDGER_OK);
	CU_ASSERT(exists("upload/.upgate/files/c"));
	CU_ASSERT_STRING_EQUAL(c.text, "alice:112>14;bob:21>20;");
}

/* A record read that meets a database gone: it stands in for one here. */
static int
record_get_down(struct ledger *l, const char *rel, struct record *out)
{
	(void)rel;
	(void)out;
	l->failed = LEDGER_DOWN;
	return -1;
}

/*
 * A record that cannot be read because the database is gone stops the
 * recount: its files are not counted as nobody's, usage stays as it was.
 */
static void
test_recount_shared_down(void)
{
	struct changes           c = { "" };
	struct ledger_ops        down;
	const struct ledger_ops *ops = fx.l.ops;

	shared_tree();
	down = *ops;
	down.record_get = record_get_down;
	fx.l.ops = &down;
	CU_ASSERT_EQUAL(recount(0, NULL, log_change, &c), LEDGER_DOWN);
	fx.l.ops = ops;
	CU_ASSERT_STRING_EQUAL(c.text, "");
	CU_ASSERT_EQUAL(used_of("alice"), 112);
	CU_ASSERT_EQUAL(used_of("bob"), 21);
}

static void
test_recount_empty(void)
{
	struct changes c = { "" };

	CU_ASSERT_EQUAL(recount(1, NULL,
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_EQUAL(recount(0, NULL,
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "");
}

static void
test_recount_shared_one(void)
{
	struct changes c = { "" };

	shared_tree();
	CU_ASSERT_EQUAL(recount(0, "alice",
	    log_change, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "alice:112>14;");
	CU_ASSERT_EQUAL(used_of("bob"), 21);
	record_is("gone2", "bob", 1);
	record_is("b", "bob", 20);
}

/* ---- users ---- */

static void
collect_user(void *arg, const char *user)
{
	struct changes *c = arg;
	size_t          len = strlen(c->text);

	snprintf(c->text + len, sizeof c->text - len, "%s;", user);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_each_user(void)
{
	struct changes c = { "" };
	char          *names[4] = { NULL }, *save = NULL, *tok;
	size_t         n = 0;

	CU_ASSERT_EQUAL(ledger_each_user(&fx.l, collect_user, &c), LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "");
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "bob", 1), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/x", 1),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "c.d", 0), LEDGER_OK);
	put("upload/.upgate/usage/.bob.tmp", "1\n");
	put("upload/.upgate/usage/-x", "1\n");
	CU_ASSERT_EQUAL(ledger_each_user(&fx.l, collect_user, &c), LEDGER_OK);
	for (tok = strtok_r(c.text, ";", &save); tok != NULL && n < 4;
	    tok = strtok_r(NULL, ";", &save))
		names[n++] = tok;
	CU_ASSERT_EQUAL_FATAL(n, 3);
	qsort(names, n, sizeof names[0], cmp_str);
	CU_ASSERT_STRING_EQUAL(names[0], "alice");
	CU_ASSERT_STRING_EQUAL(names[1], "bob");
	CU_ASSERT_STRING_EQUAL(names[2], "c.d");
}

struct seen {
	char text[512];
	int  stop_after;	/* 0: never */
	int  fail;		/* 1: the callback fails */
	int  n;
};

static int
collect_record(void *arg, const char *rel, const struct record *rec)
{
	struct seen *s = arg;
	size_t       len = strlen(s->text);

	if (s->fail)
		return -1;
	snprintf(s->text + len, sizeof s->text - len, "%s=%s:%lld;", rel,
	    rec->owner, (long long)rec->size);
	return ++s->n == s->stop_after;
}

/* Every record once, of one owner when asked; fn may stop or fail. */
static void
test_each_record(void)
{
	struct seen s;

	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, NULL, collect_record, &s),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 1),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/d/e", 2),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "bob", "shared", 3), LEDGER_OK);
	put("upload/.upgate/files/alice/junk", "junk");	/* ownerless */
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, NULL, collect_record, &s),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(s.n, 4);
	CU_ASSERT(strstr(s.text, "alice/junk=:-1;") != NULL);
	CU_ASSERT(strstr(s.text, "alice/a=alice:1;") != NULL);
	CU_ASSERT(strstr(s.text, "alice/d/e=alice:2;") != NULL);
	CU_ASSERT(strstr(s.text, "shared=bob:3;") != NULL);
	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, "bob", collect_record, &s),
	    LEDGER_OK);
	CU_ASSERT_STRING_EQUAL(s.text, "shared=bob:3;");
	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, "carol", collect_record,
	    &s), LEDGER_OK);
	CU_ASSERT_EQUAL(s.n, 0);
	memset(&s, 0, sizeof s);
	s.stop_after = 1;
	CU_ASSERT_EQUAL(ledger_each_record(&fx.l, NULL, collect_record, &s),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(s.n, 1);
	memset(&s, 0, sizeof s);
	s.fail = 1;
	CU_ASSERT_NOT_EQUAL(ledger_each_record(&fx.l, NULL, collect_record,
	    &s), LEDGER_OK);
}

/* record_put and record_drop move no usage. */
static void
test_record_put_drop(void)
{
	struct record rec = { "alice", 42 }, got;

	CU_ASSERT_EQUAL(ledger_lock_all(&fx.l, 1000), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "alice/x/y", &rec),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 0);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/x/y", &got), 0);
	CU_ASSERT_STRING_EQUAL(got.owner, "alice");
	CU_ASSERT_EQUAL(got.size, 42);
	/* the same again, then another owner */
	CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "alice/x/y", &rec),
	    LEDGER_OK);
	snprintf(rec.owner, sizeof rec.owner, "bob");
	rec.size = 7;
	CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "alice/x/y", &rec),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/x/y", &got), 0);
	CU_ASSERT_STRING_EQUAL(got.owner, "bob");
	CU_ASSERT_EQUAL(got.size, 7);
	CU_ASSERT_EQUAL(used_of("bob"), 0);
	rec.size = -1;
	CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "alice/x/y", &rec),
	    LEDGER_IO);
	rec.size = 1;
	CU_ASSERT_EQUAL(ledger_record_put(&fx.l, "../y", &rec), LEDGER_IO);
	CU_ASSERT_EQUAL(count_entries("upload/.upgate/files/alice/x"), 1);
	CU_ASSERT_EQUAL(ledger_record_drop(&fx.l, "alice/x/y"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_get(&fx.l, "alice/x/y", &got), 1);
	CU_ASSERT(!exists("upload/.upgate/files/alice"));
	CU_ASSERT_EQUAL(ledger_record_drop(&fx.l, "alice/x/y"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_drop(&fx.l, "nobody/z"), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_record_drop(&fx.l, "a/../b"), LEDGER_IO);
	CU_ASSERT_EQUAL(ledger_flush(&fx.l), LEDGER_OK);
	ledger_unlock(&fx.l);
}

/* ---- sync = no ---- */

/* The configuration's sync reaches the ledger; flush then forces nothing. */
static void
test_sync_flag(void)
{
	CU_ASSERT_EQUAL(fx.l.sync, fx.sync);
	CU_ASSERT_EQUAL(ledger_commit(&fx.l, "alice", "alice/a", 5), LEDGER_OK);
	CU_ASSERT_EQUAL(ledger_flush(&fx.l), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 5);
}

/*
 * Mended faults: a torn or old file in state_dir, a zeroed struct.
 */

/* A corrupt usage file longer than the line is never mended. */
static void
test_mended_long_corrupt_usage(void)
{
	put("upload/.upgate/usage/alice",
	    "1111111111111111111111111111111111111111111111\n");
	CU_ASSERT_EQUAL(ledger_set_used(&fx.l, "alice", 3), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("alice"), 3);
	put("upload/.upgate/usage/bob",
	    "1111111111111111111111111111111111111111111111\n");
	CU_ASSERT_EQUAL(recount(1, "bob", NULL, NULL), LEDGER_OK);
	CU_ASSERT_EQUAL(used_of("bob"), 0);
}

/* A reservation file of the old layout (resv/USER.ID) stops reclaim(NULL). */
static void
test_mended_old_layout_resv(void)
{
	put("upload/.upgate/resv/alice.0001", "40 alice/.upgate-tmp-1\n");
	CU_ASSERT_EQUAL(ledger_reclaim(&fx.l, NULL, fx.upload_fd, NULL, NULL),
	    LEDGER_OK);
	CU_ASSERT_EQUAL(recount(1, NULL, NULL, NULL), LEDGER_OK);
}

/* An every-user recount drops a corrupt record whose file is gone. */
static void
test_mended_corrupt_record_gone(void)
{
	shared_tree();
	put("upload/.upgate/files/h", "junk");		/* its file is gone */
	CU_ASSERT_EQUAL(recount(0, NULL, NULL, NULL), LEDGER_OK);
	CU_ASSERT(!exists("upload/.upgate/files/h"));
	put("upload/.upgate/files/alice/gone", "junk");
	CU_ASSERT_EQUAL(recount(1, NULL, NULL, NULL), LEDGER_OK);
	CU_ASSERT(!exists("upload/.upgate/files/alice/gone"));
}

/* ledger_close on a zeroed struct ledger ("safe") leaves fd 0 alone. */
static void
test_mended_zeroed_close(void)
{
	struct ledger l2;
	int           saved = dup(0);

	memset(&l2, 0, sizeof l2);
	ledger_close(&l2);
	CU_ASSERT_NOT_EQUAL(fcntl(0, F_GETFD), -1);
	dup2(saved, 0);
	close(saved);
}

/* A zeroed reservation (fd 0) is released without closing fd 0. */
static void
test_mended_zeroed_release(void)
{
	struct reservation r;
	int                saved = dup(0);

	memset(&r, 0, sizeof r);
	ledger_release_reservation(&fx.l, &r);
	CU_ASSERT_NOT_EQUAL(fcntl(0, F_GETFD), -1);
	dup2(saved, 0);
	close(saved);
}

static CU_TestInfo open_tests[] = {
	{ "open creates the layout", test_open_layout },
	{ "open errors", test_open_errors },
	{ "open on a descriptor", test_open_descriptor },
	{ "init and close", test_init_close },
	{ "strerror", test_strerror },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo lock_tests[] = {
	{ "lock and unlock", test_lock_unlock },
	{ "a user's lock is narrow", test_lock_user_narrow },
	{ "busy after the timeout, not before", test_lock_busy_timeout },
	{ "lock_all excludes every lock, and vice versa",
	    test_lock_all_excludes },
	{ "file locks: the same path only", test_lock_file },
	{ "lock on a closed ledger", test_lock_closed },
	{ "a child holding the lock makes us wait", test_lock_waits_for_child },
	{ "a waiting user lock is woken by the release",
	    test_lock_woken_user },
	{ "a waiting lock_all is woken by a user's release",
	    test_lock_woken_all_for_user },
	{ "a waiting user lock is woken by lock_all's release",
	    test_lock_woken_user_for_all },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo usage_tests[] = {
	{ "missing usage and set_used", test_usage_missing_and_set },
	{ "usage file format, old and new", test_usage_format },
	{ "bad user names", test_bad_user_names },
	{ "corrupt usage file", test_usage_corrupt },
	{ "reserve, set, release", test_reserve_release },
	{ "reservation paths", test_reservation_add },
	{ "a released reservation file is reused", test_reservation_file_reused },
	{ "reserve errors, init'd release", test_reserve_errors },
	{ "killed child's reservation is reclaimed", test_reclaim_killed_child },
	{ "killed child's paths: tmp files, then folders deepest first",
	    test_reclaim_paths_killed_child },
	{ "live thread's reservation is spared", test_reclaim_spares_live_thread },
	{ "reclaim filters and safety", test_reclaim_filters },
	{ "closed ledger", test_closed_ledger },
	{ "a long corrupt usage file is mended", test_mended_long_corrupt_usage },
	{ "an old-layout resv file is passed over", test_mended_old_layout_resv },
	{ "a zeroed reservation is released safely", test_mended_zeroed_release },
	{ "a zeroed ledger is closed safely", test_mended_zeroed_close },
	{ "a corrupt record of a gone file is dropped",
	    test_mended_corrupt_record_gone },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo record_tests[] = {
	{ "commit new and replace", test_commit_new_and_replace },
	{ "commit over another owner's record", test_commit_other_owner },
	{ "record_get cases", test_record_get_cases },
	{ "stale record conflicts", test_commit_stale_conflicts },
	{ "forget", test_forget },
	{ "write failures", test_write_failures },
	{ "planted links are not written through", test_planted_links },
	{ "each_record", test_each_record },
	{ "record_put, record_drop, flush", test_record_put_drop },
	{ "largest, per user", test_largest },
	{ "largest, shared folder", test_largest_shared },
	{ "largest scans at most LEDGER_SCAN_MAX", test_largest_scan_cap },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo recount_tests[] = {
	{ "per_user_dirs, every user", test_recount_per_user_all },
	{ "per_user_dirs, one user", test_recount_per_user_one },
	{ "per_user_dirs, folder is a link", test_recount_user_dir_link },
	{ "shared, every user", test_recount_shared_all },
	{ "shared, one user", test_recount_shared_one },
	{ "shared, corrupt records", test_recount_shared_corrupt },
	{ "shared, a database gone", test_recount_shared_down },
	{ "nothing at all", test_recount_empty },
	{ "each_user", test_each_user },
	CU_TEST_INFO_NULL,
};

/* The same guarantees with ledger_config.sync = 0. */
static CU_TestInfo nosync_tests[] = {
	{ "sync flag and flush", test_sync_flag },
	{ "open creates the layout", test_open_layout },
	{ "usage file format, old and new", test_usage_format },
	{ "commit new and replace", test_commit_new_and_replace },
	{ "commit over another owner's record", test_commit_other_owner },
	{ "forget", test_forget },
	{ "write failures", test_write_failures },
	{ "reserve, set, release", test_reserve_release },
	{ "killed child's paths are reclaimed",
	    test_reclaim_paths_killed_child },
	{ "live thread's reservation is spared", test_reclaim_spares_live_thread },
	{ "record_put, record_drop, flush", test_record_put_drop },
	{ "recount, per_user_dirs, every user", test_recount_per_user_all },
	{ "recount, shared, every user", test_recount_shared_all },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "ledger open", sync_on, NULL, setup, teardown, open_tests },
	{ "ledger lock", sync_on, NULL, setup, teardown, lock_tests },
	{ "ledger usage", sync_on, NULL, setup, teardown, usage_tests },
	{ "ledger records", sync_on, NULL, setup, teardown, record_tests },
	{ "ledger recount", sync_on, NULL, setup, teardown, recount_tests },
	{ "ledger sync = 0", sync_off, sync_on, setup, teardown,
	    nosync_tests },
	CU_SUITE_INFO_NULL,
};

CU_MAIN(suites)

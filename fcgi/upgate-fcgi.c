/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * upgate.fcgi: the FastCGI responder (FastCGI 1.0, libfcgi's fcgiapp.h).
 *
 * It serves the listening socket a process manager hands it on
 * descriptor 0 (mod_fcgid, lighttpd's bin-path, spawn-fcgi), or its own
 * with --listen HOST:PORT or --listen /path.sock (mod_proxy_fcgi), with
 * --threads workers.  Each worker owns one struct gate, so configuration
 * and quota table are re-read when they change and no state crosses
 * threads.  Workers accept side by side, as Linux allows, each request
 * in its own FCGX_Request.  SIGTERM and SIGINT stop the accepting;
 * requests in flight finish, then the program exits 0.
 *
 * A worker stays with its request until the body has arrived, and a
 * client may trickle a body for as long as the server lets it.  So that
 * such clients cannot starve everyone else, --threads is the number of
 * workers always waiting: when the last waiting one takes a request, a
 * spare is started, and a spare ends once there have been enough
 * waiting for SPARE_LINGER_MS (not at once: under a steady load of more
 * connections than --threads, workers would be started and ended at
 * every request, each opening its ledger anew).  The pool grows as far as the descriptor limit (raised to its
 * hard limit at start) allows at FDS_WORKER a worker; the worker that
 * would leave none waiting answers 503 busy at once instead, so that a
 * refusal never waits behind the stalled.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "gate.h"
#include "io.h"
#include "number.h"

#define THREADS_DEFAULT 4
#define THREADS_MAX     256	/* for --threads */
#define SPARE_LINGER_MS 10000	/* a spare's idle wait before it ends */
#define POOL_MAX        1024	/* workers in all, whatever the limit */
/*
 * The descriptor budget.  The process keeps standard input, output and
 * error, the listening socket and the stop pipe, and a margin for
 * libraries.  An idle worker holds its epoll set, a kept connection, and
 * its ledger: state_dir, and with `files` the lock file, usage/, files/,
 * resv/ and a spare reservation file (with `postgresql`, nothing more:
 * the database sessions are the process's, at most 17, and fit in the
 * margins); and the quota index, read with pread.  A request holds at
 * most FDS_REQUEST more (upgate(8), "Limits").
 */
#define FDS_PROCESS     32
#define FDS_IDLE        10	/* 9 counted, and a margin */
#define FDS_REQUEST     16
#define FDS_WORKER      (FDS_IDLE + FDS_REQUEST)
#define POOL_MIN        2	/* one to serve, one to refuse */
#define REFUSE_QUIET_MS 100	/* a refused body: silence that ends it */
#define REFUSE_DRAIN_MS 1000	/* and the longest it is read */
#define STACK_SIZE      (512 * 1024)	/* bodies and replies are on the heap */
#define BACKLOG         128

/* Set once by main before the workers start; read-only afterwards. */
static int listen_fd = 0;
static const char *config_file;

/*
 * The stop signal's self-pipe: the handler writes one byte and never
 * reads it, so its read end stays readable and wakes every worker.
 */
static int stop_pipe[2] = { -1, -1 };

static const char *
fcgi_param(void *ctx, const char *name)
{
	FCGX_Request *req = ctx;

	return FCGX_GetParam(name, req->envp);
}

static ssize_t
fcgi_read(void *ctx, void *buf, size_t len)
{
	FCGX_Request *req = ctx;
	int           n;

	n = FCGX_GetStr(buf, len > INT_MAX ? INT_MAX : (int)len, req->in);
	if (n == 0 && FCGX_GetError(req->in) != 0)
		return -1;
	return n;
}

static int
fcgi_write(void *ctx, const void *buf, size_t len)
{
	FCGX_Request *req = ctx;

	if (len > INT_MAX)
		return -1;
	return FCGX_PutStr(buf, (int)len, req->out) == (int)len ? 0 : -1;
}

/* Standard error, as the CGI: the server's error log under a manager. */
static void
fcgi_log(void *ctx, const char *line)
{
	(void)ctx;
	fdio_write_line(STDERR_FILENO, line);
}

static void
on_stop(int sig)
{
	int saved = errno;

	(void)sig;
	if (write(stop_pipe[1], "", 1) == -1)
		(void)0;	/* the pipe is full: it is readable anyway */
	errno = saved;
}

/*
 * A worker's wait set: the listening socket, with EPOLLEXCLUSIVE so that
 * a new connection wakes one waiting worker rather than all of them
 * (on two cores, the others' wasted wake-ups cost a third of the time
 * of a small request), and the stop pipe, which wakes every one.
 */
static int
wait_set_open(void)
{
	struct epoll_event ev;
	int                ep;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.fd = listen_fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev) == 0) {
		ev.events = EPOLLIN;
		ev.data.fd = stop_pipe[0];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, stop_pipe[0], &ev) == 0)
			return ep;
	}
	close(ep);
	return -1;
}

/*
 * Waits until there may be work (0), the program stops (-1) or
 * timeout_ms pass (1; -1 ms: never).  The work is on
 * the connection the server kept open (FCGI_KEEP_CONN), else on the
 * listening socket.  That socket is non-blocking, so when another worker
 * or process took the connection first, FCGX_Accept_r returns -EAGAIN
 * instead of blocking where no stop could reach it.
 */
static int
wait_for_work(const FCGX_Request *req, int ep, int timeout_ms)
{
	struct pollfd      pfd[2] = {
		{ req->ipcFd, POLLIN, 0 },
		{ stop_pipe[0], POLLIN, 0 },
	};
	struct epoll_event ev[2];
	int                i, n;

	if (req->ipcFd >= 0) {
		while ((n = poll(pfd, 2, timeout_ms)) == -1)
			if (errno != EINTR)
				return -1;
		return pfd[1].revents != 0 ? -1 : n == 0;
	}
	while ((n = epoll_wait(ep, ev, 2, timeout_ms)) == -1)
		if (errno != EINTR)
			return -1;
	for (i = 0; i < n; i++)
		if (ev[i].data.fd == stop_pipe[0])
			return -1;
	return n == 0;
}
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  pool_empty = PTHREAD_COND_INITIALIZER;
static int pool_base;	/* workers always waiting: --threads */
static int pool_max = POOL_MIN;	/* workers in all: set by main */
static int pool_alive;
static int pool_busy;

static void *worker(void *);

/* Starts one detached worker; pool_lock held.  0, or an error number. */
static int
pool_spawn(void)
{
	pthread_attr_t attr;
	pthread_t      tid;
	int            r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	if ((r = pthread_create(&tid, &attr, worker, NULL)) == 0)
		pool_alive++;
	pthread_attr_destroy(&attr);
	return r;
}

/*
 * A request was taken: if no worker is left waiting, a spare is started.
 * 0 to serve the request; -1 when no spare could be (the pool is at its
 * most, or the system refused a thread): the caller answers it 503 busy
 * at once, and so is the one worker free to refuse the next.
 */
static int
pool_take(void)
{
	int r = 0;

	pthread_mutex_lock(&pool_lock);
	if (++pool_busy == pool_alive &&
	    (pool_alive >= pool_max || pool_spawn() != 0))
		r = -1;
	pthread_mutex_unlock(&pool_lock);
	return r;
}

/* A request is done: 1 when this worker is a spare no longer needed. */
static int
pool_give_back(void)
{
	int spare;

	pthread_mutex_lock(&pool_lock);
	pool_busy--;
	spare = pool_alive - pool_busy > pool_base;
	pthread_mutex_unlock(&pool_lock);
	return spare;
}

/*
 * A spare that waited SPARE_LINGER_MS for nothing: 1 when it is still
 * one too many and leaves the pool.
 */
static int
pool_retire(void)
{
	int spare;

	pthread_mutex_lock(&pool_lock);
	spare = pool_alive - pool_busy > pool_base;
	if (spare && --pool_alive == 0)
		pthread_cond_signal(&pool_empty);
	pthread_mutex_unlock(&pool_lock);
	return spare;
}
static void
pool_leave(void)
{
	pthread_mutex_lock(&pool_lock);
	if (--pool_alive == 0)
		pthread_cond_signal(&pool_empty);
	pthread_mutex_unlock(&pool_lock);
}

static int64_t
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * After a 503 busy with the body still coming: what arrives within a
 * moment is read and dropped, for a server that sends the body whole
 * before it reads the reply; then the connection's reading side is shut,
 * so that FCGX_Finish_r closes it at once instead of draining a client
 * that trickles or stalls — the one worker free to refuse must not wait
 * on it.  The connection is not kept: its records were cut.
 */
static void
refuse_drain(FCGX_Request *req)
{
	struct pollfd pfd = { req->ipcFd, POLLIN, 0 };
	int64_t       end = now_ms() + REFUSE_DRAIN_MS;
	char          buf[4096];

	(void)FCGX_FFlush(req->out);
	while (now_ms() < end && poll(&pfd, 1, REFUSE_QUIET_MS) > 0 &&
	    read(req->ipcFd, buf, sizeof buf) > 0)
		;
	req->keepConnection = 0;
	(void)shutdown(req->ipcFd, SHUT_RD);
}

static void *
worker(void *arg)
{
	FCGX_Request req;
	struct gate  g;
	struct io    io = { fcgi_param, fcgi_read, fcgi_write, fcgi_log, &req };
	int          rc, ep, w, spare = 0, retired = 0;

	(void)arg;
	if ((ep = wait_set_open()) == -1) {
		pool_leave();
		return NULL;
	}
	if (FCGX_InitRequest(&req, listen_fd, 0) != 0) {
		close(ep);
		pool_leave();
		return NULL;
	}
	gate_init(&g, config_file);
	g.shared = 1;		/* the workers' ledgers share their sessions */
	while ((w = wait_for_work(&req, ep, spare ? SPARE_LINGER_MS : -1)) !=
	    -1) {
		if (w == 1 && (retired = pool_retire()))
			break;
		if (w == 1)
			continue;
		rc = FCGX_Accept_r(&req);
		if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR)
			continue;
		if (rc < 0)
			break;
		/*
		 * A body left unread is drained by FCGX_Finish_r, which
		 * half-closes the connection and reads until its end.
		 */
		if (pool_take() == 0)
			(void)gate_handle(&g, &io);
		else if (gate_refuse_busy(&g, &io))
			refuse_drain(&req);
		FCGX_Finish_r(&req);
		spare = pool_give_back();
	}
	FCGX_Free(&req, 1);
	gate_release(&g);
	close(ep);
	if (!retired)
		pool_leave();
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: upgate.fcgi [--config FILE] "
	    "[--listen HOST:PORT | --listen /path.sock] [--threads N]\n");
	exit(2);
}

/*
 * A socket of our own.  A Unix socket is made mode 0660: whoever may
 * connect may claim any REMOTE_USER, so it must not be world-writable.
 */
static int
open_listener(const char *where)
{
	mode_t old = umask(0117);
	int    fd = FCGX_OpenSocket(where, BACKLOG);

	umask(old);
	return fd;
}

static int
parse_threads(const char *s)
{
	int64_t n;

	if (number_parse(s, strlen(s), &n) == -1 || n < 1 || n > THREADS_MAX)
		usage();
	return (int)n;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* libfcgi installs its own SIGUSR1 and SIGPIPE handlers unless set */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

/*
 * Raises the soft descriptor limit to the hard one and sizes the pool
 * by it: (limit - FDS_PROCESS) / FDS_WORKER workers, at least POOL_MIN,
 * at most POOL_MAX.
 */
static int
pool_size(void)
{
	struct rlimit rl;
	rlim_t        n;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return POOL_MIN;
	if (rl.rlim_cur != rl.rlim_max) {
		n = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			rl.rlim_cur = n;	/* RLIM_INFINITY on some systems */
	}
	n = rl.rlim_cur;
	if (n == RLIM_INFINITY || n >= FDS_PROCESS +
	    (rlim_t)POOL_MAX * FDS_WORKER)
		return POOL_MAX;
	if (n < FDS_PROCESS + (rlim_t)POOL_MIN * FDS_WORKER)
		return POOL_MIN;
	return (int)((n - FDS_PROCESS) / FDS_WORKER);
}

/*
 * Workers never take the stop signals: a read in flight stays whole.
 * Returns once every worker has ended.
 */
static void
run_pool(int n)
{
	sigset_t stop, old;
	int      i, r;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	pthread_mutex_lock(&pool_lock);
	pool_base = n;
	for (i = 0; i < n; i++)
		if ((r = pool_spawn()) != 0) {
			fprintf(stderr, "upgate.fcgi: cannot start a worker: %s\n",
			    strerror(r));
			exit(1);
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	while (pool_alive > 0)
		pthread_cond_wait(&pool_empty, &pool_lock);
	pthread_mutex_unlock(&pool_lock);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen_at = NULL, *cfg = NULL;
	int         c, threads = THREADS_DEFAULT;

	while ((c = getopt_long(argc, argv, "c:l:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cfg = optarg; break;
		case 'l': listen_at = optarg; break;
		case 't': threads = parse_threads(optarg); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	config_file = config_path(cfg, getenv("UPGATE_CONFIG"));
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		perror("upgate.fcgi");
		return 1;
	}
	install_signals();
	if (FCGX_Init() != 0) {
		fprintf(stderr, "upgate.fcgi: cannot initialise libfcgi\n");
		return 1;
	}
	if (listen_at != NULL && (listen_fd = open_listener(listen_at)) < 0) {
		fprintf(stderr, "upgate.fcgi: cannot listen on %s\n", listen_at);
		return 1;
	}
	if (listen_at == NULL && FCGX_IsCGI()) {
		fprintf(stderr, "upgate.fcgi: descriptor 0 is not a listening "
		    "socket; start it from a FastCGI process manager, or give "
		    "--listen\n");
		return 2;
	}
	if (fcntl(listen_fd, F_SETFL,
	    fcntl(listen_fd, F_GETFL) | O_NONBLOCK) == -1) {
		perror("upgate.fcgi: listening socket");
		return 1;
	}
	pool_max = pool_size();
	if (threads > pool_max) {
		fprintf(stderr, "upgate.fcgi: --threads %d lowered to %d: the "
		    "descriptor limit allows no more\n", threads, pool_max);
		threads = pool_max;
	}
	run_pool(threads);
	return 0;
}

/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "fdio.h"
#include "names.h"
#include "number.h"
#include "quota.h"

#define INDEX_NAME	"quota.idx"
#define INDEX_MAGIC	"UPGQIDX"		/* 8 bytes with its NUL */
#define INDEX_VERSION	1
#define INDEX_ENDIAN	0x01020304u	/* reads otherwise on another CPU */
#define REC_NAME	72		/* USER_NAME_MAX + NUL, padded to 8 */

/* One named user, as kept in memory and in the index file. */
struct quota_rec {
	char    name[REC_NAME];		/* NUL-padded */
	int64_t limit;			/* bytes, or QUOTA_UNLIMITED */
};

/* What tells one version of the table file from another (upgate.conf(5), "The quota table"). */
struct quota_id {
	uint64_t dev, ino;
	int64_t  size;
	int64_t  mtime_sec, mtime_nsec;
	int64_t  ctime_sec, ctime_nsec;
};

/* The index file: this header, then count records sorted by name. */
struct index_header {
	char            magic[8];
	uint32_t        version;
	uint32_t        rec_size;
	struct quota_id id;		/* of the table it was compiled from */
	uint64_t        count;
	int64_t         star_limit;
	uint32_t        has_star;
	uint32_t        endian;
};

_Static_assert(sizeof(struct quota_rec) == 80, "record layout");
_Static_assert(sizeof(struct index_header) == 96, "index header layout");
_Static_assert(REC_NAME > USER_NAME_MAX, "room for the NUL");

/*
 * The records are either owned (malloc'd, from a parse) or read, one at a
 * time, from the index file the table keeps open (fd).  Not mapped: the
 * index is a file that another process may cut or rewrite at any moment,
 * and a mapping then kills the reader with SIGBUS (upgate.conf(5), "The
 * quota table").
 */
struct quota_table {
	struct quota_id         id;
	const struct quota_rec *rec;	/* the owned records; NULL with fd */
	size_t                  n;
	int                     has_star;
	int64_t                 star;
	struct quota_rec       *owned;
	int                     fd;	/* the index, or -1 */
	struct index_header     hdr;	/* as it read when opened */
	struct quota_rec        scratch;	/* quota_table_user's answer */
};

/* A record while parsing: its line, for duplicate reports. */
struct entry {
	struct quota_rec rec;
	unsigned         line;
};

struct parser {
	const char   *file;
	struct diag  *d;
	struct entry *v;
	size_t        n, cap;
	unsigned      star_line;	/* 0: no '*' rule yet */
	int64_t       star;
	unsigned      errors;
	int           nomem;
};

static int
rec_cmp(const void *a, const void *b)
{
	const struct quota_rec *x = a, *y = b;

	return strncmp(x->name, y->name, REC_NAME);
}

/* By name, then by line, so that the first of duplicates sorts first. */
static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int                 c;

	if ((c = rec_cmp(&x->rec, &y->rec)) != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* The next white-space separated word before end, or NULL at a comment. */
static const char *
next_word(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *w;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end || *s == '#')
		return NULL;
	w = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*len = (size_t)(s - w);
	*p = s;
	return w;
}

/* 0 and *limit set for "unlimited" or a size (upgate.conf(5), Keys), else -1. */
static int
limit_parse(const char *w, size_t len, int64_t *limit)
{
	char buf[32];

	if (len == 9 && memcmp(w, "unlimited", 9) == 0) {
		*limit = QUOTA_UNLIMITED;
		return 0;
	}
	if (len >= sizeof buf)
		return -1;
	memcpy(buf, w, len);
	buf[len] = '\0';
	return number_size_parse(buf, limit);
}

/* Reports "before\"word\"after" at line. */
static void
problem(struct parser *ps, unsigned line, const char *before, const char *w,
    size_t len, const char *after)
{
	char q[256];

	/* the table is the operator's, but its bytes reach a log line */
	logsafe_copy(q, sizeof q, w, len, 40);
	diag_add(ps->d, ps->file, line, "%s\"%s\"%s", before, q, after);
	ps->errors++;
}

static int
entry_add(struct parser *ps, const char *user, size_t len, int64_t limit,
    unsigned line)
{
	struct entry *v;
	size_t        cap;

	if (ps->n == ps->cap) {
		cap = ps->cap ? ps->cap * 2 : 64;
		if ((v = realloc(ps->v, cap * sizeof *v)) == NULL) {
			ps->nomem = 1;
			return -1;
		}
		ps->v = v;
		ps->cap = cap;
	}
	v = &ps->v[ps->n++];
	memset(v->rec.name, 0, sizeof v->rec.name);
	memcpy(v->rec.name, user, len);
	v->rec.limit = limit;
	v->line = line;
	return 0;
}

/* The '*' rule: kept apart from the records, once only. */
static void
star_set(struct parser *ps, int64_t limit, unsigned line)
{
	if (ps->star_line != 0) {
		diag_add(ps->d, ps->file, line, "\"*\" appears more than once "
		    "(first on line %u)", ps->star_line);
		ps->errors++;
		return;
	}
	ps->star_line = line;
	ps->star = limit;
}

/* One rule, "user limit", with the words already split off. */
static void
rule_add(struct parser *ps, unsigned line, const char *user, size_t ulen,
    const char *lim, size_t llen)
{
	char    name[USER_NAME_MAX + 1];
	int64_t limit;

	if (!(ulen == 1 && user[0] == '*')) {
		if (ulen > USER_NAME_MAX)
			goto badname;
		memcpy(name, user, ulen);
		name[ulen] = '\0';
		if (!names_user_valid(name))
			goto badname;
	}
	if (lim == NULL) {
		problem(ps, line, "no limit for ", user, ulen, "");
		return;
	}
	if (limit_parse(lim, llen, &limit) == -1) {
		problem(ps, line, "invalid limit ", lim, llen,
		    ": a size such as 500M, or unlimited");
		return;
	}
	if (ulen == 1 && user[0] == '*')
		star_set(ps, limit, line);
	else
		entry_add(ps, user, ulen, limit, line);
	return;
badname:
	problem(ps, line, "invalid user name ", user, ulen, ": 1 to 64 bytes "
	    "of A-Z a-z 0-9 . _ @ -, not starting with . or -");
}

/* One line without its end: blank, a comment, or "user limit [# ...]". */
static void
line_parse(struct parser *ps, const char *s, size_t len, unsigned line)
{
	const char *end = s + len, *user, *lim, *extra;
	size_t      ulen, llen = 0, xlen;

	if (len > 0 && s[len - 1] == '\r')	/* CRLF: the line ends here */
		end--;
	if (memchr(s, '\0', (size_t)(end - s)) != NULL) {
		diag_add(ps->d, ps->file, line, "a NUL byte in the line");
		ps->errors++;
		return;
	}
	if ((user = next_word(&s, end, &ulen)) == NULL)
		return;
	lim = next_word(&s, end, &llen);
	if (lim != NULL && (extra = next_word(&s, end, &xlen)) != NULL) {
		problem(ps, line, "unexpected ", extra, xlen,
		    " after the limit");
		return;
	}
	rule_add(ps, line, user, ulen, lim, llen);
}

/* A repeated user: the line where it appears again, and where first. */
struct dup {
	unsigned line, first;
	size_t   at;		/* its entry */
};

static int
dup_cmp(const void *a, const void *b)
{
	const struct dup *x = a, *y = b;

	return (x->line > y->line) - (x->line < y->line);
}

/*
 * Sorts the entries, then reports each repeated user at its later line,
 * in the order of the lines.
 */
static void
duplicates_check(struct parser *ps)
{
	struct dup *dups;
	size_t      i, first = 0, ndup = 0;
	char        q[256];

	if (ps->n < 2)
		return;
	qsort(ps->v, ps->n, sizeof ps->v[0], entry_cmp);
	if ((dups = malloc(ps->n * sizeof *dups)) == NULL) {
		ps->nomem = 1;
		return;
	}
	for (i = 1; i < ps->n; i++) {
		if (rec_cmp(&ps->v[first].rec, &ps->v[i].rec) != 0)
			first = i;
		else
			dups[ndup++] = (struct dup){ ps->v[i].line,
			    ps->v[first].line, i };
	}
	qsort(dups, ndup, sizeof *dups, dup_cmp);
	for (i = 0; i < ndup; i++) {
		logsafe_copy(q, sizeof q, ps->v[dups[i].at].rec.name,
		    strlen(ps->v[dups[i].at].rec.name), 40);
		diag_add(ps->d, ps->file, dups[i].line, "user \"%s\" appears "
		    "more than once (first on line %u)", q, dups[i].first);
		ps->errors++;
	}
	free(dups);
}

/* The table of a successful parse; takes the sorted entries.  NULL: ENOMEM. */
static struct quota_table *
table_build(struct parser *ps)
{
	struct quota_table *t;
	size_t              i;

	if ((t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	t->fd = -1;
	if (ps->n > 0 && (t->owned = calloc(ps->n, sizeof *t->owned)) == NULL) {
		free(t);
		return NULL;
	}
	for (i = 0; i < ps->n; i++)
		t->owned[i] = ps->v[i].rec;
	t->rec = t->owned;
	t->n = ps->n;
	t->has_star = ps->star_line != 0;
	t->star = ps->star;
	return t;
}

struct quota_table *
quota_table_parse(const char *text, size_t len, const char *file,
    struct diag *d)
{
	struct parser       ps = { .file = file, .d = d };
	struct quota_table *t = NULL;
	const char         *nl;
	size_t              off = 0, n;
	unsigned            line = 0;

	while (off < len && !ps.nomem) {
		nl = memchr(text + off, '\n', len - off);
		n = nl == NULL ? len - off : (size_t)(nl - (text + off));
		line_parse(&ps, text + off, n, ++line);
		off += n + 1;
	}
	if (!ps.nomem)
		duplicates_check(&ps);
	if (!ps.nomem && ps.errors == 0 && (t = table_build(&ps)) == NULL)
		ps.nomem = 1;
	if (ps.nomem)
		diag_add(d, file, 0, "out of memory");
	free(ps.v);
	return t;
}

static void
id_from_stat(struct quota_id *id, const struct stat *st)
{
	memset(id, 0, sizeof *id);
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
	id->size = (int64_t)st->st_size;
	id->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	id->mtime_nsec = (int64_t)st->st_mtim.tv_nsec;
	id->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	id->ctime_nsec = (int64_t)st->st_ctim.tv_nsec;
}

static int
id_equal(const struct quota_id *a, const struct quota_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	    a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

static void
header_fill(struct index_header *h, const struct quota_table *t)
{
	memset(h, 0, sizeof *h);
	memcpy(h->magic, INDEX_MAGIC, sizeof h->magic);
	h->version = INDEX_VERSION;
	h->rec_size = sizeof(struct quota_rec);
	h->id = t->id;
	h->count = t->n;
	h->star_limit = t->star;
	h->has_star = (uint32_t)t->has_star;
	h->endian = INDEX_ENDIAN;
}

/*
 * Writes the index of t into dir, atomically: a file of a name no other
 * process or thread uses, renamed into place.  Failure is no error: the
 * table in memory is as correct, only the next process parses again.
 */
static void
index_write(int dir, const struct quota_table *t)
{
	struct index_header h;
	struct timespec     now;
	char                tmp[96];
	int                 fd, ok;

	if (dir < 0)
		return;
	header_fill(&h, t);
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(tmp, sizeof tmp, INDEX_NAME ".tmp.%ld.%ld.%ld", (long)getpid(),
	    (long)gettid(), (long)now.tv_nsec);
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return;
	ok = fdio_write_all(fd, &h, sizeof h) == 0 &&
	    fdio_write_all(fd, t->rec, t->n * sizeof t->rec[0]) == 0;
	if (close(fd) == -1)
		ok = 0;
	if (!ok || renameat(dir, tmp, dir, INDEX_NAME) == -1)
		unlinkat(dir, tmp, 0);
}

/* 1 if the index of len bytes is whole and compiled from id. */
static int
index_valid(const struct index_header *h, off_t len,
    const struct quota_id *id)
{
	if (memcmp(h->magic, INDEX_MAGIC, sizeof h->magic) != 0 ||
	    h->version != INDEX_VERSION || h->endian != INDEX_ENDIAN ||
	    h->rec_size != sizeof(struct quota_rec) || h->has_star > 1 ||
	    h->star_limit < QUOTA_UNLIMITED || !id_equal(&h->id, id) ||
	    len < (off_t)sizeof *h)
		return 0;
	len -= (off_t)sizeof *h;
	return len % (off_t)sizeof(struct quota_rec) == 0 &&
	    h->count == (uint64_t)(len / (off_t)sizeof(struct quota_rec));
}

/*
 * Reads len bytes at off, all of them: 0, or -1 with errno (ENODATA when
 * the file ends first: it was cut under us).
 */
static int
read_at(int fd, void *buf, size_t len, off_t off)
{
	ssize_t r;
	size_t  got = 0;

	while (got < len) {
		r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = ENODATA;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/*
 * The table from the index in dir when it was compiled from the table of
 * identity id; NULL when it is missing, stale or damaged, or not a
 * regular file (O_NONBLOCK: a FIFO planted there must not hang us).
 * Costs the same whatever the table's size: the header is read now, the
 * records at each lookup.
 */
static struct quota_table *
index_load(int dir, const struct quota_id *id)
{
	struct index_header h;
	struct quota_table *t;
	struct stat         st;
	int                 fd;

	if (dir < 0)
		return NULL;
	fd = openat(dir, INDEX_NAME, O_RDONLY | O_NONBLOCK | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    read_at(fd, &h, sizeof h, 0) == -1 ||
	    !index_valid(&h, st.st_size, id) ||
	    (t = calloc(1, sizeof *t)) == NULL) {
		close(fd);
		return NULL;
	}
	t->id = *id;
	t->n = (size_t)h.count;
	t->has_star = (int)h.has_star;
	t->star = h.star_limit;
	t->fd = fd;
	t->hdr = h;
	return t;
}

/*
 * Reads and parses the table at path through one descriptor, whose fstat
 * gives the identity: taken before reading, so a change made while we
 * read shows as a new identity at the next request.  Then writes the
 * index into dir.  NULL with the problems in d.
 */
static struct quota_table *
table_load(const char *path, int dir, struct diag *d)
{
	struct quota_table *t = NULL;
	struct stat         st;
	char               *text = NULL;
	size_t              len;
	int                 fd;

	/* O_NONBLOCK: a FIFO put there by mistake must not hang the request */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		diag_add(d, path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		diag_add(d, path, 0, "not a regular file");
		goto done;
	}
	if (read_whole(fd, QUOTA_TABLE_MAX, &text, &len) == -1) {
		diag_add(d, path, 0, "cannot read: %s", strerror(errno));
		goto done;
	}
	if ((t = quota_table_parse(text, len, path, d)) == NULL)
		goto done;
	id_from_stat(&t->id, &st);
	index_write(dir, t);
done:
	free(text);
	close(fd);
	return t;
}

int
quota_table_open(struct quota_table **cached, const char *quota_file,
    int state_dir_fd, struct diag *d)
{
	struct quota_table *t;
	struct quota_id     id;
	struct stat         st;

	if (stat(quota_file, &st) == -1) {
		diag_add(d, quota_file, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
	id_from_stat(&id, &st);
	if (*cached != NULL && id_equal(&(*cached)->id, &id))
		return 0;
	quota_table_free(*cached);
	*cached = NULL;
	if ((t = index_load(state_dir_fd, &id)) == NULL &&
	    (t = table_load(quota_file, state_dir_fd, d)) == NULL)
		goto fail;
	*cached = t;
	return 0;
fail:
	quota_table_free(*cached);
	*cached = NULL;
	return -1;
}

int
quota_table_rebuild(struct quota_table **cached, const char *quota_file,
    int state_dir_fd, struct diag *d)
{
	quota_table_free(*cached);
	*cached = table_load(quota_file, state_dir_fd, d);
	return *cached == NULL ? -1 : 0;
}

void
quota_table_free(struct quota_table *t)
{
	if (t == NULL)
		return;
	if (t->fd != -1)
		close(t->fd);
	free(t->owned);
	free(t);
}

/*
 * Record i of the index into rec, checked as far as one record can be:
 * a valid user name, NUL-padded, and a limit that is a size or
 * unlimited.  0, or -1 with errno (EBADMSG: not what upgate wrote).
 */
static int
rec_read(const struct quota_table *t, size_t i, struct quota_rec *rec)
{
	off_t  off = (off_t)sizeof t->hdr + (off_t)i * (off_t)sizeof *rec;
	size_t k;

	if (read_at(t->fd, rec, sizeof *rec, off) == -1)
		return -1;
	k = strnlen(rec->name, REC_NAME);
	if (k == REC_NAME || !names_user_valid(rec->name) ||
	    rec->limit < QUOTA_UNLIMITED)
		goto bad;
	while (k < REC_NAME)
		if (rec->name[k++] != '\0')
			goto bad;
	return 0;
bad:
	errno = EBADMSG;
	return -1;
}

/*
 * The header once more, as it read when the table was opened: a file
 * rewritten under us (another header, or none) is noticed before its
 * records are trusted.
 */
static int
header_same(const struct quota_table *t)
{
	struct index_header h;

	if (read_at(t->fd, &h, sizeof h, 0) == -1)
		return -1;
	if (memcmp(&h, &t->hdr, sizeof h) != 0) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

/*
 * A binary search over the index file, a pread per step (about 17 for
 * 100,000 users).  Each record read must sort between the two that
 * bound the search so far, else the file is not the sorted one upgate
 * wrote.  0 with *rec found, 1 when the user is not named, -1 with errno.
 */
static int
index_find(const struct quota_table *t, const char *user,
    struct quota_rec *rec)
{
	char   lo_name[REC_NAME] = "", hi_name[REC_NAME] = "";
	size_t lo = 0, hi = t->n, mid;
	int    c;

	if (header_same(t) == -1)
		return -1;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rec_read(t, mid, rec) == -1)
			return -1;
		if ((lo > 0 && strncmp(rec->name, lo_name, REC_NAME) <= 0) ||
		    (hi < t->n && strncmp(rec->name, hi_name, REC_NAME) >= 0)) {
			errno = EBADMSG;
			return -1;
		}
		if ((c = strncmp(user, rec->name, REC_NAME)) == 0)
			return 0;
		if (c < 0) {
			hi = mid;
			memcpy(hi_name, rec->name, REC_NAME);
		} else {
			lo = mid + 1;
			memcpy(lo_name, rec->name, REC_NAME);
		}
	}
	return 1;
}

/* Compares a user name with a record, never reading past the record. */
static int
key_cmp(const void *key, const void *rec)
{
	return strncmp(key, ((const struct quota_rec *)rec)->name, REC_NAME);
}

struct quota_rule
quota_lookup(const struct quota_table *t, const char *user)
{
	struct quota_rule       r = { QUOTA_UNLIMITED, 0, 0 };
	const struct quota_rec *rec = NULL;
	struct quota_rec        found;
	int                     rc;

	if (t == NULL || user == NULL)
		return r;
	if (t->n > 0 && strnlen(user, REC_NAME) < REC_NAME) {
		if (t->fd == -1)
			rec = bsearch(user, t->rec, t->n, sizeof *rec, key_cmp);
		else if ((rc = index_find(t, user, &found)) == 0)
			rec = &found;
		else if (rc == -1) {
			/* nothing granted on a failure, should it go unchecked */
			r.limit = 0;
			r.error = errno;
			return r;
		}
	}
	if (rec != NULL) {
		r.limit = rec->limit;
		r.named = 1;
	} else if (t->has_star)
		r.limit = t->star;
	return r;
}

size_t
quota_table_count(const struct quota_table *t)
{
	return t == NULL ? 0 : t->n;
}

const char *
quota_table_user(struct quota_table *t, size_t i)
{
	if (t == NULL || i >= t->n)
		return NULL;
	if (t->fd == -1)
		return t->rec[i].name;
	/* the header again where a listing starts, as a lookup does */
	if ((i == 0 && header_same(t) == -1) ||
	    rec_read(t, i, &t->scratch) == -1)
		return NULL;
	return t->scratch.name;
}

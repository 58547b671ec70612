/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * ledger_lease: the interface's dispatch for resumable uploads' leases
 * (ledger.h, "Resumable uploads"), and their ids.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "names.h"
#include "relpath.h"

int
upload_id_valid(const char *id)
{
	size_t i;

	for (i = 0; i < UPLOAD_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return id[i] == '\0';
}

/* 128 bits from the kernel's random source, as 32 lowercase hex digits. */
static int
id_make(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char     raw[UPLOAD_ID_LEN / 2];
	size_t            i;

	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -1;
	for (i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[UPLOAD_ID_LEN] = '\0';
	return 0;
}

/* What every backend may take for granted of an upload's state. */
static int
upload_sane(const struct upload *u)
{
	return names_user_valid(u->owner) && upload_id_valid(u->id) &&
	    (u->folder[0] == '\0' || relpath_valid(u->folder, 0)) &&
	    names_file_valid(u->name, strlen(u->name)) &&
	    relpath_valid(u->tmp, 1) && u->length >= 0 && u->offset >= 0 &&
	    u->offset <= u->length &&
	    strcspn(u->metadata, "\r\n") == strlen(u->metadata);
}

enum ledger_err
ledger_lease_begin(struct ledger *l, struct reservation *r, struct upload *u)
{
	enum ledger_err err;

	snprintf(u->owner, sizeof u->owner, "%s", r->user);
	u->finished = 0;
	u->held = 0;
	if (id_make(u->id) == -1) {
		ledger_cause(l, "getrandom");
		ledger_release_reservation(l, r);
		return LEDGER_IO;
	}
	if (l->ops == NULL || r->id == 0 || !upload_sane(u)) {
		ledger_release_reservation(l, r);
		return LEDGER_IO;
	}
	if ((err = l->ops->lease_begin(l, r, u)) != LEDGER_OK)
		ledger_release_reservation(l, r);
	ledger_reservation_init(r);
	return err;
}

int
ledger_upload_get(struct ledger *l, const char *user, const char *id,
    struct upload *out)
{
	memset(out, 0, sizeof *out);
	if (l->ops == NULL || !names_user_valid(user))
		return -1;
	if (!upload_id_valid(id))
		return 1;
	return l->ops->upload_get(l, user, id, out);
}

enum ledger_err
ledger_upload_lock(struct ledger *l, struct upload *u)
{
	if (l->ops == NULL || !upload_id_valid(u->id) || u->held != 0)
		return LEDGER_IO;
	return l->ops->upload_lock(l, u);
}

void
ledger_upload_unlock(struct ledger *l, struct upload *u)
{
	if (l != NULL && l->ops != NULL && u->held != 0)
		l->ops->upload_unlock(l, u);
	u->held = 0;
}

enum ledger_err
ledger_upload_put(struct ledger *l, const struct upload *u)
{
	if (l->ops == NULL || !upload_sane(u))
		return LEDGER_IO;
	return l->ops->upload_put(l, u);
}

enum ledger_err
ledger_upload_finish(struct ledger *l, struct upload *u)
{
	enum ledger_err err;

	if (l->ops == NULL || !upload_sane(u) || u->offset != u->length)
		return LEDGER_IO;
	if ((err = l->ops->upload_finish(l, u)) == LEDGER_OK)
		u->finished = 1;
	return err;
}

enum ledger_err
ledger_each_upload(struct ledger *l, const char *user,
    int (*fn)(void *, const struct upload *), void *arg)
{
	if (l->ops == NULL || (user != NULL && !names_user_valid(user)))
		return LEDGER_IO;
	return l->ops->each_upload(l, user, fn, arg);
}

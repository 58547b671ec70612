/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * digest: Upload-Checksum (tus 1.0.0, "checksum" extension) with
 * Nettle's generic hash interface (nettle-meta.h).  Nettle rather than
 * libcrypto or libgcrypt: a well-kept library (GnuTLS's) whose headers
 * are the same for every architecture, so that make m32 compiles this
 * file without 32-bit development packages (OpenSSL's opensslconf.h and
 * libgpg-error's gpg-error.h are per architecture), and one that libpq
 * loads already on Debian.
 */
#include <stdlib.h>
#include <string.h>

#include <nettle/nettle-meta.h>

#include "base64.h"
#include "digest.h"

void
digest_init(struct digest *d)
{
	memset(d, 0, sizeof *d);
}

static const struct nettle_hash *
algorithm(const char *name, size_t len)
{
	if (len == 4 && memcmp(name, "sha1", 4) == 0)
		return &nettle_sha1;
	if (len == 6 && memcmp(name, "sha256", 6) == 0)
		return &nettle_sha256;
	if (len == 3 && memcmp(name, "md5", 3) == 0)
		return &nettle_md5;
	return NULL;
}

int
digest_start(struct digest *d, const char *header)
{
	const char               *sp = strchr(header, ' ');
	const struct nettle_hash *h;
	long                      n;

	digest_release(d);
	if (sp == NULL || (h = algorithm(header, (size_t)(sp - header))) ==
	    NULL)
		return -1;
	n = base64_decode(sp + 1, strlen(sp + 1), d->want, sizeof d->want);
	if (n < 0 || (unsigned long)n != h->digest_size)
		return -1;
	d->want_len = (size_t)n;
	if ((d->ctx = malloc(h->context_size)) == NULL)
		return -2;
	d->hash = h;
	h->init(d->ctx);
	return 0;
}

int
digest_update(struct digest *d, const void *buf, size_t len)
{
	const struct nettle_hash *h = d->hash;

	if (d->ctx != NULL)
		h->update(d->ctx, len, buf);
	return 0;
}

int
digest_matches(struct digest *d)
{
	const struct nettle_hash *h = d->hash;
	unsigned char             got[DIGEST_MAX];

	if (d->ctx == NULL)
		return 1;
	if (h->digest_size > sizeof got)
		return -1;
	h->digest(d->ctx, h->digest_size, got);
	return h->digest_size == d->want_len &&
	    memcmp(got, d->want, d->want_len) == 0;
}

void
digest_release(struct digest *d)
{
	free(d->ctx);
	d->ctx = NULL;
	d->hash = NULL;
}

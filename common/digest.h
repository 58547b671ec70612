/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * digest: tus's Upload-Checksum (upgate(8), "Resumable uploads"): the
 * algorithm and the expected digest from the header, the body's digest
 * as it streams, from Nettle (digest.c says why).
 */
#ifndef UPGATE_DIGEST_H
#define UPGATE_DIGEST_H

#include <stddef.h>

#define DIGEST_MAX 64		/* bytes of the largest digest kept */
#define DIGEST_ALGORITHMS "sha1,sha256,md5"

struct digest {
	void         *ctx;		/* the hash's context, owned; NULL: none */
	const void   *hash;		/* its struct nettle_hash */
	unsigned char want[DIGEST_MAX];
	size_t        want_len;
};

void digest_init(struct digest *);	/* none */

/*
 * Parses "ALGORITHM BASE64" (sha1, sha256, md5) and starts the digest:
 * 0; -1 for another algorithm, a malformed header, or a digest of the
 * wrong length; -2 when out of memory.
 */
int  digest_start(struct digest *, const char *header);
int  digest_update(struct digest *, const void *buf, size_t len);	/* 0/-1 */
/* 1 when the body's digest is the expected one, 0 when not, -1 on failure. */
int  digest_matches(struct digest *);
void digest_release(struct digest *);	/* safe twice */

#endif

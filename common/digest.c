/*
 * digest: Upload-Checksum (tus 1.0.0, "checksum" extension) with
 * libcrypto's EVP interface.  libcrypto rather than libgcrypt: libpq
 * links it already, so it adds no library to a host.
 */
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"
#include "digest.h"

void
digest_init(struct digest *d)
{
	memset(d, 0, sizeof *d);
}

static const EVP_MD *
algorithm(const char *name, size_t len)
{
	if (len == 4 && memcmp(name, "sha1", 4) == 0)
		return EVP_sha1();
	if (len == 6 && memcmp(name, "sha256", 6) == 0)
		return EVP_sha256();
	if (len == 3 && memcmp(name, "md5", 3) == 0)
		return EVP_md5();
	return NULL;
}

int
digest_start(struct digest *d, const char *header)
{
	const char   *sp = strchr(header, ' ');
	const EVP_MD *md;
	long          n;

	digest_release(d);
	if (sp == NULL || (md = algorithm(header, (size_t)(sp - header))) ==
	    NULL)
		return -1;
	n = base64_decode(sp + 1, strlen(sp + 1), d->want, sizeof d->want);
	if (n != EVP_MD_get_size(md))
		return -1;
	d->want_len = (size_t)n;
	if ((d->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(d->ctx, md, NULL) != 1) {
		digest_release(d);
		return -2;
	}
	return 0;
}

int
digest_update(struct digest *d, const void *buf, size_t len)
{
	if (d->ctx == NULL)
		return 0;
	return EVP_DigestUpdate(d->ctx, buf, len) == 1 ? 0 : -1;
}

int
digest_matches(struct digest *d)
{
	unsigned char got[EVP_MAX_MD_SIZE];
	unsigned int  len = 0;

	if (d->ctx == NULL)
		return 1;
	if (EVP_DigestFinal_ex(d->ctx, got, &len) != 1)
		return -1;
	return len == d->want_len && memcmp(got, d->want, len) == 0;
}

void
digest_release(struct digest *d)
{
	EVP_MD_CTX_free(d->ctx);	/* NULL: nothing */
	d->ctx = NULL;
}

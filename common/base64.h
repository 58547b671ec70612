/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * base64: the decoder of RFC 4648 §4 (padded), for tus's Upload-Metadata
 * and Upload-Checksum (upgate(8), "Resumable uploads").
 */
#ifndef UPGATE_BASE64_H
#define UPGATE_BASE64_H

#include <stddef.h>

/*
 * Decodes the n characters at in (padded to a multiple of 4, no white
 * space) into out, of size bytes: the decoded length, or -1 when the
 * text is not base64 or does not fit.  Allocates nothing.
 */
long base64_decode(const char *in, size_t n, unsigned char *out,
    size_t size);

#endif

/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * davxml: the request bodies of WebDAV (RFC 4918 §14): PROPFIND's
 * allprop, propname or prop, and PROPPATCH's propertyupdate, reduced to
 * what upgate answers — which kind, and the (namespace, name) of each
 * property named.  Fed in pieces as the body arrives; bounded in memory;
 * entity declarations refused outright (upgate(8), "WebDAV").
 */
#ifndef UPGATE_DAVXML_H
#define UPGATE_DAVXML_H

#include <stddef.h>

#define DAVXML_BODY_MAX  65536	/* a larger body: 413 (upgate(8)) */
#define DAVXML_PROPS_MAX 256	/* properties kept; more are ignored */

enum davxml_err {
	DAVXML_OK = 0,
	DAVXML_MALFORMED,	/* not well-formed, namespace error, wrong root: 400 */
	DAVXML_ENTITY,		/* an entity declaration (XXE, billion laughs): 400 */
	DAVXML_TOO_LARGE,	/* more than DAVXML_BODY_MAX bytes: 413 */
	DAVXML_NOMEM,		/* out of memory, or the parser's bound: 500 */
	DAVXML__MAX
};
const char *davxml_strerror(enum davxml_err);

enum davxml_kind {
	DAVXML_ALLPROP,		/* also an empty body (RFC 4918 §9.1) */
	DAVXML_PROPNAME,
	DAVXML_PROP,		/* the props listed */
	DAVXML_PROPERTYUPDATE,	/* PROPPATCH: the props set or removed */
	DAVXML_KIND__MAX
};

/* Which document the body must be. */
enum davxml_root {
	DAVXML_ROOT_PROPFIND,
	DAVXML_ROOT_PROPERTYUPDATE
};

/* A property's name; both strings point into the owning struct davxml. */
struct davxml_prop {
	const char *ns;		/* "" when in no namespace */
	const char *name;
};

struct davxml;

/*
 * A parser for a body whose root must be root.  The caller owns it and
 * frees it with davxml_free.  NULL when out of memory.
 */
struct davxml *davxml_new(enum davxml_root root);
void           davxml_free(struct davxml *);	/* accepts NULL */

/*
 * Feeds (buf, len), the next bytes of the body.  Errors are sticky: once
 * one is returned, every later call returns it.
 */
enum davxml_err davxml_feed(struct davxml *, const char *buf, size_t len);

/*
 * Ends the body (an empty one is allprop for PROPFIND, malformed for
 * PROPPATCH).  Then the results below are valid until davxml_free.
 */
enum davxml_err davxml_finish(struct davxml *);

enum davxml_kind          davxml_kind(const struct davxml *);
size_t                    davxml_nprops(const struct davxml *);
const struct davxml_prop *davxml_props(const struct davxml *);

#endif

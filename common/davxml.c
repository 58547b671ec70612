/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * davxml: WebDAV request bodies through expat.
 *
 * Why expat rather than libxml2: it streams (the body is fed as it
 * arrives, in pieces of any size, so nothing waits for the whole body),
 * it has no network code at all, it never loads an external entity unless
 * a handler is set (none is), its 2.4 and later releases bound entity
 * expansion (billion laughs), and it is small and well kept in Debian.
 * On top of that: every entity declaration stops the parse (400), the
 * body is bounded (DAVXML_BODY_MAX) and so is what the parser may
 * gate_allocate (MEM_MAX), and so is the depth of elements.
 */
#include <expat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "davxml.h"

#define MEM_MAX   (2 * 1024 * 1024)	/* what one parser may allocate */
#define DEPTH_MAX 64			/* nesting of elements */
#define POOL_SIZE (2 * DAVXML_BODY_MAX)	/* the names kept */
#define NS_SEP    '\n'		/* between namespace and local name */

/* What an element on the way down is, for the ones that matter. */
enum role {
	ROLE_OTHER,		/* ignored, with everything in it */
	ROLE_ROOT,
	ROLE_PROP,		/* DAV:prop: its children are properties */
	ROLE_SETREMOVE		/* DAV:set or DAV:remove of a propertyupdate */
};

struct davxml {
	XML_Parser          parser;
	enum davxml_root    root;
	enum davxml_err     err;
	int                 kind;	/* enum davxml_kind, -1: none yet */
	size_t              fed;	/* body bytes so far */
	size_t              mem;	/* bytes the parser holds */
	int                 mem_capped;	/* an allocation passed MEM_MAX */
	unsigned            depth;
	enum role           roles[DEPTH_MAX + 1];
	size_t              nprops;
	struct davxml_prop  props[DAVXML_PROPS_MAX];
	size_t              pool_len;
	char                pool[POOL_SIZE];
};

static const char *const errors[DAVXML__MAX] = {
	[DAVXML_OK] = "no error",
	[DAVXML_MALFORMED] = "malformed XML or not the expected document",
	[DAVXML_ENTITY] = "an entity declaration",
	[DAVXML_TOO_LARGE] = "a body larger than allowed",
	[DAVXML_NOMEM] = "out of memory",
};

const char *
davxml_strerror(enum davxml_err e)
{
	return e < DAVXML__MAX ? errors[e] : "unknown error";
}

/*
 * expat's memory suite carries no user pointer: the parser being called
 * is this thread's `current`, set around every call into expat.  Each
 * block carries its size in front, so that realloc and free can count.
 */
static _Thread_local struct davxml *current;

union header {
	size_t      size;
	max_align_t align;
};

static void *
counted_malloc(size_t size)
{
	union header *h;

	if (current != NULL && (size > MEM_MAX || current->mem + size > MEM_MAX)) {
		current->mem_capped = 1;
		return NULL;
	}
	if ((h = malloc(sizeof *h + size)) == NULL)
		return NULL;
	h->size = size;
	if (current != NULL)
		current->mem += size;
	return h + 1;
}

static void
counted_free(void *p)
{
	union header *h;

	if (p == NULL)
		return;
	h = (union header *)p - 1;
	if (current != NULL)
		current->mem -= h->size < current->mem ? h->size : current->mem;
	free(h);
}

static void *
counted_realloc(void *p, size_t size)
{
	union header *h;
	void         *n;

	if (p == NULL)
		return counted_malloc(size);
	h = (union header *)p - 1;
	if ((n = counted_malloc(size)) == NULL)
		return NULL;
	memcpy(n, p, h->size < size ? h->size : size);
	counted_free(p);
	return n;
}

static const XML_Memory_Handling_Suite suite = {
	counted_malloc, counted_realloc, counted_free
};

static void
fail(struct davxml *x, enum davxml_err e)
{
	if (x->err == DAVXML_OK)
		x->err = e;
	(void)XML_StopParser(x->parser, XML_FALSE);
}

/* Splits expat's "NAMESPACE\nlocal" (or "local") into ns and local. */
static const char *
split_name(const char *name, size_t *nslen)
{
	const char *sep = strchr(name, NS_SEP);

	*nslen = sep != NULL ? (size_t)(sep - name) : 0;
	return sep != NULL ? sep + 1 : name;
}

static int
is_dav(const char *name, const char *local)
{
	size_t      nslen;
	const char *l = split_name(name, &nslen);

	return nslen == 4 && memcmp(name, "DAV:", 4) == 0 &&
	    strcmp(l, local) == 0;
}

/* Copies (s, n) into the pool, NUL-terminated; NULL when it is full. */
static const char *
keep(struct davxml *x, const char *s, size_t n)
{
	char *out;

	if (n >= POOL_SIZE - x->pool_len)
		return NULL;
	out = x->pool + x->pool_len;
	memcpy(out, s, n);
	out[n] = '\0';
	x->pool_len += n + 1;
	return out;
}

/*
 * A property named in a DAV:prop.  Its namespace is shared with the
 * previous property's when equal (a long namespace declared once and
 * used by many names costs its bytes once).  Past DAVXML_PROPS_MAX, or a
 * full pool, more properties are ignored.
 */
static void
add_prop(struct davxml *x, const char *name)
{
	size_t              nslen;
	const char         *local = split_name(name, &nslen);
	struct davxml_prop *p, *prev;

	if (x->nprops == DAVXML_PROPS_MAX)
		return;
	p = &x->props[x->nprops];
	prev = x->nprops > 0 ? p - 1 : NULL;
	if (prev != NULL && strlen(prev->ns) == nslen &&
	    memcmp(prev->ns, name, nslen) == 0)
		p->ns = prev->ns;
	else
		p->ns = keep(x, name, nslen);
	p->name = keep(x, local, strlen(local));
	if (p->ns != NULL && p->name != NULL)
		x->nprops++;
}

/* PROPFIND's one choice (RFC 4918 §14.20); a second, different one: 400. */
static void
choose(struct davxml *x, enum davxml_kind kind)
{
	if (x->kind != -1 && x->kind != (int)kind) {
		fail(x, DAVXML_MALFORMED);
		return;
	}
	x->kind = (int)kind;
}

/* A child of the root of a propfind. */
static enum role
propfind_child(struct davxml *x, const char *name)
{
	if (is_dav(name, "allprop"))
		choose(x, DAVXML_ALLPROP);
	else if (is_dav(name, "propname"))
		choose(x, DAVXML_PROPNAME);
	else if (is_dav(name, "prop")) {
		choose(x, DAVXML_PROP);
		return ROLE_PROP;
	}
	return ROLE_OTHER;	/* DAV:include and unknown elements (§17) */
}

static enum role
role_of(struct davxml *x, enum role parent, const char *name)
{
	if (x->depth == 1) {
		if (is_dav(name, x->root == DAVXML_ROOT_PROPFIND ?
		    "propfind" : "propertyupdate"))
			return ROLE_ROOT;
		fail(x, DAVXML_MALFORMED);
		return ROLE_OTHER;
	}
	if (parent == ROLE_ROOT && x->root == DAVXML_ROOT_PROPFIND)
		return propfind_child(x, name);
	if (parent == ROLE_ROOT)
		return is_dav(name, "set") || is_dav(name, "remove") ?
		    ROLE_SETREMOVE : ROLE_OTHER;
	if (parent == ROLE_SETREMOVE && is_dav(name, "prop"))
		return ROLE_PROP;
	if (parent == ROLE_PROP)
		add_prop(x, name);
	return ROLE_OTHER;
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct davxml *x = ud;
	enum role      parent;

	(void)atts;
	if (++x->depth > DEPTH_MAX) {
		fail(x, DAVXML_MALFORMED);
		return;
	}
	parent = x->depth > 1 ? x->roles[x->depth - 1] : ROLE_OTHER;
	x->roles[x->depth] = role_of(x, parent, name);
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	struct davxml *x = ud;

	(void)name;
	if (x->depth > 0)
		x->depth--;
}

/*
 * Any entity declaration, general or parameter, internal or external:
 * refused before it can be used (XXE, billion laughs; upgate(8)).
 */
static void XMLCALL
on_entity(void *ud, const XML_Char *name, int is_param,
    const XML_Char *value, int value_len, const XML_Char *base,
    const XML_Char *system_id, const XML_Char *public_id,
    const XML_Char *notation)
{
	(void)name; (void)is_param; (void)value; (void)value_len;
	(void)base; (void)system_id; (void)public_id; (void)notation;
	fail(ud, DAVXML_ENTITY);
}

struct davxml *
davxml_new(enum davxml_root root)
{
	const XML_Char sep[] = { NS_SEP, '\0' };
	struct davxml *x;

	if ((x = calloc(1, sizeof *x)) == NULL)
		return NULL;
	x->root = root;
	x->kind = root == DAVXML_ROOT_PROPERTYUPDATE ? DAVXML_PROPERTYUPDATE : -1;
	current = x;
	x->parser = XML_ParserCreate_MM(NULL, &suite, sep);
	current = NULL;
	if (x->parser == NULL) {
		free(x);
		return NULL;
	}
	XML_SetUserData(x->parser, x);
	XML_SetElementHandler(x->parser, on_start, on_end);
	XML_SetEntityDeclHandler(x->parser, on_entity);
	/* the default, said aloud: no external DTD or parameter entity */
	(void)XML_SetParamEntityParsing(x->parser, XML_PARAM_ENTITY_PARSING_NEVER);
	return x;
}

void
davxml_free(struct davxml *x)
{
	if (x == NULL)
		return;
	current = x;
	XML_ParserFree(x->parser);
	current = NULL;
	free(x);
}

/* One call into expat; its failure becomes the first error kept. */
static enum davxml_err
parse(struct davxml *x, const char *buf, size_t len, int final)
{
	enum XML_Status st;

	current = x;
	st = XML_Parse(x->parser, buf, (int)len, final);
	current = NULL;
	if (st == XML_STATUS_ERROR && x->err == DAVXML_OK)
		x->err = x->mem_capped ? DAVXML_TOO_LARGE :
		    XML_GetErrorCode(x->parser) == XML_ERROR_NO_MEMORY ?
		    DAVXML_NOMEM : DAVXML_MALFORMED;
	return x->err;
}

enum davxml_err
davxml_feed(struct davxml *x, const char *buf, size_t len)
{
	if (x->err != DAVXML_OK)
		return x->err;
	if (len > DAVXML_BODY_MAX - x->fed) {
		x->err = DAVXML_TOO_LARGE;
		return x->err;
	}
	x->fed += len;
	return len == 0 ? DAVXML_OK : parse(x, buf, len, 0);
}

enum davxml_err
davxml_finish(struct davxml *x)
{
	if (x->err != DAVXML_OK)
		return x->err;
	if (x->fed == 0) {
		/* RFC 4918 §9.1: no body is allprop */
		if (x->root == DAVXML_ROOT_PROPFIND)
			x->kind = DAVXML_ALLPROP;
		else
			x->err = DAVXML_MALFORMED;
		return x->err;
	}
	if (parse(x, NULL, 0, 1) != DAVXML_OK)
		return x->err;
	if (x->kind == -1)	/* a propfind naming none of the three */
		x->err = DAVXML_MALFORMED;
	return x->err;
}

enum davxml_kind
davxml_kind(const struct davxml *x)
{
	return x->kind < 0 ? DAVXML_ALLPROP : (enum davxml_kind)x->kind;
}

size_t
davxml_nprops(const struct davxml *x)
{
	return x->nprops;
}

const struct davxml_prop *
davxml_props(const struct davxml *x)
{
	return x->props;
}

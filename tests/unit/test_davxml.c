/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Tests of common/davxml.c: PROPFIND and PROPPATCH bodies (RFC 4918
 * §14.20, §14.19), and the bodies upgate(8) refuses ("WebDAV"): entity
 * declarations (XXE, billion laughs), namespace errors, bodies over
 * 64 KiB.  Every case is fed whole, one byte at a time and split at every
 * offset, and gives the same transcript each way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "davxml.h"

static const char *const kinds[DAVXML_KIND__MAX] = {
	"allprop", "propname", "prop", "update"
};

/*
 * The result as one string: "error NAME", or the kind and each property
 * as " {ns}name".
 */
static void
transcript(struct davxml *x, enum davxml_err e, char *out, size_t size)
{
	const struct davxml_prop *p = davxml_props(x);
	size_t i, len;

	if (e != DAVXML_OK) {
		snprintf(out, size, "error %s", davxml_strerror(e));
		return;
	}
	snprintf(out, size, "%s", kinds[davxml_kind(x)]);
	for (i = 0; i < davxml_nprops(x); i++) {
		len = strlen(out);
		snprintf(out + len, size - len, " {%s}%s", p[i].ns, p[i].name);
	}
}

/* Feeds body in pieces of step bytes, the first piece first bytes long. */
static void
run(enum davxml_root root, const char *body, size_t len, size_t first,
    size_t step, char *out, size_t size)
{
	struct davxml  *x = davxml_new(root);
	enum davxml_err e = DAVXML_OK;
	size_t          at = 0, n;

	CU_ASSERT_FATAL(x != NULL);
	while (at < len && e == DAVXML_OK) {
		n = at == 0 ? first : step;
		if (n > len - at)
			n = len - at;
		e = davxml_feed(x, body + at, n);
		at += n;
	}
	if (e == DAVXML_OK)
		e = davxml_finish(x);
	transcript(x, e, out, size);
	davxml_free(x);
}

static void
check(enum davxml_root root, const char *body, const char *want)
{
	char   got[4096];
	size_t len = strlen(body), i;

	run(root, body, len, len, len, got, sizeof got);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "\n%s\n  got  %s\n  want %s\n", body, got, want);
	CU_ASSERT_STRING_EQUAL(got, want);
	run(root, body, len, 1, 1, got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, want);
	for (i = 1; i < len; i++) {
		run(root, body, len, i, len, got, sizeof got);
		CU_ASSERT_STRING_EQUAL(got, want);
	}
}

#define PF DAVXML_ROOT_PROPFIND
#define PU DAVXML_ROOT_PROPERTYUPDATE
#define HEAD "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"

static const struct {
	enum davxml_root root;
	const char      *body;
	const char      *want;
} cases[] = {
	/* RFC 4918 §9.1: no body is allprop */
	{ PF, "", "allprop" },
	{ PF, HEAD "<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>",
	    "allprop" },
	{ PF, "<propfind xmlns=\"DAV:\"><propname/></propfind>", "propname" },
	{ PF, "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/>"
	    "<D:resourcetype/></D:prop></D:propfind>",
	    "prop {DAV:}getetag {DAV:}resourcetype" },
	/* rclone and Nextcloud name properties of their own */
	{ PF, "<d:propfind xmlns:d=\"DAV:\" xmlns:oc=\"http://owncloud.org/ns\">"
	    "<d:prop><d:getlastmodified/><oc:checksums/>"
	    "<oc:permissions/></d:prop></d:propfind>",
	    "prop {DAV:}getlastmodified {http://owncloud.org/ns}checksums "
	    "{http://owncloud.org/ns}permissions" },
	{ PF, "<D:propfind xmlns:D=\"DAV:\"><D:prop>"
	    "<D:quota-available-bytes/><D:quota-used-bytes/></D:prop>"
	    "</D:propfind>",
	    "prop {DAV:}quota-available-bytes {DAV:}quota-used-bytes" },
	/* a property in no namespace */
	{ PF, "<D:propfind xmlns:D=\"DAV:\"><D:prop><plain/></D:prop>"
	    "</D:propfind>", "prop {}plain" },
	/* allprop with include; unknown elements anywhere are ignored (§17) */
	{ PF, "<D:propfind xmlns:D=\"DAV:\"><D:allprop/><D:include>"
	    "<D:supportedlock/></D:include></D:propfind>", "allprop" },
	{ PF, "<D:propfind xmlns:D=\"DAV:\" xmlns:x=\"urn:x\"><x:what/>"
	    "<D:prop><D:getetag><x:inside/></D:getetag></D:prop>"
	    "<D:unknown/></D:propfind>", "prop {DAV:}getetag" },
	/* text and comments are nothing */
	{ PF, "<!-- c --><D:propfind xmlns:D=\"DAV:\">\n  <D:prop>\n"
	    "    <D:displayname/>\n  </D:prop>\n</D:propfind>\n",
	    "prop {DAV:}displayname" },
	/* not well-formed, or not a propfind */
	{ PF, "<D:propfind xmlns:D=\"DAV:\"><D:prop>", "error malformed XML "
	    "or not the expected document" },
	{ PF, "garbage", "error malformed XML or not the expected document" },
	{ PF, "<propfind><allprop/></propfind>",
	    "error malformed XML or not the expected document" },
	{ PF, "<D:propertyupdate xmlns:D=\"DAV:\"/>",
	    "error malformed XML or not the expected document" },
	{ PF, "<D:propfind xmlns:D=\"DAV:\"/>",
	    "error malformed XML or not the expected document" },
	{ PF, "<D:propfind xmlns:D=\"DAV:\"><D:allprop/><D:propname/>"
	    "</D:propfind>", "error malformed XML or not the expected "
	    "document" },
	/* namespace errors */
	{ PF, "<D:propfind xmlns:D=\"DAV:\" xmlns:x=\"\"><D:allprop/>"
	    "</D:propfind>", "error malformed XML or not the expected "
	    "document" },
	{ PF, "<D:propfind xmlns:D=\"DAV:\"><y:prop/></D:propfind>",
	    "error malformed XML or not the expected document" },
	/* XXE: an external entity, never fetched */
	{ PF, HEAD "<!DOCTYPE D:propfind [<!ENTITY x SYSTEM "
	    "\"file:///etc/passwd\">]><D:propfind xmlns:D=\"DAV:\"><D:prop>"
	    "<D:getetag>&x;</D:getetag></D:prop></D:propfind>",
	    "error an entity declaration" },
	{ PF, "<!DOCTYPE D:propfind [<!ENTITY % p SYSTEM "
	    "\"http://127.0.0.1:1/x.dtd\"> %p;]><D:propfind xmlns:D=\"DAV:\">"
	    "<D:allprop/></D:propfind>", "error an entity declaration" },
	/* billion laughs */
	{ PF, "<!DOCTYPE l [<!ENTITY a \"lol\"><!ENTITY b \"&a;&a;&a;&a;&a;"
	    "&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
	    "]><D:propfind xmlns:D=\"DAV:\"><D:prop><D:x>&c;</D:x></D:prop>"
	    "</D:propfind>", "error an entity declaration" },
	/* an external DTD is not read; an entity it would declare is unknown */
	{ PF, "<!DOCTYPE D:propfind SYSTEM \"http://127.0.0.1:1/x.dtd\">"
	    "<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>",
	    "allprop" },
	{ PF, "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:x>&x;</D:x></D:prop>"
	    "</D:propfind>", "error malformed XML or not the expected "
	    "document" },
	/* PROPPATCH: the properties set or removed */
	{ PU, "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:Z=\"urn:z\"><D:set>"
	    "<D:prop><Z:Author>Jim</Z:Author></D:prop></D:set><D:remove>"
	    "<D:prop><Z:Copyright/></D:prop></D:remove></D:propertyupdate>",
	    "update {urn:z}Author {urn:z}Copyright" },
	{ PU, "", "error malformed XML or not the expected document" },
	{ PU, "<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>",
	    "error malformed XML or not the expected document" },
};

static void
test_cases(void)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check(cases[i].root, cases[i].body, cases[i].want);
}

/* A body over 64 KiB is refused as it passes the bound, whatever it is. */
static void
test_too_large(void)
{
	static char     body[DAVXML_BODY_MAX + 2];
	struct davxml  *x = davxml_new(PF);
	const char     *open = "<D:propfind xmlns:D=\"DAV:\"><D:allprop/>";

	CU_ASSERT_FATAL(x != NULL);
	memset(body, ' ', sizeof body);
	memcpy(body, open, strlen(open));
	CU_ASSERT_EQUAL(davxml_feed(x, body, DAVXML_BODY_MAX), DAVXML_OK);
	CU_ASSERT_EQUAL(davxml_feed(x, body, 1), DAVXML_TOO_LARGE);
	/* sticky */
	CU_ASSERT_EQUAL(davxml_feed(x, "", 0), DAVXML_TOO_LARGE);
	CU_ASSERT_EQUAL(davxml_finish(x), DAVXML_TOO_LARGE);
	davxml_free(x);
}

/* Deep nesting is refused, not a growing stack. */
static void
test_deep(void)
{
	char           *body = malloc(60000);
	struct davxml  *x = davxml_new(PF);
	size_t          len = 0;

	CU_ASSERT_FATAL(body != NULL && x != NULL);
	len += (size_t)sprintf(body, "<D:propfind xmlns:D=\"DAV:\"><D:prop>");
	while (len + 3 < 60000)
		len += (size_t)sprintf(body + len, "<a>");
	CU_ASSERT_EQUAL(davxml_feed(x, body, len), DAVXML_MALFORMED);
	davxml_free(x);
	free(body);
}

/* More properties than kept: the first DAVXML_PROPS_MAX, no error. */
static void
test_many_props(void)
{
	char          *body = malloc(DAVXML_BODY_MAX);
	struct davxml *x = davxml_new(PF);
	size_t         len = 0, i;

	CU_ASSERT_FATAL(body != NULL && x != NULL);
	len += (size_t)sprintf(body, "<D:propfind xmlns:D=\"DAV:\" "
	    "xmlns:x=\"urn:a-long-namespace\"><D:prop>");
	for (i = 0; i < 1000; i++)
		len += (size_t)sprintf(body + len, "<x:p%zu/>", i);
	len += (size_t)sprintf(body + len, "</D:prop></D:propfind>");
	CU_ASSERT_EQUAL(davxml_feed(x, body, len), DAVXML_OK);
	CU_ASSERT_EQUAL(davxml_finish(x), DAVXML_OK);
	CU_ASSERT_EQUAL(davxml_nprops(x), DAVXML_PROPS_MAX);
	CU_ASSERT_STRING_EQUAL(davxml_props(x)[255].name, "p255");
	/* one namespace kept once */
	CU_ASSERT_PTR_EQUAL(davxml_props(x)[0].ns, davxml_props(x)[255].ns);
	davxml_free(x);
	free(body);
}

static void
test_free_null(void)
{
	davxml_free(NULL);
	CU_ASSERT_STRING_EQUAL(davxml_strerror(DAVXML__MAX), "unknown error");
}

static CU_TestInfo tests[] = {
	{ "bodies, whole and in pieces", test_cases },
	{ "a body over 64 KiB", test_too_large },
	{ "deep nesting", test_deep },
	{ "many properties", test_many_props },
	{ "free NULL", test_free_null },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "davxml", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)

/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * test_format: format names and Accept negotiation (upgate(8), Responses, RFC 9110
 * §12.5.1), as one table, plus hostile headers.
 */
#include <stdlib.h>
#include <string.h>

#include "cu_main.h"
#include "format.h"

#define J  "application/json"
#define AX "application/xml; charset=utf-8"
#define TX "text/xml; charset=utf-8"
#define H  "text/html; charset=utf-8"
#define T  "text/plain; charset=utf-8"

#define FIREFOX "text/html,application/xhtml+xml,application/xml;q=0.9," \
	"image/avif,image/webp,*/*;q=0.8"
#define CHROMIUM "text/html,application/xhtml+xml,application/xml;q=0.9," \
	"image/avif,image/webp,image/apng,*/*;q=0.8," \
	"application/signed-exchange;v=b3;q=0.7"
#define SAFARI "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

static const struct {
	const char *accept;
	enum format def;
	const char *type;	/* the expected Content-Type */
} cases[] = {
	/* no preference: the default, in its own media type */
	{ NULL, FORMAT_JSON, J },
	{ "", FORMAT_HTML, H },
	{ "*/*", FORMAT_JSON, J },		/* curl */
	{ "*/*", FORMAT_XML, AX },
	{ "*/*", FORMAT_TEXT, T },
	{ "*/*", FORMAT_HTML, H },
	/* one type named */
	{ "application/json", FORMAT_HTML, J },
	{ "application/xml", FORMAT_JSON, AX },
	{ "text/xml", FORMAT_JSON, TX },
	{ "text/html", FORMAT_JSON, H },
	{ "text/plain", FORMAT_JSON, T },
	/* XML echoes the type the client named */
	{ "text/xml, application/xml", FORMAT_JSON, TX },
	{ "application/xml, text/xml", FORMAT_JSON, AX },
	{ "application/xml;q=0.5, text/xml", FORMAT_JSON, TX },
	{ "text/xml;q=0.9, application/xml;q=0.8", FORMAT_XML, TX },
	{ "text/xml, application/xml", FORMAT_XML, TX },
	/* browsers */
	{ FIREFOX, FORMAT_JSON, H },
	{ CHROMIUM, FORMAT_JSON, H },
	{ SAFARI, FORMAT_TEXT, H },
	{ CHROMIUM, FORMAT_XML, H },
	/* equal q: the default if named, else more specific, else first */
	{ "text/html, application/json", FORMAT_JSON, J },
	{ "application/json, text/html", FORMAT_HTML, H },
	{ "text/html, application/json", FORMAT_XML, H },
	{ "application/json, text/html", FORMAT_XML, J },
	{ "text/html, */*", FORMAT_JSON, H },
	{ "*/*, text/plain", FORMAT_HTML, T },
	{ "*/*;q=0.5, application/json;q=0.5", FORMAT_HTML, J },
	{ "text/*, text/html", FORMAT_JSON, H },
	/* wildcards over types */
	{ "text/*", FORMAT_JSON, T },
	{ "text/*", FORMAT_HTML, H },
	{ "text/*", FORMAT_XML, TX },
	{ "application/*", FORMAT_TEXT, J },
	{ "application/*", FORMAT_XML, AX },
	{ "text/*;q=0.5, text/html;q=0", FORMAT_HTML, T },
	{ "text/html;q=0.5, text/*", FORMAT_HTML, T },
	/* q-values */
	{ "text/html;q=0.5, application/json;q=0.6", FORMAT_HTML, J },
	{ "text/html, application/json;q=0.9, */*;q=0.1", FORMAT_JSON, H },
	{ "text/html;q=0.001, application/xml;q=0", FORMAT_JSON, H },
	{ "text/html;q=1.000, text/plain", FORMAT_JSON, H },
	{ "text/html;Q=0.2, text/plain;q=0.1", FORMAT_JSON, H },
	{ "text/html;q=0.50, text/plain;q=0.5", FORMAT_JSON, H },
	{ "text/plain;q=0.499, text/html;q=0.5", FORMAT_JSON, H },
	/* q=0 excludes; nothing acceptable: the default */
	{ "application/json;q=0", FORMAT_JSON, J },
	{ "text/html;q=0", FORMAT_HTML, H },
	{ "application/json;q=0, */*", FORMAT_JSON, AX },
	{ "text/html;q=0, text/*", FORMAT_HTML, T },
	{ "image/png", FORMAT_HTML, H },
	{ "application/xhtml+xml", FORMAT_TEXT, T },
	/* invalid weights (RFC 9110 qvalue): the member is skipped */
	{ "text/html;q=2, text/plain", FORMAT_JSON, T },
	{ "text/html;q=-1, text/plain;q=0.5", FORMAT_JSON, T },
	{ "text/html;q=1e999, text/plain;q=0.1", FORMAT_JSON, T },
	{ "text/html;q=0.0001, text/plain;q=0.1", FORMAT_JSON, T },
	{ "text/html;q=1.001", FORMAT_JSON, J },
	{ "text/html;q=1.5, text/plain;q=0.1", FORMAT_JSON, T },
	{ "text/html;q=.5, text/plain;q=0.1", FORMAT_JSON, T },
	{ "text/html;q=, text/plain;q=0.1", FORMAT_JSON, T },
	{ "text/html;q=\"0.5\"", FORMAT_JSON, J },
	{ "text/html;q =0.5, text/plain;q=0.4", FORMAT_JSON, T },
	/* syntax: case, white space, parameters, empty members */
	{ "TEXT/HTML", FORMAT_JSON, H },
	{ "Application/XML", FORMAT_JSON, AX },
	{ "TEXT/XML", FORMAT_JSON, TX },
	{ "  text/plain  ;  q=0.5 ,\ttext/html;q=0.4", FORMAT_JSON, T },
	{ ",,, ,text/html,", FORMAT_JSON, H },
	{ "text/html;", FORMAT_JSON, H },
	{ "text/html;;level=1", FORMAT_JSON, H },
	{ "text/html;level=1;q=0.5, text/plain;q=0.4", FORMAT_JSON, H },
	{ "text/html; charset=\"a,b\"; q=0.3, text/plain;q=0.2", FORMAT_JSON, H },
	{ "text/html;a=\"x\\\"y\";q=0.3, text/plain;q=0.2", FORMAT_JSON, H },
	{ "text/html;a=\"x, text/plain", FORMAT_JSON, J },
	{ "*/html", FORMAT_JSON, J },
	{ "text/", FORMAT_JSON, J },
	{ "/html", FORMAT_JSON, J },
	{ "text", FORMAT_JSON, J },
	{ "text/html garbage, text/plain;q=0.1", FORMAT_JSON, T },
	{ "text/html\x01, text/plain;q=0.1", FORMAT_JSON, T },
	{ "text/html;q=0.5;q=0.1, text/plain;q=0.2", FORMAT_JSON, T },
	{ "application/json;q=0.1, application/json", FORMAT_XML, J },
};

static void
test_negotiate_table(void)
{
	struct negotiated n;
	size_t            i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		n = format_negotiate(cases[i].accept, cases[i].def);
		if (strcmp(n.content_type, cases[i].type) != 0)
			fprintf(stderr, "\nrow %zu: \"%s\" gave %s\n", i,
			    cases[i].accept ? cases[i].accept : "(null)",
			    n.content_type);
		CU_ASSERT_STRING_EQUAL(n.content_type, cases[i].type);
	}
}

/* The format always agrees with the type. */
static void
test_negotiate_format(void)
{
	static const struct {
		const char *type;
		enum format format;
	} kinds[] = {
		{ J, FORMAT_JSON }, { AX, FORMAT_XML }, { TX, FORMAT_XML },
		{ H, FORMAT_HTML }, { T, FORMAT_TEXT },
	};
	struct negotiated n;
	size_t            i, k;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		n = format_negotiate(cases[i].accept, cases[i].def);
		for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
			if (strcmp(n.content_type, kinds[k].type) == 0)
				CU_ASSERT_EQUAL(n.format, kinds[k].format);
	}
}

/* An out-of-range default falls back to JSON rather than failing. */
static void
test_negotiate_bad_default(void)
{
	struct negotiated n = format_negotiate("*/*", (enum format)42);

	CU_ASSERT_EQUAL(n.format, FORMAT_JSON);
	CU_ASSERT_STRING_EQUAL(n.content_type, J);
}

static char *
repeat(const char *unit, size_t times, const char *tail)
{
	size_t len = strlen(unit), tlen = strlen(tail), i;
	char  *s = malloc(len * times + tlen + 1);

	if (s == NULL)
		return NULL;
	for (i = 0; i < times; i++)
		memcpy(s + i * len, unit, len);
	memcpy(s + len * times, tail, tlen + 1);
	return s;
}

/* 10^5 members and megabytes of junk: still one linear pass. */
static void
test_negotiate_hostile(void)
{
	static const struct {
		const char *unit;
		const char *tail;
		enum format def;
		const char *type;
	} big[] = {
		{ "text/html;q=0.1,", "application/xml;q=0.2", FORMAT_JSON, AX },
		{ ",", "text/plain", FORMAT_JSON, T },
		{ ";", "", FORMAT_HTML, H },
		{ "text/html;a=\"\\\\\",", "text/plain;q=0.9", FORMAT_JSON, H },
		{ "\"", "text/plain", FORMAT_JSON, J },
		{ "x/y;q=1e999,", "*/*", FORMAT_TEXT, T },
		{ "*/*;q=0,", "text/xml;q=0.001", FORMAT_JSON, TX },
	};
	struct negotiated n;
	size_t            i;
	char             *s;

	for (i = 0; i < sizeof big / sizeof big[0]; i++) {
		s = repeat(big[i].unit, 100000, big[i].tail);
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		n = format_negotiate(s, big[i].def);
		CU_ASSERT_STRING_EQUAL(n.content_type, big[i].type);
		free(s);
	}
}

static void
test_format_names(void)
{
	static const char *const names[] = { "json", "xml", "html", "text" };
	enum format f;
	int         i;

	for (i = 0; i < FORMAT__MAX; i++) {
		CU_ASSERT_EQUAL(format_parse(names[i], &f), 0);
		CU_ASSERT_EQUAL(f, (enum format)i);
	}
	f = FORMAT_HTML;
	CU_ASSERT_EQUAL(format_parse("JSON", &f), -1);
	CU_ASSERT_EQUAL(format_parse("", &f), -1);
	CU_ASSERT_EQUAL(format_parse("yaml", &f), -1);
	CU_ASSERT_EQUAL(format_parse("json ", &f), -1);
	CU_ASSERT_EQUAL(format_parse(NULL, &f), -1);
	CU_ASSERT_EQUAL(f, FORMAT_HTML);
}

static CU_TestInfo negotiate_tests[] = {
	{ "table", test_negotiate_table },
	{ "format matches type", test_negotiate_format },
	{ "bad default", test_negotiate_bad_default },
	{ "hostile headers", test_negotiate_hostile },
	CU_TEST_INFO_NULL
};

static CU_TestInfo name_tests[] = {
	{ "parse", test_format_names },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "format_negotiate", NULL, NULL, NULL, NULL, negotiate_tests },
	{ "format names", NULL, NULL, NULL, NULL, name_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)

/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * format: the four body formats and the choice among them from an Accept
 * header (upgate(8), Responses, RFC 9110 §12.5.1).
 */
#ifndef UPGATE_FORMAT_H
#define UPGATE_FORMAT_H

enum format {
	FORMAT_JSON,
	FORMAT_XML,
	FORMAT_HTML,
	FORMAT_TEXT,
	FORMAT__MAX
};

/* "json", "xml", "html", "text" into *out; -1 if unknown. */
int         format_parse(const char *name, enum format *out);

/*
 * The chosen format and the media type to send.  For XML the type is
 * application/xml or text/xml, whichever the client named (application/xml
 * when it named neither).
 */
struct negotiated {
	enum format format;
	/* static string; "; charset=utf-8" on all but application/json */
	const char *content_type;
};

/*
 * Picks the format that accept (may be NULL) prefers: q-values honoured,
 * q=0 excludes; among equal q, def if named by its own media type, else the
 * more specific range, else the first listed; a wildcard alone states no
 * preference; with no preference or nothing acceptable, def.  Never fails:
 * malformed members are skipped.
 */
struct negotiated format_negotiate(const char *accept, enum format def);

#endif

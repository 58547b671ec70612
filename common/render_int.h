/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * render_int: what the render files share, private to them.  The JSON
 * tree of a body (render_json.c) is the one model of its fields: the XML
 * and text forms walk it, so they mirror the JSON by construction.
 */
#ifndef UPGATE_RENDER_INT_H
#define UPGATE_RENDER_INT_H

#include <stdint.h>
#include <json.h>

#include "buf.h"
#include "render.h"
#include "reply.h"

#define UPGRADE_DESCRIPTION "Upgrade your storage plan to get more space."
#define CLEANUP_DESCRIPTION "Delete files you no longer need to free space."

/* 1 when the reply has quota figures with a finite limit. */
int     render_limited(const struct reply *);

/* max(0, limit - used - reserved), without overflow; limit finite. */
int64_t render_available(const struct quota_figures *);

/*
 * percentage used in tenths of a percent, rounded down (so "100.0" means
 * full); 1000 for a limit of 0; -1 when unlimited.
 */
int64_t render_tenths(const struct quota_figures *);

/* "95.0" for 950 tenths: into out, which holds at least 24 bytes. */
void    render_tenths_text(int64_t tenths, char *out, size_t outlen);

/*
 * Appends the len bytes at s, with every invalid UTF-8 sequence and every
 * control character (C0, DEL, C1) and XML non-character replaced by
 * U+FFFD, so that any format stays well-formed; with xml, also escaped
 * for XML and HTML.  render_add_str does the same for a string (NULL is
 * the empty string).
 */
void    render_add_clean(struct buf *, const char *s, size_t len, int xml);
void    render_add_str(struct buf *, const char *s, int xml);

/*
 * The body of the reply as a json-c tree (upgate(8), Responses).  The caller owns it
 * and calls json_object_put once.  NULL on allocation failure.
 */
struct json_object *render_json_tree(const struct reply *,
    const struct render_options *);

/* The bodies, appended to out; the tree is only read. */
void render_json(struct json_object *tree, struct buf *out);
void render_xml(const struct reply *, struct json_object *tree,
    struct buf *out);
void render_text(const struct reply *, struct json_object *tree,
    struct buf *out);
void render_html(const struct reply *, const struct render_options *,
    struct buf *out);

#endif

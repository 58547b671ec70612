/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * decide_copy: the rows of upgate(8) "DECISIONS" as COPY and MOVE meet
 * them ("WebDAV"; RFC 4918 §9.8, §9.9): the source, Depth, the
 * Destination, Overwrite, and for COPY the space and the quota of the
 * bytes it copies, decided before any byte is copied.  Pure, as
 * decide() is.
 */
#include "decide.h"

/* What the request names, the source: there, and not the user's folder. */
static struct verdict
copy_source(const struct facts *f, struct verdict v)
{
	if (f->names_root)
		return decide_refuse_by(v, REASON_FORBIDDEN, 8, CAUSE_ROOT);
	if (f->if_match == IF_MATCH_FAILED)
		return decide_refuse_by(v, REASON_PRECONDITION_FAILED, 8,
		    CAUSE_IF_MATCH);
	switch (f->target) {
	case TARGET_FOLDER:
		/* a folder moves whole; it is copied whole or alone */
		if (f->depth == DEPTH_BAD || f->depth == DEPTH_1 ||
		    (f->method == METHOD_MOVE && f->depth != DEPTH_INFINITY))
			return decide_refuse_by(v, REASON_BAD_REQUEST, 8,
			    CAUSE_BAD_DEPTH);
		return v;
	case TARGET_EXISTS:
		if (f->trailing_slash)
			return decide_refuse_by(v, REASON_CONFLICT, 9,
			    CAUSE_NOT_FOLDER_NAMED);
		/* any Depth but a bad one is 0 for a file */
		if (f->depth == DEPTH_BAD)
			return decide_refuse_by(v, REASON_BAD_REQUEST, 8,
			    CAUSE_BAD_DEPTH);
		return v;
	case TARGET_NEW:
	case TARGET_PARENT_MISSING:
		return decide_refuse_by(v, REASON_NOT_FOUND, 8, CAUSE_NOTHING);
	default:
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_TARGET_SPECIAL);
	}
}

/* The Destination header, as davdest.c read it. */
static struct verdict
copy_dest(const struct facts *f, struct verdict v)
{
	switch (f->dest) {
	case DEST_NONE:
		return decide_refuse_by(v, REASON_BAD_REQUEST, 8,
		    CAUSE_NO_DESTINATION);
	case DEST_ROOT:
		return decide_refuse_by(v, REASON_FORBIDDEN, 8, CAUSE_ROOT);
	case DEST_OUTSIDE:
		return decide_refuse_by(v, REASON_FORBIDDEN, 8,
		    CAUSE_DEST_OUTSIDE);
	case DEST_BAD:
		return decide_refuse_by(v, REASON_BAD_REQUEST, 8,
		    CAUSE_DEST_BAD);
	default:
		break;
	}
	if ((v = decide_walk(f->dest_target, CAUSE_DEST_BAD, v)).reason !=
	    REASON_NONE)
		return v;
	/* create_parents does not apply to a Destination */
	if (f->dest_target == TARGET_PARENT_MISSING)
		return decide_refuse_by(v, REASON_CONFLICT, 9, CAUSE_NO_PARENT);
	if (f->dest_place == PLACE_SAME)
		return decide_refuse_by(v, REASON_FORBIDDEN, 8, CAUSE_DEST_SAME);
	if (f->dest_place != PLACE_APART)
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_DEST_INSIDE);
	return v;
}

/* What is at the Destination already: replaced only when allowed. */
static struct verdict
copy_overwrite(const struct facts *f, const struct policy *p,
    struct verdict v)
{
	if (f->dest_target == TARGET_NEW)
		return v;
	if (f->dest_target == TARGET_EXISTS && f->dest_slash)
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_NOT_FOLDER_NAMED);
	if (!f->overwrite)
		return decide_refuse_by(v, REASON_PRECONDITION_FAILED, 8,
		    CAUSE_DEST_EXISTS);
	if (!p->allow_overwrite)
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_NO_OVERWRITE);
	if (f->dest_target == TARGET_NOT_REGULAR)
		return decide_refuse_by(v, REASON_CONFLICT, 9,
		    CAUSE_TARGET_SPECIAL);
	return v;
}

struct verdict
decide_copy(const struct facts *f, const struct policy *p, struct verdict v)
{
	if ((v = copy_source(f, v)).reason != REASON_NONE ||
	    (v = copy_dest(f, v)).reason != REASON_NONE ||
	    (v = copy_overwrite(f, p, v)).reason != REASON_NONE ||
	    f->method == METHOD_MOVE || !(f->known & KNOW_SPACE))
		return v;
	/* COPY is charged like an upload of what it copies */
	v.length = f->copy_bytes;
	return decide_room_rows(f, v);
}

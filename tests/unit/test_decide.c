/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * Every row of upgate(8), Decisions that decide() owns (1 to 11), as a table: the
 * facts, the settings, and the reason and row expected.
 */
#include <stdint.h>
#include <string.h>

#include "cu_main.h"
#include "decide.h"
#include "quota.h"

#define ALL (KNOW_CONFIG | KNOW_IDENTITY | KNOW_TARGET | KNOW_SPACE | KNOW_QUOTA)
#define MiB (1024 * 1024)

/* A PUT of 100 bytes by a known user with room everywhere. */
static struct facts
base(void)
{
	struct facts f;

	memset(&f, 0, sizeof f);
	f.known = ALL;
	f.method = METHOD_PUT;
	f.config_ok = 1;
	f.identity_ok = 1;
	f.length_text = "100";
	f.multipart_ok = 1;
	f.target = TARGET_NEW;
	f.free_space = 10 * MiB;
	f.min_free = 0;
	f.limit = QUOTA_UNLIMITED;
	return f;
}

static const struct policy defaults = { 0, 0, 1, 0 };

struct row {
	const char     *what;
	void          (*change)(struct facts *, struct policy *);
	enum reason     reason;
	int             row;
};

#define CHANGE(name, body) \
	static void name(struct facts *f, struct policy *p) \
	{ (void)f; (void)p; body; }

CHANGE(nothing, )
CHANGE(patch, f->method = METHOD_PATCH)
CHANGE(options, f->method = METHOD_OPTIONS; f->config_ok = 0)
CHANGE(options_unknown_config, f->method = METHOD_OPTIONS; f->known = 0)
CHANGE(other_bad_config, f->method = METHOD_OTHER; f->config_ok = 0)
CHANGE(bad_config, f->config_ok = 0; f->identity_ok = 0)
CHANGE(config_unknown, f->known = 0; f->config_ok = 0)
CHANGE(no_identity, f->identity_ok = 0; f->length_text = NULL)
CHANGE(get_no_identity, f->method = METHOD_GET; f->identity_ok = 0)
CHANGE(identity_unknown, f->known = KNOW_CONFIG; f->length_text = NULL)
CHANGE(no_length, f->length_text = NULL)
CHANGE(empty_length, f->length_text = "")
CHANGE(no_length_allowed, f->length_text = NULL; p->allow_unknown_length = 1)
CHANGE(no_length_allowed_huge, f->length_text = NULL;
    p->allow_unknown_length = 1; f->free_space = 0; f->limit = 0)
CHANGE(minus, f->length_text = "-1")
CHANGE(plus, f->length_text = "+5")
CHANGE(space, f->length_text = " 5")
CHANGE(hex, f->length_text = "0x10")
CHANGE(huge, f->length_text = "9223372036854775808")
CHANGE(max_ok, f->length_text = "9223372036854775807";
    f->free_space = INT64_MAX)
CHANGE(zeros, f->length_text = "007")
CHANGE(too_large, p->max_upload_size = 99)
CHANGE(at_limit, p->max_upload_size = 100)
CHANGE(too_large_bad_path, p->max_upload_size = 99;
    f->target = TARGET_BAD_NAME)
CHANGE(post_form, f->method = METHOD_POST)
CHANGE(post_not_form, f->method = METHOD_POST; f->multipart_ok = 0)
CHANGE(put_not_form, f->multipart_ok = 0)
CHANGE(bad_name, f->target = TARGET_BAD_NAME; f->free_space = 0)
CHANGE(symlink, f->target = TARGET_SYMLINK)
CHANGE(foreign, f->target = TARGET_FOREIGN)
CHANGE(delete_missing, f->method = METHOD_DELETE; f->length_text = NULL)
CHANGE(delete_no_parent, f->method = METHOD_DELETE;
    f->target = TARGET_PARENT_MISSING)
CHANGE(delete_not_folder, f->method = METHOD_DELETE;
    f->target = TARGET_NOT_FOLDER)
CHANGE(delete_not_regular, f->method = METHOD_DELETE;
    f->target = TARGET_NOT_REGULAR)
CHANGE(delete_exists, f->method = METHOD_DELETE; f->target = TARGET_EXISTS;
    f->free_space = 0; f->limit = 0)
CHANGE(inm_exists, f->if_none_match_star = 1; f->target = TARGET_EXISTS)
CHANGE(inm_new, f->if_none_match_star = 1)
CHANGE(inm_exists_no_overwrite, f->if_none_match_star = 1;
    f->target = TARGET_EXISTS; p->allow_overwrite = 0)
CHANGE(parent_missing, f->target = TARGET_PARENT_MISSING)
CHANGE(parent_created, f->target = TARGET_PARENT_MISSING;
    p->create_parents = 1)
CHANGE(not_folder, f->target = TARGET_NOT_FOLDER; p->create_parents = 1)
CHANGE(not_regular, f->target = TARGET_NOT_REGULAR)
CHANGE(no_overwrite, f->target = TARGET_EXISTS; p->allow_overwrite = 0)
CHANGE(overwrite, f->target = TARGET_EXISTS)
CHANGE(no_overwrite_full, f->target = TARGET_EXISTS;
    p->allow_overwrite = 0; f->free_space = 0)
CHANGE(disk_full, f->free_space = 99)
CHANGE(disk_exact, f->free_space = 100)
CHANGE(min_free, f->free_space = 1000; f->min_free = 901)
CHANGE(min_free_over, f->free_space = 1000; f->min_free = 5000)
CHANGE(disk_unknown, f->known &= ~(unsigned)(KNOW_SPACE | KNOW_QUOTA);
    f->free_space = 0)
CHANGE(empty_body_full, f->length_text = "0"; f->free_space = 0;
    f->limit = 0)
CHANGE(disk_before_quota, f->free_space = 0; f->limit = 0)
CHANGE(post_disk_margin, f->method = METHOD_POST;
    f->length_text = "65636"; f->free_space = 100)
CHANGE(post_disk_over, f->method = METHOD_POST;
    f->length_text = "65637"; f->free_space = 100)
CHANGE(quota_over, f->limit = 1000; f->used = 901)
CHANGE(quota_exact, f->limit = 1000; f->used = 900)
CHANGE(quota_reserved, f->limit = 1000; f->used = 800; f->reserved = 101)
CHANGE(quota_zero, f->limit = 0)
CHANGE(quota_replace_smaller, f->limit = 1000; f->used = 1000;
    f->target = TARGET_EXISTS; f->recorded = 100)
CHANGE(quota_replace_larger, f->limit = 1000; f->used = 1000;
    f->target = TARGET_EXISTS; f->recorded = 99)
CHANGE(quota_already_over, f->limit = 10; f->used = 50;
    f->target = TARGET_EXISTS; f->recorded = 200)
CHANGE(post_quota_margin, f->method = METHOD_POST;
    f->length_text = "66536"; f->limit = 1000)
CHANGE(post_quota_over, f->method = METHOD_POST;
    f->length_text = "66537"; f->limit = 1000)
CHANGE(quota_unknown, f->known &= ~(unsigned)KNOW_QUOTA; f->limit = 0)
CHANGE(get_full, f->method = METHOD_GET; f->length_text = NULL;
    f->free_space = 0; f->limit = 0)
CHANGE(head_bad_target, f->method = METHOD_HEAD; f->target = TARGET_SYMLINK)
CHANGE(bad_user, f->identity_ok = 0; f->identity_given = 1)
CHANGE(too_long, f->target = TARGET_TOO_LONG; f->free_space = 0)
CHANGE(delete_too_long, f->method = METHOD_DELETE;
    f->target = TARGET_TOO_LONG)
CHANGE(target_folder, f->target = TARGET_NOT_REGULAR; f->target_folder = 1)
CHANGE(delete_folder, f->method = METHOD_DELETE;
    f->target = TARGET_NOT_REGULAR; f->target_folder = 1)
CHANGE(post_parent_missing, f->method = METHOD_POST;
    f->target = TARGET_PARENT_MISSING)
/* WebDAV (upgate(8), "WebDAV"): a folder listed at Depth 1 by default */
#define DAV(m) f->webdav = 1; f->method = (m); f->length_text = NULL; \
	f->target = TARGET_FOLDER; f->depth = DEPTH_1
CHANGE(dav_off, f->method = METHOD_PROPFIND; f->webdav = 0)
CHANGE(dav_off_mkcol, f->method = METHOD_MKCOL; f->webdav = 0;
    f->config_ok = 0)
CHANGE(pf_folder, DAV(METHOD_PROPFIND); f->free_space = 0; f->limit = 0)
CHANGE(pf_body_max, DAV(METHOD_PROPFIND); f->length_text = "65536")
CHANGE(pf_body_over, DAV(METHOD_PROPFIND); f->length_text = "65537";
    f->target = TARGET_SYMLINK)
CHANGE(pf_body_bad, DAV(METHOD_PROPFIND); f->length_text = "1e3")
CHANGE(pf_infinity, DAV(METHOD_PROPFIND); f->depth = DEPTH_INFINITY)
CHANGE(pf_file_infinity, DAV(METHOD_PROPFIND); f->depth = DEPTH_INFINITY;
    f->target = TARGET_EXISTS)
CHANGE(pf_bad_depth, DAV(METHOD_PROPFIND); f->depth = DEPTH_BAD)
CHANGE(pf_missing, DAV(METHOD_PROPFIND); f->target = TARGET_NEW)
CHANGE(pf_no_parent, DAV(METHOD_PROPFIND); f->target = TARGET_PARENT_MISSING)
CHANGE(pf_file_slash, DAV(METHOD_PROPFIND); f->target = TARGET_EXISTS;
    f->trailing_slash = 1)
CHANGE(pf_through_file, DAV(METHOD_PROPFIND); f->target = TARGET_NOT_FOLDER)
CHANGE(pf_link, DAV(METHOD_PROPFIND); f->target = TARGET_SYMLINK)
CHANGE(pf_bad_name, DAV(METHOD_PROPFIND); f->target = TARGET_BAD_NAME)
CHANGE(pf_fifo, DAV(METHOD_PROPFIND); f->target = TARGET_NOT_REGULAR)
CHANGE(pp_file, DAV(METHOD_PROPPATCH); f->target = TARGET_EXISTS;
    f->length_text = "300")
CHANGE(mk_new, DAV(METHOD_MKCOL); f->target = TARGET_NEW;
    f->free_space = 0; f->limit = 0)
CHANGE(mk_body, DAV(METHOD_MKCOL); f->target = TARGET_NEW;
    f->length_text = "1")
CHANGE(mk_empty_body, DAV(METHOD_MKCOL); f->target = TARGET_NEW;
    f->length_text = "0")
CHANGE(mk_exists, DAV(METHOD_MKCOL))
CHANGE(mk_file, DAV(METHOD_MKCOL); f->target = TARGET_EXISTS)
CHANGE(mk_file_slash, DAV(METHOD_MKCOL); f->target = TARGET_EXISTS;
    f->trailing_slash = 1)
CHANGE(mk_no_parent, DAV(METHOD_MKCOL); f->target = TARGET_PARENT_MISSING)
CHANGE(get_file, DAV(METHOD_GET); f->target = TARGET_EXISTS)
CHANGE(get_folder, DAV(METHOD_GET); f->depth = DEPTH_INFINITY)
CHANGE(get_missing, DAV(METHOD_GET); f->target = TARGET_NEW)
CHANGE(head_link, DAV(METHOD_HEAD); f->target = TARGET_SYMLINK)
/* DELETE of a folder, COPY and MOVE (upgate(8), "WebDAV") */
#define DELDIR f->webdav = 1; f->method = METHOD_DELETE; f->dav_path = 1; \
	f->length_text = NULL; f->target = TARGET_FOLDER
CHANGE(del_folder, DELDIR)
CHANGE(del_root, DELDIR; f->names_root = 1)
CHANGE(del_file_slash, DELDIR; f->target = TARGET_EXISTS;
    f->trailing_slash = 1)
CHANGE(del_missing, DELDIR; f->target = TARGET_NEW)
#define CP(m) DAV(m); f->target = TARGET_EXISTS; f->depth = DEPTH_INFINITY; \
	f->dest = DEST_PATH; f->dest_target = TARGET_NEW; f->overwrite = 1
CHANGE(cp_new, CP(METHOD_COPY); f->copy_bytes = 100)
CHANGE(cp_no_dest, CP(METHOD_COPY); f->dest = DEST_NONE)
CHANGE(cp_outside, CP(METHOD_COPY); f->dest = DEST_OUTSIDE)
CHANGE(cp_bad_dest, CP(METHOD_COPY); f->dest = DEST_BAD)
CHANGE(cp_dest_root, CP(METHOD_MOVE); f->dest = DEST_ROOT)
CHANGE(cp_root, CP(METHOD_COPY); f->target = TARGET_FOLDER;
    f->names_root = 1)
CHANGE(cp_same, CP(METHOD_COPY); f->dest_place = PLACE_SAME)
CHANGE(cp_inside, CP(METHOD_MOVE); f->target = TARGET_FOLDER;
    f->dest_place = PLACE_INSIDE)
CHANGE(cp_link, CP(METHOD_COPY); f->dest_target = TARGET_SYMLINK)
CHANGE(cp_no_parent, CP(METHOD_COPY); f->dest_target = TARGET_PARENT_MISSING;
    p->create_parents = 1)
CHANGE(cp_no_overwrite, CP(METHOD_COPY); f->dest_target = TARGET_EXISTS;
    f->overwrite = 0)
CHANGE(cp_overwrite_off, CP(METHOD_MOVE); f->dest_target = TARGET_FOLDER;
    p->allow_overwrite = 0)
CHANGE(cp_over_folder, CP(METHOD_MOVE); f->dest_target = TARGET_FOLDER)
CHANGE(cp_quota, CP(METHOD_COPY); f->copy_bytes = 100; f->limit = 150;
    f->used = 60)
CHANGE(cp_quota_replacing, CP(METHOD_COPY); f->copy_bytes = 100;
    f->limit = 150; f->used = 60; f->dest_target = TARGET_EXISTS;
    f->recorded = 20)
CHANGE(cp_disk, CP(METHOD_COPY); f->copy_bytes = 100; f->free_space = 99)
CHANGE(mv_no_room, CP(METHOD_MOVE); f->copy_bytes = 100; f->free_space = 0;
    f->limit = 0)
CHANGE(cp_folder_depth1, CP(METHOD_COPY); f->target = TARGET_FOLDER;
    f->depth = DEPTH_1)
CHANGE(mv_folder_depth0, CP(METHOD_MOVE); f->target = TARGET_FOLDER;
    f->depth = DEPTH_0)
CHANGE(cp_missing, CP(METHOD_COPY); f->target = TARGET_NEW)
CHANGE(cp_if_match, CP(METHOD_MOVE); f->if_match = IF_MATCH_FAILED)
CHANGE(put_if_match, f->if_match = IF_MATCH_FAILED)

/* resumable uploads (upgate(8), "Resumable uploads") */
#define TUS_CREATE_OF(f)  ((f)->method = METHOD_POST, (f)->tus = TUS_CREATE, \
    (f)->tus_version = "1.0.0", (f)->upload_length_text = "100", \
    (f)->length_text = "0", (f)->multipart_ok = 0, (f)->resumable = 1)
#define TUS_PATCH_OF(f)  ((f)->method = METHOD_PATCH, (f)->tus = TUS_URL, \
    (f)->tus_version = "1.0.0", (f)->known |= KNOW_UPLOAD, \
    (f)->upload_found = 1, (f)->upload_length = 100, \
    (f)->upload_offset = 40, (f)->upload_offset_text = "40", \
    (f)->offset_stream = 1, (f)->length_text = "60", (f)->resumable = 1)
CHANGE(tus_create, TUS_CREATE_OF(f))
CHANGE(tus_create_no_version, TUS_CREATE_OF(f); f->tus_version = NULL)
CHANGE(tus_create_old_version, TUS_CREATE_OF(f); f->tus_version = "0.2.2")
CHANGE(tus_create_no_length, TUS_CREATE_OF(f); f->upload_length_text = NULL)
CHANGE(tus_create_deferred, TUS_CREATE_OF(f); f->defer_length = 1)
CHANGE(tus_create_bad_length, TUS_CREATE_OF(f);
    f->upload_length_text = "1e3")
CHANGE(tus_create_too_large, TUS_CREATE_OF(f); p->max_upload_size = 99)
CHANGE(tus_create_bad_name, TUS_CREATE_OF(f); f->target = TARGET_BAD_NAME)
CHANGE(tus_create_no_parent, TUS_CREATE_OF(f);
    f->target = TARGET_PARENT_MISSING)
CHANGE(tus_create_disk, TUS_CREATE_OF(f); f->free_space = 99)
CHANGE(tus_create_quota, TUS_CREATE_OF(f); f->limit = 1000; f->used = 901)
CHANGE(tus_create_no_framing, TUS_CREATE_OF(f);
    f->upload_length_text = "65636"; f->free_space = 100)
CHANGE(tus_create_empty_full, TUS_CREATE_OF(f);
    f->upload_length_text = "0"; f->free_space = 0; f->limit = 0)
CHANGE(tus_create_body, TUS_CREATE_OF(f); f->offset_stream = 1;
    f->length_text = "100")
CHANGE(tus_create_body_past, TUS_CREATE_OF(f); f->offset_stream = 1;
    f->length_text = "101")
CHANGE(tus_url_get, TUS_PATCH_OF(f); f->method = METHOD_GET)
CHANGE(tus_url_put, TUS_PATCH_OF(f); f->method = METHOD_PUT)
CHANGE(tus_url_options, TUS_PATCH_OF(f); f->method = METHOD_OPTIONS;
    f->tus_version = NULL)
CHANGE(tus_url_head, TUS_PATCH_OF(f); f->method = METHOD_HEAD)
CHANGE(tus_url_head_unknown, TUS_PATCH_OF(f); f->method = METHOD_HEAD;
    f->upload_found = 0)
CHANGE(tus_url_no_version, TUS_PATCH_OF(f); f->tus_version = NULL)
CHANGE(tus_url_not_yet_found, TUS_PATCH_OF(f); f->known &= ~KNOW_UPLOAD)
CHANGE(tus_patch, TUS_PATCH_OF(f))
CHANGE(tus_patch_unknown, TUS_PATCH_OF(f); f->upload_found = 0)
CHANGE(tus_patch_type, TUS_PATCH_OF(f); f->offset_stream = 0)
CHANGE(tus_patch_offset, TUS_PATCH_OF(f); f->upload_offset_text = "39")
CHANGE(tus_patch_no_offset, TUS_PATCH_OF(f); f->upload_offset_text = NULL)
CHANGE(tus_patch_past, TUS_PATCH_OF(f); f->length_text = "61")
CHANGE(tus_patch_short, TUS_PATCH_OF(f); f->length_text = "1")
CHANGE(tus_patch_no_length, TUS_PATCH_OF(f); f->length_text = NULL)
CHANGE(tus_patch_checksum_bad, TUS_PATCH_OF(f);
    f->checksum = TUS_CHECKSUM_BAD)
CHANGE(tus_patch_checksum_ok, TUS_PATCH_OF(f);
    f->checksum = TUS_CHECKSUM_OK)
CHANGE(tus_patch_full_quota, TUS_PATCH_OF(f); f->limit = 0;
    f->free_space = 0)
CHANGE(tus_off_post, f->method = METHOD_POST; f->tus_version = "1.0.0";
    f->multipart_ok = 0)

static const struct row rows[] = {
	{ "PUT that fits",                nothing,          REASON_NONE, 0 },
	{ "PATCH",                        patch,            REASON_METHOD_NOT_ALLOWED, 1 },
	{ "PATCH with a broken config",   other_bad_config, REASON_METHOD_NOT_ALLOWED, 1 },
	{ "tus creation",                 tus_create,       REASON_NONE, 0 },
	{ "tus creation, no version",     tus_create_no_version, REASON_PRECONDITION_FAILED, 3 },
	{ "tus creation, other version",  tus_create_old_version, REASON_PRECONDITION_FAILED, 3 },
	{ "tus creation, no Upload-Length", tus_create_no_length, REASON_BAD_REQUEST, 5 },
	{ "tus creation, deferred length", tus_create_deferred, REASON_BAD_REQUEST, 5 },
	{ "tus creation, bad length",     tus_create_bad_length, REASON_BAD_REQUEST, 5 },
	{ "tus creation, too large",      tus_create_too_large, REASON_TOO_LARGE, 6 },
	{ "tus creation, bad name",       tus_create_bad_name, REASON_BAD_REQUEST, 8 },
	{ "tus creation, no parent",      tus_create_no_parent, REASON_CONFLICT, 9 },
	{ "tus creation, disk full",      tus_create_disk,  REASON_DISK_FULL, 10 },
	{ "tus creation, quota",          tus_create_quota, REASON_QUOTA_EXCEEDED, 11 },
	{ "tus creation, no form margin", tus_create_no_framing, REASON_DISK_FULL, 10 },
	{ "tus creation, empty, no room", tus_create_empty_full, REASON_NONE, 0 },
	{ "tus creation with its body",   tus_create_body,  REASON_NONE, 0 },
	{ "tus creation, body past length", tus_create_body_past, REASON_BAD_REQUEST, 5 },
	{ "GET of an upload's URL",       tus_url_get,      REASON_METHOD_NOT_ALLOWED, 1 },
	{ "PUT of an upload's URL",       tus_url_put,      REASON_METHOD_NOT_ALLOWED, 1 },
	{ "OPTIONS of an upload's URL",   tus_url_options,  REASON_OPTIONS, 1 },
	{ "HEAD of an upload",            tus_url_head,     REASON_NONE, 0 },
	{ "HEAD of an unknown upload",    tus_url_head_unknown, REASON_NOT_FOUND, 8 },
	{ "upload's URL, no version",     tus_url_no_version, REASON_PRECONDITION_FAILED, 3 },
	{ "upload's URL, not yet looked up", tus_url_not_yet_found, REASON_NONE, 0 },
	{ "PATCH that fits",              tus_patch,        REASON_NONE, 0 },
	{ "PATCH of an unknown upload",   tus_patch_unknown, REASON_NOT_FOUND, 8 },
	{ "PATCH of another type",        tus_patch_type,   REASON_UNSUPPORTED_MEDIA_TYPE, 7 },
	{ "PATCH at another offset",      tus_patch_offset, REASON_CONFLICT, 9 },
	{ "PATCH without Upload-Offset",  tus_patch_no_offset, REASON_BAD_REQUEST, 5 },
	{ "PATCH past the length",        tus_patch_past,   REASON_BAD_REQUEST, 13 },
	{ "PATCH of one byte",            tus_patch_short,  REASON_NONE, 0 },
	{ "PATCH of unknown length",      tus_patch_no_length, REASON_NONE, 0 },
	{ "PATCH, unknown checksum",      tus_patch_checksum_bad, REASON_BAD_REQUEST, 5 },
	{ "PATCH with a checksum",        tus_patch_checksum_ok, REASON_NONE, 0 },
	{ "PATCH, no room: reserved",     tus_patch_full_quota, REASON_NONE, 0 },
	{ "tus POST, resumable = no",     tus_off_post,     REASON_UNSUPPORTED_MEDIA_TYPE, 7 },
	{ "OPTIONS needs no config",      options,          REASON_OPTIONS, 1 },
	{ "PROPFIND, webdav = no",        dav_off,          REASON_METHOD_NOT_ALLOWED, 1 },
	{ "MKCOL, webdav = no, bad config", dav_off_mkcol,  REASON_METHOD_NOT_ALLOWED, 1 },
	{ "PROPFIND of a folder, no room", pf_folder,       REASON_NONE, 0 },
	{ "PROPFIND body of 64 KiB",      pf_body_max,      REASON_NONE, 0 },
	{ "PROPFIND body over 64 KiB",    pf_body_over,     REASON_TOO_LARGE, 6 },
	{ "PROPFIND length not digits",   pf_body_bad,      REASON_BAD_REQUEST, 5 },
	{ "PROPFIND folder, infinity",    pf_infinity,      REASON_FORBIDDEN, 8 },
	{ "PROPFIND file, infinity",      pf_file_infinity, REASON_NONE, 0 },
	{ "PROPFIND Depth 2",             pf_bad_depth,     REASON_BAD_REQUEST, 8 },
	{ "PROPFIND of nothing",          pf_missing,       REASON_NOT_FOUND, 8 },
	{ "PROPFIND, no parent",          pf_no_parent,     REASON_NOT_FOUND, 8 },
	{ "PROPFIND file/",               pf_file_slash,    REASON_NOT_FOUND, 8 },
	{ "PROPFIND through a file",      pf_through_file,  REASON_CONFLICT, 9 },
	{ "PROPFIND through a link",      pf_link,          REASON_FORBIDDEN, 8 },
	{ "PROPFIND of a dot name",       pf_bad_name,      REASON_BAD_REQUEST, 8 },
	{ "PROPFIND of a fifo",           pf_fifo,          REASON_CONFLICT, 9 },
	{ "PROPPATCH of a file",          pp_file,          REASON_NONE, 0 },
	{ "MKCOL, no room: folders free", mk_new,           REASON_NONE, 0 },
	{ "MKCOL with a body",            mk_body,          REASON_UNSUPPORTED_MEDIA_TYPE, 7 },
	{ "MKCOL with an empty body",     mk_empty_body,    REASON_NONE, 0 },
	{ "MKCOL of a folder",            mk_exists,        REASON_METHOD_NOT_ALLOWED, 9 },
	{ "MKCOL of a file",              mk_file,          REASON_METHOD_NOT_ALLOWED, 9 },
	{ "MKCOL of file/",               mk_file_slash,    REASON_CONFLICT, 9 },
	{ "MKCOL, no parent",             mk_no_parent,     REASON_CONFLICT, 9 },
	{ "GET of a file",                get_file,         REASON_NONE, 0 },
	{ "GET of a folder",              get_folder,       REASON_NONE, 0 },
	{ "GET of nothing",               get_missing,      REASON_NOT_FOUND, 8 },
	{ "HEAD through a link",          head_link,        REASON_FORBIDDEN, 8 },
	{ "DELETE of a folder",           del_folder,       REASON_NONE, 0 },
	{ "DELETE of the user's folder",  del_root,         REASON_FORBIDDEN, 8 },
	{ "DELETE of file/",              del_file_slash,   REASON_CONFLICT, 9 },
	{ "DELETE of nothing/",           del_missing,      REASON_NOT_FOUND, 8 },
	{ "COPY to a new name",           cp_new,           REASON_NONE, 0 },
	{ "COPY without Destination",     cp_no_dest,       REASON_BAD_REQUEST, 8 },
	{ "COPY elsewhere",               cp_outside,       REASON_FORBIDDEN, 8 },
	{ "COPY to a bad path",           cp_bad_dest,      REASON_BAD_REQUEST, 8 },
	{ "MOVE onto the user's folder",  cp_dest_root,     REASON_FORBIDDEN, 8 },
	{ "COPY of the user's folder",    cp_root,          REASON_FORBIDDEN, 8 },
	{ "COPY onto itself",             cp_same,          REASON_FORBIDDEN, 8 },
	{ "MOVE into itself",             cp_inside,        REASON_CONFLICT, 9 },
	{ "COPY through a link",          cp_link,          REASON_FORBIDDEN, 8 },
	{ "COPY, no parent, create_parents", cp_no_parent,  REASON_CONFLICT, 9 },
	{ "COPY, Overwrite: F",           cp_no_overwrite,  REASON_PRECONDITION_FAILED, 8 },
	{ "MOVE, allow_overwrite = no",   cp_overwrite_off, REASON_CONFLICT, 9 },
	{ "MOVE over a folder",           cp_over_folder,   REASON_NONE, 0 },
	{ "COPY over quota",              cp_quota,         REASON_QUOTA_EXCEEDED, 11 },
	{ "COPY replacing: the difference", cp_quota_replacing, REASON_NONE, 0 },
	{ "COPY, disk full",              cp_disk,          REASON_DISK_FULL, 10 },
	{ "MOVE costs nothing",           mv_no_room,       REASON_NONE, 0 },
	{ "COPY of a folder, Depth 1",    cp_folder_depth1, REASON_BAD_REQUEST, 8 },
	{ "MOVE of a folder, Depth 0",    mv_folder_depth0, REASON_BAD_REQUEST, 8 },
	{ "COPY of nothing",              cp_missing,       REASON_NOT_FOUND, 8 },
	{ "MOVE, If-Match fails",         cp_if_match,      REASON_PRECONDITION_FAILED, 8 },
	{ "PUT, If-Match fails",          put_if_match,     REASON_PRECONDITION_FAILED, 8 },
	{ "OPTIONS with nothing known",   options_unknown_config, REASON_OPTIONS, 1 },
	{ "broken config",                bad_config,       REASON_SERVER_ERROR, 2 },
	{ "config not read yet",          config_unknown,   REASON_NONE, 0 },
	{ "no identity before length",    no_identity,      REASON_FORBIDDEN, 3 },
	{ "GET without identity",         get_no_identity,  REASON_FORBIDDEN, 3 },
	{ "identity not known yet",       identity_unknown, REASON_NONE, 0 },
	{ "no CONTENT_LENGTH",            no_length,        REASON_LENGTH_REQUIRED, 4 },
	{ "empty CONTENT_LENGTH",         empty_length,     REASON_LENGTH_REQUIRED, 4 },
	{ "unknown length allowed",       no_length_allowed, REASON_NONE, 0 },
	{ "unknown length skips 10, 11",  no_length_allowed_huge, REASON_NONE, 0 },
	{ "length -1",                    minus,            REASON_BAD_REQUEST, 5 },
	{ "length +5",                    plus,             REASON_BAD_REQUEST, 5 },
	{ "length ' 5'",                  space,            REASON_BAD_REQUEST, 5 },
	{ "length 0x10",                  hex,              REASON_BAD_REQUEST, 5 },
	{ "length 2^63",                  huge,             REASON_BAD_REQUEST, 5 },
	{ "length 2^63-1",                max_ok,           REASON_NONE, 0 },
	{ "length 007",                   zeros,            REASON_NONE, 0 },
	{ "over max_upload_size",         too_large,        REASON_TOO_LARGE, 6 },
	{ "at max_upload_size",           at_limit,         REASON_NONE, 0 },
	{ "413 before a bad path",        too_large_bad_path, REASON_TOO_LARGE, 6 },
	{ "POST multipart",               post_form,        REASON_NONE, 0 },
	{ "POST not multipart",           post_not_form,    REASON_UNSUPPORTED_MEDIA_TYPE, 7 },
	{ "PUT of any type",              put_not_form,     REASON_NONE, 0 },
	{ "bad name before full disk",    bad_name,         REASON_BAD_REQUEST, 8 },
	{ "symlink on the path",          symlink,          REASON_FORBIDDEN, 8 },
	{ "file of another user",         foreign,          REASON_FORBIDDEN, 8 },
	{ "DELETE of a missing file",     delete_missing,   REASON_NOT_FOUND, 8 },
	{ "DELETE below a missing folder", delete_no_parent, REASON_NOT_FOUND, 8 },
	{ "DELETE through a file",        delete_not_folder, REASON_CONFLICT, 9 },
	{ "DELETE of a folder",           delete_not_regular, REASON_CONFLICT, 9 },
	{ "DELETE ignores space, quota",  delete_exists,    REASON_NONE, 0 },
	{ "If-None-Match * on a file",    inm_exists,       REASON_PRECONDITION_FAILED, 8 },
	{ "If-None-Match * on nothing",   inm_new,          REASON_NONE, 0 },
	{ "412 before 409",               inm_exists_no_overwrite, REASON_PRECONDITION_FAILED, 8 },
	{ "parent missing",               parent_missing,   REASON_CONFLICT, 9 },
	{ "parent created",               parent_created,   REASON_NONE, 0 },
	{ "file where a folder is needed", not_folder,      REASON_CONFLICT, 9 },
	{ "target is a folder",           not_regular,      REASON_CONFLICT, 9 },
	{ "no overwrite",                 no_overwrite,     REASON_CONFLICT, 9 },
	{ "overwrite",                    overwrite,        REASON_NONE, 0 },
	{ "409 before 507",               no_overwrite_full, REASON_CONFLICT, 9 },
	{ "disk full",                    disk_full,        REASON_DISK_FULL, 10 },
	{ "disk exactly enough",          disk_exact,       REASON_NONE, 0 },
	{ "min_free_space keeps room",    min_free,         REASON_DISK_FULL, 10 },
	{ "min_free_space above free",    min_free_over,    REASON_DISK_FULL, 10 },
	{ "space not known yet",          disk_unknown,     REASON_NONE, 0 },
	{ "empty body never refused",     empty_body_full,  REASON_NONE, 0 },
	{ "507 disk before quota",        disk_before_quota, REASON_DISK_FULL, 10 },
	{ "POST within framing margin",   post_disk_margin, REASON_NONE, 0 },
	{ "POST beyond framing margin",   post_disk_over,   REASON_DISK_FULL, 10 },
	{ "quota exceeded",               quota_over,       REASON_QUOTA_EXCEEDED, 11 },
	{ "quota exactly reached",        quota_exact,      REASON_NONE, 0 },
	{ "quota with reservations",      quota_reserved,   REASON_QUOTA_EXCEEDED, 11 },
	{ "quota of 0",                   quota_zero,       REASON_QUOTA_EXCEEDED, 11 },
	{ "replace with a smaller file",  quota_replace_smaller, REASON_NONE, 0 },
	{ "replace with a larger file",   quota_replace_larger, REASON_QUOTA_EXCEEDED, 11 },
	{ "replace while over the limit", quota_already_over, REASON_NONE, 0 },
	{ "POST quota within margin",     post_quota_margin, REASON_NONE, 0 },
	{ "POST quota beyond margin",     post_quota_over,  REASON_QUOTA_EXCEEDED, 11 },
	{ "quota not known yet",          quota_unknown,    REASON_NONE, 0 },
	{ "GET is never full",            get_full,         REASON_NONE, 0 },
	{ "HEAD, webdav = no: no path",   head_bad_target,  REASON_NONE, 0 },
};

static void
test_rows(void)
{
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct facts   f = base();
		struct policy  p = defaults;
		struct verdict v;

		rows[i].change(&f, &p);
		v = decide(&f, &p);
		if (v.reason != rows[i].reason || v.row != rows[i].row)
			fprintf(stderr, "\n  %s: got %s (row %d), want %s (row %d)",
			    rows[i].what, reason_name(v.reason), v.row,
			    reason_name(rows[i].reason), rows[i].row);
		CU_ASSERT_EQUAL(v.reason, rows[i].reason);
		CU_ASSERT_EQUAL(v.row, rows[i].row);
	}
}

/*
 * Which of a row's causes decided, for the message (upgate(8),
 * "Decisions"); rows with one cause, and successes, carry none.
 */
static const struct {
	const char  *what;
	void       (*change)(struct facts *, struct policy *);
	enum reason  reason;
	enum cause   cause;
} causes[] = {
	{ "no identity",             no_identity,      REASON_FORBIDDEN, CAUSE_NO_IDENTITY },
	{ "a bad user name",         bad_user,         REASON_FORBIDDEN, CAUSE_BAD_USER },
	{ "length 0x10",             hex,              REASON_BAD_REQUEST, CAUSE_BAD_LENGTH },
	{ "bad name",                bad_name,         REASON_BAD_REQUEST, CAUSE_BAD_PATH },
	{ "path too long",           too_long,         REASON_BAD_REQUEST, CAUSE_PATH_TOO_LONG },
	{ "DELETE path too long",    delete_too_long,  REASON_BAD_REQUEST, CAUSE_PATH_TOO_LONG },
	{ "symlink",                 symlink,          REASON_FORBIDDEN, CAUSE_SYMLINK },
	{ "another user's file",     foreign,          REASON_FORBIDDEN, CAUSE_FOREIGN },
	{ "DELETE of nothing",       delete_missing,   REASON_NOT_FOUND, CAUSE_MISSING },
	{ "If-None-Match *",         inm_exists,       REASON_PRECONDITION_FAILED, CAUSE_EXISTS },
	{ "parent missing",          parent_missing,   REASON_CONFLICT, CAUSE_PARENT_MISSING },
	{ "POST, folder missing",    post_parent_missing, REASON_CONFLICT, CAUSE_PARENT_MISSING },
	{ "a file in the way",       not_folder,       REASON_CONFLICT, CAUSE_NOT_FOLDER },
	{ "DELETE through a file",   delete_not_folder, REASON_CONFLICT, CAUSE_NOT_FOLDER },
	{ "PUT onto a folder",       target_folder,    REASON_CONFLICT, CAUSE_TARGET_FOLDER },
	{ "DELETE of a folder",      delete_folder,    REASON_CONFLICT, CAUSE_TARGET_FOLDER },
	{ "PUT onto a FIFO",         not_regular,      REASON_CONFLICT, CAUSE_TARGET_SPECIAL },
	{ "no overwrite",            no_overwrite,     REASON_CONFLICT, CAUSE_NO_OVERWRITE },
	{ "disk full",               disk_full,        REASON_DISK_FULL, CAUSE_NONE },
	{ "PUT that fits",           nothing,          REASON_NONE, CAUSE_NONE },
};

static void
test_causes(void)
{
	size_t i;

	for (i = 0; i < sizeof causes / sizeof causes[0]; i++) {
		struct facts   f = base();
		struct policy  p = defaults;
		struct verdict v;

		causes[i].change(&f, &p);
		v = decide(&f, &p);
		if (v.reason != causes[i].reason || v.cause != causes[i].cause)
			fprintf(stderr, "\n  %s: got %s (cause %d), want %s "
			    "(cause %d)", causes[i].what, reason_name(v.reason),
			    (int)v.cause, reason_name(causes[i].reason),
			    (int)causes[i].cause);
		CU_ASSERT_EQUAL(v.reason, causes[i].reason);
		CU_ASSERT_EQUAL(v.cause, causes[i].cause);
	}
}

/* What a refused request meant to do, by its method. */
static void
test_verbs(void)
{
	CU_ASSERT_EQUAL(method_verb(METHOD_PUT), VERB_STORE);
	CU_ASSERT_EQUAL(method_verb(METHOD_POST), VERB_STORE_FORM);
	CU_ASSERT_EQUAL(method_verb(METHOD_DELETE), VERB_DELETE);
	CU_ASSERT_EQUAL(method_verb(METHOD_GET), VERB_SHOW);
	CU_ASSERT_EQUAL(method_verb(METHOD_COPY), VERB_COPY);
	CU_ASSERT_EQUAL(method_verb(METHOD_MOVE), VERB_MOVE);
	CU_ASSERT_EQUAL(method_verb(METHOD_MKCOL), VERB_MAKE_FOLDER);
	CU_ASSERT_EQUAL(method_verb(METHOD_PROPFIND), VERB_LIST);
	CU_ASSERT_EQUAL(method_verb(METHOD_HEAD), VERB_SHOW);
	CU_ASSERT_EQUAL(method_verb(METHOD_OTHER), VERB_NONE);
	CU_ASSERT_EQUAL(method_verb(METHOD__MAX), VERB_NONE);
}

/* The figures a refusal carries for its body. */
static void
test_figures(void)
{
	struct facts   f = base();
	struct policy  p = defaults;
	struct verdict v;

	p.max_upload_size = 99;
	v = decide(&f, &p);
	CU_ASSERT_EQUAL(v.limit, 99);
	CU_ASSERT_EQUAL(v.length, 100);

	p = defaults;
	f.free_space = 1000;
	f.min_free = 940;
	v = decide(&f, &p);
	CU_ASSERT_EQUAL(v.reason, REASON_DISK_FULL);
	CU_ASSERT_EQUAL(v.available, 60);
	CU_ASSERT_EQUAL(v.shortage, 40);

	f = base();
	f.limit = 1000;
	f.used = 850;
	f.reserved = 100;
	v = decide(&f, &p);
	CU_ASSERT_EQUAL(v.reason, REASON_QUOTA_EXCEEDED);
	CU_ASSERT_EQUAL(v.limit, 1000);
	CU_ASSERT_EQUAL(v.available, 50);
	CU_ASSERT_EQUAL(v.shortage, 50);
	CU_ASSERT_EQUAL(v.charge, 100);

	f = base();
	f.limit = 1000;
	f.target = TARGET_EXISTS;
	f.recorded = 30;
	v = decide(&f, &p);
	CU_ASSERT_EQUAL(v.reason, REASON_NONE);
	CU_ASSERT_EQUAL(v.charge, 70);
}

/* Saturation: figures near 2^63 do not wrap into a wrong answer. */
static void
test_extremes(void)
{
	struct facts   f = base();
	struct policy  p = defaults;
	struct verdict v;

	f.length_text = "9223372036854775807";
	f.free_space = INT64_MAX;
	f.limit = INT64_C(1) << 62;
	f.used = INT64_MAX;
	f.reserved = INT64_MAX;
	v = decide(&f, &p);
	CU_ASSERT_EQUAL(v.reason, REASON_QUOTA_EXCEEDED);
	CU_ASSERT(v.shortage > 0);
	CU_ASSERT_EQUAL(v.available, 0);
}

static void
test_methods(void)
{
	CU_ASSERT_EQUAL(decide_method_parse("PUT"), METHOD_PUT);
	CU_ASSERT_EQUAL(decide_method_parse("put"), METHOD_OTHER);
	CU_ASSERT_EQUAL(decide_method_parse("OPTIONS"), METHOD_OPTIONS);
	CU_ASSERT_EQUAL(decide_method_parse("PATCH"), METHOD_PATCH);
	CU_ASSERT_EQUAL(decide_method_parse("patch"), METHOD_OTHER);
	CU_ASSERT_EQUAL(decide_method_parse(""), METHOD_OTHER);
	CU_ASSERT_EQUAL(decide_method_parse(NULL), METHOD_OTHER);
	CU_ASSERT_STRING_EQUAL(decide_method_name(METHOD_DELETE), "DELETE");
	CU_ASSERT_EQUAL(decide_space_available(10, 20), 0);
	CU_ASSERT_EQUAL(decide_space_available(20, 5), 15);
}

/* Asked again once bytes came (KNOW_BODY): exact, and what is held. */
static void
test_again(void)
{
	struct facts   f = base();
	struct verdict v;

	f.known |= KNOW_BODY;
	f.length_text = NULL;		/* rows 4 to 7 were passed */
	f.method = METHOD_POST;
	f.limit = 1000;
	f.used = 400;
	f.body_length = 600;		/* no framing allowance now */
	v = decide(&f, &defaults);
	CU_ASSERT_EQUAL(v.reason, REASON_NONE);
	CU_ASSERT_EQUAL(v.length, 600);
	f.body_length = 601;
	v = decide(&f, &defaults);
	CU_ASSERT_EQUAL(v.reason, REASON_QUOTA_EXCEEDED);
	CU_ASSERT_EQUAL(v.row, 11);
	CU_ASSERT_EQUAL(v.shortage, 1);
	/* the space a request holds counts as free for it */
	f = base();
	f.known |= KNOW_BODY;
	f.body_length = 5000;
	f.free_space = 1000;
	f.min_free = 500;
	f.space_held = 4500;
	CU_ASSERT_EQUAL(decide(&f, &defaults).reason, REASON_NONE);
	f.space_held = 4499;
	v = decide(&f, &defaults);
	CU_ASSERT_EQUAL(v.reason, REASON_DISK_FULL);
	CU_ASSERT_EQUAL(v.row, 10);
	/* an allocation that left less than min_free: refused */
	f.space_held = 5000;
	f.free_space = 499;
	CU_ASSERT_EQUAL(decide(&f, &defaults).reason, REASON_DISK_FULL);
	/* an empty body is never refused */
	f.body_length = 0;
	CU_ASSERT_EQUAL(decide(&f, &defaults).reason, REASON_NONE);
}

/* The one computation of the quota left, and the room of a request. */
static void
test_room(void)
{
	struct facts f = base();

	CU_ASSERT_EQUAL(decide_quota_left(1000, 300, 200), 500);
	CU_ASSERT_EQUAL(decide_quota_left(1000, 900, 200), 0);
	CU_ASSERT_EQUAL(decide_quota_left(1000, INT64_MAX, INT64_MAX), 0);
	CU_ASSERT_EQUAL(decide_quota_left(INT64_MAX, INT64_MAX - 1, 0), 1);
	CU_ASSERT_EQUAL(decide_quota_left(1000, -5, -7), 1000);	/* forged */
	f.limit = 1000;
	f.used = 100;
	f.reserved = 100;
	f.free_space = 10000;
	CU_ASSERT_EQUAL(decide_room(&f), 800);
	f.free_space = 300;
	f.min_free = 100;
	f.space_held = 50;
	CU_ASSERT_EQUAL(decide_room(&f), 250);
	f.limit = QUOTA_UNLIMITED;
	CU_ASSERT_EQUAL(decide_room(&f), 250);
}

static CU_TestInfo decide_tests[] = {
	{ "every row of the table", test_rows },
	{ "the cause of each refusal", test_causes },
	{ "the verb of each method", test_verbs },
	{ "asked again with the body's bytes", test_again },
	{ "the quota left and a request's room", test_room },
	{ "refusal figures", test_figures },
	{ "figures near 2^63", test_extremes },
	{ "methods", test_methods },
	CU_TEST_INFO_NULL
};

static CU_SuiteInfo suites[] = {
	{ "decide", NULL, NULL, NULL, NULL, decide_tests },
	CU_SUITE_INFO_NULL
};

CU_MAIN(suites)

#!/bin/sh
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
# with-postgres.sh COMMAND [ARG...]: runs COMMAND against a throwaway
# PostgreSQL server, then stops it and removes everything, even when
# COMMAND fails or the script is interrupted.  Exits with COMMAND's
# status.
#
# COMMAND finds in its environment:
#   UPGATE_TEST_LEDGER    a postgresql:// URI of an empty database
#   UPGATE_TEST_PG_STOP   a shell command that stops the server
#   UPGATE_TEST_PG_START  a shell command that starts it again
# (the last two for the tests of an unreachable database).
#
# The server listens on a Unix socket in its own folder only, trusts
# local connections, and does not fsync: it is for tests.  PostgreSQL
# refuses to run as root; run as root, the script runs the server as
# the `postgres` user.  PGBIN overrides the server's folder (default:
# the newest /usr/lib/postgresql/*/bin).
set -eu

if [ $# -eq 0 ]; then
	echo "usage: $0 COMMAND [ARG...]" >&2
	exit 2
fi

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V |
    tail -n 1)}
if [ ! -x "$PGBIN/pg_ctl" ]; then
	echo "$0: no PostgreSQL server found (set PGBIN)" >&2
	exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/upgate-pg.XXXXXX")
as_owner=
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$dir"
	as_owner="runuser -u postgres --"
fi

cleanup() {
	$as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop \
	    >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

$as_owner "$PGBIN/initdb" -D "$dir/data" -U upgate -A trust -E UTF8 \
    --no-sync >"$dir/initdb.log" 2>&1 || {
	cat "$dir/initdb.log" >&2
	exit 1
}
# Quoted for pg_ctl -o, which hands it to a shell: $dir has no quotes.
opts="-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off"
start="$as_owner $PGBIN/pg_ctl -D $dir/data -l $dir/server.log -w -o \"$opts\" start"
stop="$as_owner $PGBIN/pg_ctl -D $dir/data -m fast -w stop"
if ! sh -c "$start" >/dev/null; then
	cat "$dir/server.log" >&2
	exit 1
fi

export UPGATE_TEST_LEDGER="postgresql://upgate@/postgres?host=$dir"
export UPGATE_TEST_PG_START="$start >/dev/null"
export UPGATE_TEST_PG_STOP="$stop >/dev/null"

set +e
"$@"
rc=$?
set -e
exit $rc

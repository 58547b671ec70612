#!/bin/sh
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
# make run: the demo of README, "The two commands".  Serves on 127.0.0.1:8080, with lighttpd
# and build/upgate.fcgi (lighttpd-conf/upgate-fastcgi.conf, its paths
# pointed into ./var/), the demo page at / and the gate at /upload, for the
# demo users alice (quota 10 MiB) and bob (1 MiB), until Ctrl-C.
#
# Usage: sh scripts/run-demo.sh [BUILD]   (from the top of the tree; the
# Makefile has installed what is missing and built BUILD first)
# Environment: UPGATE_DEMO_PORT (8080) and UPGATE_DEMO_VAR (./var), so that
# the browser test (tests/browser/) runs its own demo beside yours.
set -eu

build=${1:-build}
top=$(pwd)
case $build in
/*) ;;
*) build=$top/$build ;;
esac
var=${UPGATE_DEMO_VAR:-$top/var}
case $var in
/*) ;;
*) var=$top/$var ;;
esac
port=${UPGATE_DEMO_PORT:-8080}
url=http://127.0.0.1:$port

die() {
	echo "run-demo: $*" >&2
	exit 1
}

[ -x "$build/upgate.fcgi" ] || die "$build/upgate.fcgi is missing (make all)"
[ -f "$top/lighttpd-conf/upgate-fastcgi.conf" ] ||
	die "run me from the top of the tree"
command -v lighttpd >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
command -v lighttpd >/dev/null 2>&1 || die "lighttpd is missing (make deps)"
command -v htpasswd >/dev/null 2>&1 || die "htpasswd is missing (make deps)"

# As root, lighttpd and upgate run as www-data when www-data can reach the
# tree; else (a tree under /root, say) as the user who started the demo.
user=""
if [ "$(id -u)" -eq 0 ] && id www-data >/dev/null 2>&1 &&
	runuser -u www-data -- test -x "$build/upgate.fcgi" -a \
	    -r "$top/demo/index.html" -a -x "$top" 2>/dev/null; then
	user=www-data
fi

# --- the demo configuration, under ./var/ (uploads are kept across runs)
mkdir -p "$var/uploads" "$var/run" "$var/samples"
chmod 0755 "$var"
cat >"$var/upgate.conf" <<EOF
# written by make run (scripts/run-demo.sh)
upload_dir      = $var/uploads
quota_file      = $var/quota
max_upload_size = 20M
# what a quota refusal offers: sections of the demo page
upgrade_url     = /#upgrade
cleanup_url     = /#cleanup
EOF
cat >"$var/quota.new" <<EOF
# written by make run: the demo users (README, "The two commands")
alice   10M
bob     1M
EOF
mv "$var/quota.new" "$var/quota"
rm -f "$var/htpasswd"
htpasswd -c -b -B -C 5 "$var/htpasswd" alice alice 2>/dev/null
htpasswd -b -B -C 5 "$var/htpasswd" bob bob 2>/dev/null
echo "Hello from upgate." >"$var/samples/hello.txt"
# sparse: they take no disk space
truncate -s 25M "$var/samples/25M.bin"
truncate -s 2M "$var/samples/2M.bin"
chmod 0644 "$var/upgate.conf" "$var/quota" "$var/htpasswd"
rm -f "$var/run/upgate.sock"* "$var/run/error.log"
if [ -n "$user" ]; then
	chown -R www-data:www-data "$var/uploads" "$var/run"
fi

# The very snippet users install, its paths pointed here: with it, the
# rule that refuses every path with a component starting with "." (state
# files, uploads in progress), for the page as for any upload_dir served.
sed -e "s|/usr/local/bin|$build|g" \
    -e "s|/etc/upgate/upgate.conf|$var/upgate.conf|g" \
    -e "s|/etc/upgate/htpasswd|$var/htpasswd|g" \
    -e "s|/run/lighttpd/upgate.sock|$var/run/upgate.sock|g" \
    "$top/lighttpd-conf/upgate-fastcgi.conf" >"$var/upgate-fastcgi.conf"

{
	echo "# written by make run (scripts/run-demo.sh)"
	echo "server.document-root = \"$top/demo\""
	echo "server.bind = \"127.0.0.1\""
	echo "server.port = $port"
	if [ -n "$user" ]; then
		echo "server.username = \"$user\""
		echo "server.groupname = \"$user\""
	fi
	echo "server.errorlog = \"$var/run/error.log\""
	echo "server.modules = ( \"mod_access\" )"
	echo "index-file.names = ( \"index.html\" )"
	echo "mimetype.assign = ( \".html\" => \"text/html; charset=utf-8\","
	echo "    \".css\" => \"text/css\", \".js\" => \"text/javascript\","
	echo "    \".svg\" => \"image/svg+xml\", \"\" => \"application/octet-stream\" )"
	echo "include \"$var/upgate-fastcgi.conf\""
	echo "# the page too, so that the browser asks once for the whole demo"
	echo "\$HTTP[\"url\"] !~ \"^/upload(/|\$)\" {"
	echo "	auth.require = ( \"\" => ( \"method\" => \"basic\","
	echo "	    \"realm\" => \"upgate\", \"require\" => \"valid-user\" ) )"
	echo "}"
} >"$var/lighttpd.conf"

lighttpd -tt -f "$var/lighttpd.conf" >/dev/null ||
	die "lighttpd refuses $var/lighttpd.conf"

# --- run until Ctrl-C, and leave no process behind
# children PID: the processes whose parent is PID (upgate.fcgi under
# lighttpd), from /proc, so that no procps is needed.
children() {
	parent=$1
	for d in /proc/[0-9]*; do
		stat=$(cat "$d/stat" 2>/dev/null) || continue
		# shellcheck disable=SC2086
		set -- $stat
		[ "${4:-}" = "$parent" ] && echo "${d#/proc/}"
	done
	return 0
}

pid=""
backends=""
stop() {
	trap - INT TERM HUP
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		backends=$(children "$pid")
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	for b in $backends; do
		kill -KILL "$b" 2>/dev/null || true
	done
	echo
	echo "run-demo: stopped (the uploads stay in $var/uploads)"
	exit 0
}
trap stop INT TERM HUP

lighttpd -D -f "$var/lighttpd.conf" &
pid=$!
i=0
until curl -s -o /dev/null "$url/" 2>/dev/null; do
	if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 100 ]; then
		cat "$var/run/error.log" 2>/dev/null >&2 || true
		pid=""
		die "lighttpd did not start on 127.0.0.1:$port (is the port taken?)"
	fi
	sleep 0.1
	i=$((i + 1))
done

cat <<EOF

upgate demo: $url/  (the gate: $url/upload)
  users (basic authentication; the password is the name):
    alice / alice    quota 10 MiB
    bob   / bob      quota 1 MiB
  largest upload: 20 MiB.  Files go to $var/uploads/USER/.

Try:
  # 201 Created (204 No Content when you run it again)
  curl -i -u alice:alice -T $var/samples/hello.txt $url/upload/hello.txt
  # 413 Content Too Large: 25 MiB is over max_upload_size
  curl -i -u alice:alice -T $var/samples/25M.bin $url/upload/25M.bin
  # 507 Insufficient Storage: 2 MiB is over bob's quota of 1 MiB
  curl -i -u bob:bob -T $var/samples/2M.bin $url/upload/2M.bin

Ctrl-C stops the demo.
EOF

while kill -0 "$pid" 2>/dev/null; do
	wait "$pid" || true
done
pid=""
stop

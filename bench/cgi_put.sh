#!/bin/sh
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
# Measures upgate.cgi storing a large PUT against its peer on the same
# filesystem, in the same run:
#   - throughput: upgate.cgi < FILE  vs  cat FILE > DEST && sync DEST
#     (the same bytes, made durable as upgate makes them);
#   - peak RSS storing SIZE vs storing 1 KiB (GNU time).
# Usage: bench/cgi_put.sh [BUILD] [SIZE_MIB] [DIR]
set -eu
build=${1:-build}
mib=${2:-1024}
dir=${3:-$(mktemp -d /var/tmp/upgate-bench.XXXXXX)}
cgi=$(cd "$build" && pwd)/upgate.cgi
[ -x "$cgi" ] || { echo "no $cgi: run make first" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time" >&2; exit 1; }

mkdir -p "$dir/up" "$dir/src"
conf=$dir/upgate.conf
printf 'upload_dir = %s/up\n' "$dir" > "$conf"
src=$dir/src/body
small=$dir/src/small
head -c $((mib * 1048576)) /dev/urandom > "$src"
head -c 1024 /dev/urandom > "$small"
sync

now() { date +%s.%N; }

put() {	# put FILE NAME -> prints the CGI's peak RSS in KiB
	env -i UPGATE_CONFIG="$conf" REQUEST_METHOD=PUT REMOTE_USER=bench \
	    CONTENT_LENGTH=$(stat -c %s "$1") PATH_INFO="/$2" \
	    /usr/bin/time -f %M "$cgi" < "$1" 2>&1 >/dev/null | tail -n 1
}

copy() {
	cat "$src" > "$dir/up/copy.$1" && sync "$dir/up/copy.$1"
}

rounds=3
t_cgi=0; t_cat=0
for i in $(seq $rounds); do
	echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	a=$(now); copy "$i"; b=$(now)
	rm -f "$dir/up/copy.$i"; sync
	echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	c=$(now); rss_big=$(put "$src" "big.$i"); d=$(now)
	rm -f "$dir/up/bench/big.$i"; rm -rf "$dir/up/.upgate"; sync
	t_cat=$(awk "BEGIN { print $t_cat + $b - $a }")
	t_cgi=$(awk "BEGIN { print $t_cgi + $d - $c }")
done
rss_small=$(put "$small" small)

mbps() { awk "BEGIN { printf \"%.1f\", $mib * $rounds / $1 }"; }
echo "size:                 $mib MiB x $rounds rounds, $dir"
echo "cat > f && sync f:    $(mbps "$t_cat") MiB/s"
echo "upgate.cgi PUT:       $(mbps "$t_cgi") MiB/s"
echo "ratio upgate/cat:     $(awk "BEGIN { printf \"%.3f\", $t_cat / $t_cgi }")"
echo "peak RSS 1 KiB PUT:   $rss_small KiB"
echo "peak RSS $mib MiB PUT: $rss_big KiB"
echo "RSS difference:       $((rss_big - rss_small)) KiB"
rm -rf "$dir"

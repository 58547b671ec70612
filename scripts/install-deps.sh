#!/bin/sh
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
# Installs the Debian packages that building and testing upgate need, and
# does nothing when they are all present.  Needs root to install.
set -eu

packages="gcc make pkg-config libfcgi-dev libjson-c-dev libcunit1-dev libpq-dev libexpat1-dev nettle-dev
curl python3 time cppcheck mandoc valgrind btrfs-progs gcc-multilib
apache2 apache2-utils libapache2-mod-fcgid lighttpd lighttpd-mod-webdav nginx-light wrk
postgresql glusterfs-server glusterfs-client
litmus rclone cadaver davfs2
chromium fonts-dejavu-core
clang libclang-rt-14-dev
debhelper lintian systemd"
# Node.js for the browser test: Debian's, unless a node and an npm (from
# elsewhere, say NodeSource's nodejs, which carries npm) are already here.
command -v node >/dev/null 2>&1 || packages="$packages nodejs"
command -v npm >/dev/null 2>&1 || packages="$packages npm"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# The tests start their own servers on high ports, their own PostgreSQL
# and their own glusterd: keep the packages' services (apache2 and lighttpd
# both want port 80, postgresql 5432, glusterd 24007) from starting.
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && ours=1
fi
trap '[ -z "$ours" ] || rm -f "$policy"' EXIT
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

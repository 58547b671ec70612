#!/bin/sh
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
# snippets.sh ROOT: installs the web servers' snippets under ROOT (the
# package's tree), from the tested files of apache-conf/, lighttpd-conf/
# and nginx-conf/, their program paths turned into the package's.  Each
# replacement is checked, so that a snippet that changes shape fails the
# build instead of shipping a path that does not exist.  Run from the top
# of the source tree.
set -eu

root=$1

die() {
	echo "snippets.sh: $*" >&2
	exit 1
}

# put SOURCE DEST HOW [OLD NEW]: SOURCE to ROOT/DEST behind a header
# that says HOW to use it, with the path OLD (which it must hold) made NEW.
put() {
	src=$1 dest=$root/$2 how=$3
	shift 3
	[ -f "$src" ] || die "$src is missing"
	mkdir -p "$(dirname "$dest")"
	{
		printf '# Installed by the upgate package, from %s in the\n' "$src"
		printf '# source, with the paths of the package.\n# %s\n#\n' "$how"
		if [ $# -eq 2 ]; then
			grep -qF "$1" "$src" || die "$src does not name $1"
			sed "s|$1|$2|g" "$src"
		else
			cat "$src"
		fi
	} >"$dest"
	chmod 0644 "$dest"
}

# The responder behind upgate.socket: Apache mod_proxy_fcgi, lighttpd
# mod_fastcgi and nginx, each to /run/upgate/upgate.sock.
for f in apache-conf/upgate-proxy-fcgi.conf \
    lighttpd-conf/upgate-fastcgi-socket.conf; do
	grep -qF /run/upgate/upgate.sock "$f" ||
		die "$f does not name /run/upgate/upgate.sock"
done
service="systemctl enable --now upgate.socket"
put apache-conf/upgate-proxy-fcgi.conf etc/apache2/conf-available/upgate.conf \
    "Enable: a2enmod (as below), a2enconf upgate, $service."
put lighttpd-conf/upgate-fastcgi-socket.conf \
    etc/lighttpd/conf-available/50-upgate.conf \
    "Enable: lighty-enable-mod upgate, $service."
# nginx (Debian's /etc/nginx/snippets/, included inside a server block).
grep -qF /run/upgate/upgate.sock nginx-conf/upgate-fastcgi.conf ||
	die "nginx-conf/upgate-fastcgi.conf does not name /run/upgate/upgate.sock"
put nginx-conf/upgate-fastcgi.conf etc/nginx/snippets/upgate.conf \
    "Enable: include snippets/upgate.conf; in a server block, $service."

# The CGI, a fresh process a request, with no service to run: samples
# to copy in place of the above (Debian names a package's one Apache
# snippet after the package).
put apache-conf/upgate-cgid.conf usr/share/upgate/apache2/upgate-cgi.conf \
    "Use: copy it to /etc/apache2/conf-available/upgate.conf." \
    /usr/local/bin/upgate.cgi /usr/lib/cgi-bin/upgate.cgi
put lighttpd-conf/upgate-cgi.conf usr/share/upgate/lighttpd/upgate-cgi.conf \
    "Use: copy it to /etc/lighttpd/conf-available/50-upgate.conf." \
    /usr/local/bin/upgate.cgi /usr/lib/cgi-bin/upgate.cgi

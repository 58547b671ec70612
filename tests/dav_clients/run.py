#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Runs the WebDAV client tests (README "WebDAV clients", upgate(8),
WebDAV): python3 tests/dav_clients/run.py --build DIR

litmus, rclone, cadaver and davfs2, all from Debian, against upgate.fcgi
behind lighttpd (lighttpd-conf/upgate-fastcgi.conf) and behind Apache
mod_proxy_fcgi (apache-conf/upgate-proxy-fcgi.conf), the servers started
as tests/servers starts them; the disk and the ledger are checked after
each client.  Same options and output as tests/servers/run.py (-k SUBSTR,
-j N, --list, -v), whose runner this is.  Needs root (davfs2 mounts).
"""

import importlib.util
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(os.path.dirname(HERE), "servers")
sys.path.insert(0, SERVERS)

_spec = importlib.util.spec_from_file_location(
    "servers_run", os.path.join(SERVERS, "run.py"))
servers_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(servers_run)

if __name__ == "__main__":
    sys.exit(servers_run.main(tests_dir=HERE))

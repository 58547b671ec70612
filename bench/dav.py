#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""WebDAV reads through lighttpd and upgate.fcgi against lighttpd's own
mod_webdav on the same server, the same folder and the same basic
authentication, in one run:

  propfind   PROPFIND Depth 1 (allprop) of a folder of --files files, one
             connection, with wrk: listings per second, upgate / mod_webdav
  rss        upgate.fcgi's peak resident size (VmHWM) after listing a
             folder of 100, 10,000 and 100,000 files: flat is the aim
  get        GET of a 1 GiB stored file with curl: upgate against
             lighttpd serving the same file itself (mod_webdav's GET is
             lighttpd's static file path)

The server is started by tests/servers/servers.py from
lighttpd-conf/upgate-fastcgi.conf; this program appends mod_webdav at
/dav, whose folder is alice's folder in upload_dir (a bind mount).  The files
are made directly in the folder and counted with upgate-quota recount.
A figure is the median of --rounds; nothing is asserted.

  python3 bench/dav.py --build DIR [--seconds S] [--rounds N]
                       [--files N] [--dir DIR] [--cases propfind,rss,get]

Needs root, lighttpd, lighttpd-mod-webdav, wrk and curl.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

import servers  # noqa: E402
import harness  # noqa: E402  (tests/integration, via servers)

PATH = "lighttpd-fastcgi"
WEBDAV_MOD = "/usr/lib/lighttpd/mod_webdav.so"
AUTH = """( "method" => "basic", "realm" => "upgate", \
"require" => "valid-user" )"""
LIGHTTPD_DAV = """
# written by bench/dav.py: lighttpd's own WebDAV beside the gate
server.modules += ( "mod_webdav" )
auth.require += ( "/dav" => {auth} )
auth.cache = ( "max-age" => "600" )
$HTTP["url"] =~ "^/dav(/|$)" {{
	server.document-root = "{davroot}"
	webdav.activate = "enable"
}}
"""
PROPFIND_LUA = """
wrk.method = "PROPFIND"
wrk.headers["Depth"] = "1"
wrk.headers["Authorization"] = "Basic YWxpY2U6YWxpY2U="
response = function(status, headers, body)
   if status ~= 207 then wrk.thread:stop() end
end
"""


class DavServer(servers.Server):
    def __init__(self, site, build, root, davroot):
        super().__init__(PATH, site, build, root)
        self.davroot = davroot

    def _write(self):
        super()._write()
        with open(self.conf, "a") as f:
            f.write(LIGHTTPD_DAV.format(auth=AUTH, davroot=self.davroot))


def make_files(folder, upto):
    """Files f000000 ... up to upto in folder (1 KiB each), www-data's."""
    uid, gid = servers.runas_ids()
    have = len([n for n in os.listdir(folder) if n.startswith("f")])
    data = b"x" * 1024
    for i in range(have, upto):
        p = os.path.join(folder, "f%06d" % i)
        with open(p, "wb") as f:
            f.write(data)
        os.chown(p, uid, gid)


def recount(env):
    rc, out, err = servers.as_runas([os.path.join(servers.BUILD,
                                                  "upgate-quota"),
                                     "--config", env.conf_path, "recount",
                                     "alice"])
    if rc != 0:
        raise SystemExit("upgate-quota recount: %s" % err)


def wrk_rate(url, seconds, script):
    p = subprocess.run(["wrk", "-t1", "-c1", "-d%ds" % seconds, "-s", script,
                        url], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    if m is None or bad:
        raise SystemExit("wrk against %s: %s" % (url, p.stdout[-800:]))
    return float(m.group(1))


def responder_hwm(srv):
    """The largest VmHWM (KiB) among the server's upgate.fcgi processes."""
    best = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
            if b"upgate.fcgi" not in cmd:
                continue
            with open("/proc/%s/environ" % d, "rb") as f:
                if srv.env.conf_path.encode() not in f.read():
                    continue
            with open("/proc/%s/status" % d) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best


def curl_speed(url):
    p = subprocess.run(["curl", "-sS", "-u", "alice:alice", "-o", "/dev/null",
                        "-w", "%{http_code} %{speed_download}", url],
                       stdout=subprocess.PIPE, text=True, check=True)
    code, speed = p.stdout.split()
    if code != "200":
        raise SystemExit("GET %s: %s" % (url, code))
    return float(speed) / 1e6


def listing(url):
    """One PROPFIND Depth 1: its status and how many responses it held."""
    p = subprocess.run(["curl", "-sS", "-u", "alice:alice", "-X",
                        "PROPFIND", "-H", "Depth: 1", url],
                       stdout=subprocess.PIPE, check=True)
    return len(re.findall(rb"<D:response[ >]", p.stdout))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--cases", default="propfind,rss,get")
    a = ap.parse_args()
    cases = a.cases.split(",")
    build = os.path.abspath(a.build)
    if not os.path.exists(WEBDAV_MOD) or shutil.which("wrk") is None:
        print("bench-dav: needs lighttpd-mod-webdav and wrk", file=sys.stderr)
        return 1
    harness.BUILD = build
    servers.BUILD = servers.reachable_build(build)
    run_root = tempfile.mkdtemp(prefix="upgate-dav-", dir=a.dir)
    os.chmod(run_root, 0o755)
    harness.RUN_ROOT = run_root
    srv = None
    site = None
    mounted = None
    try:
        root = os.path.join(run_root, PATH)
        os.makedirs(os.path.join(root, "srv"))
        site = servers.Site(os.path.join(root, "site"), "alice 1T\n", None)
        alice = os.path.join(site.env.upload, "alice")
        os.makedirs(alice)
        davroot = os.path.join(root, "site", "davroot")
        os.makedirs(os.path.join(davroot, "dav"))
        # the same folder under mod_webdav's root (it lists no link)
        subprocess.run(["mount", "--bind", alice,
                        os.path.join(davroot, "dav")], check=True)
        mounted = os.path.join(davroot, "dav")
        servers.chown_tree(site.env.upload)
        servers.chown_tree(davroot)
        srv = DavServer(site, build, os.path.join(root, "srv"), davroot)
        srv.start()
        base = "http://127.0.0.1:%d" % srv.port
        print("# %s, load %.2f %.2f %.2f at the start" % (
            (run_root,) + os.getloadavg()), flush=True)
        if "propfind" in cases:
            make_files(alice, a.files)
            recount(site.env)
            n_up = listing(base + "/upload/")
            n_dav = listing(base + "/dav/")
            print("# a folder of %d files: upgate lists %d responses, "
                  "mod_webdav %d" % (a.files, n_up, n_dav), flush=True)
            lua = os.path.join(run_root, "propfind.lua")
            with open(lua, "w") as f:
                f.write(PROPFIND_LUA)
            ups, davs, ratios = [], [], []
            for r in range(a.rounds):
                order = [("upgate", "/upload/"), ("dav", "/dav/")]
                if r % 2:
                    order.reverse()
                got = {}
                for name, rel in order:
                    got[name] = wrk_rate(base + rel, a.seconds, lua)
                ups.append(got["upgate"])
                davs.append(got["dav"])
                ratios.append(got["upgate"] / got["dav"])
                print("# round %d: upgate %.1f/s, mod_webdav %.1f/s" % (
                    r + 1, got["upgate"], got["dav"]), flush=True)
            print("propfind Depth 1, %d files: upgate %.1f/s, mod_webdav "
                  "%.1f/s, ratio %.2fx (rounds %s)" % (
                      a.files, statistics.median(ups),
                      statistics.median(davs), statistics.median(ratios),
                      ", ".join("%.2f" % x for x in ratios)), flush=True)
        if "rss" in cases:
            for n in (100, 10000, 100000):
                if len(os.listdir(alice)) > n:
                    continue
                make_files(alice, n)
                recount(site.env)
                t0 = time.monotonic()
                got = listing(base + "/upload/")
                print("rss: a folder of %d files listed (%d responses, "
                      "%.1f s): upgate.fcgi VmHWM %d KiB" % (
                          n, got, time.monotonic() - t0,
                          responder_hwm(srv)), flush=True)
        if "get" in cases:
            big = os.path.join(alice, "big.bin")
            subprocess.run(["dd", "if=/dev/urandom", "of=" + big, "bs=1M",
                            "count=1024", "status=none"], check=True)
            uid, gid = servers.runas_ids()
            os.chown(big, uid, gid)
            recount(site.env)
            ups, stat = [], []
            for r in range(a.rounds):
                ups.append(curl_speed(base + "/upload/big.bin"))
                stat.append(curl_speed(base + "/dav/big.bin"))
            print("get 1 GiB: upgate %.0f MB/s, lighttpd static %.0f MB/s, "
                  "ratio %.2fx" % (statistics.median(ups),
                                   statistics.median(stat),
                                   statistics.median(ups) /
                                   statistics.median(stat)), flush=True)
    finally:
        if srv is not None:
            srv.stop()
        if mounted is not None:
            subprocess.run(["umount", mounted])
        if site is not None:
            site.close()
        shutil.rmtree(run_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""The Debian package, end to end (make package; README "Installing the
package").

From a copy of the tree in a folder of its own under $TMPDIR:

1. dpkg-buildpackage -us -uc -b as nobody with the network cut (unshare
   -n): the build, its make check (unit tests and linters) included, needs
   neither root nor the network, and the unit tests make their folders
   under $TMPDIR, not at fixed paths another user may own.
2. lintian: no error.
3. dpkg -i: the layout of upgate(8) "FILES", the conffiles, the uploads'
   folder www-data's; systemd-analyze verify of the two units.
4. The installed upgate.fcgi run as the service unit runs it (its
   ExecStart and User), under systemd-socket-activate with the socket on
   descriptor 0, as StandardInput=socket hands it: one FastCGI PUT stored
   under the packaged configuration, its log line on standard error, and a
   clean exit 0 on SIGTERM.
5. An upgrade to a later version keeps a modified conffile.
6. dpkg -r keeps the conffiles; dpkg -P leaves nothing behind.

It needs root, and refuses to touch a machine where upgate is already
installed.  Where a tool is missing it says so and skips (exit 0).
Without systemd as PID 1 the units are verified, not started: the socket
activation is systemd-socket-activate's.  Exit status 1 on any failure.
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import fcgi_client  # noqa: E402

TOOLS = ["dpkg-buildpackage", "dh", "lintian", "systemd-analyze",
         "systemd-socket-activate", "unshare", "runuser", "setpriv"]
UNITS = "/lib/systemd/system"
UPLOADS = "/var/lib/upgate/uploads"
SOCKET = "/run/upgate/upgate.sock"
HTPASSWD = "/etc/upgate/htpasswd"
# Where the package puts files, and the folders its maintainer scripts and
# deb-systemd-helper write to: after the purge nothing of upgate is left.
WATCHED = ["/etc", "/lib/systemd", "/usr/sbin", "/usr/lib/cgi-bin",
           "/usr/share/man", "/usr/share/doc", "/usr/share/upgate",
           "/var/lib/upgate", "/var/lib/systemd"]
LAYOUT = ["/usr/lib/cgi-bin/upgate.cgi", "/usr/sbin/upgate.fcgi",
          "/usr/sbin/upgate-quota", "/usr/share/man/man8/upgate.8.gz",
          "/usr/share/man/man8/upgate.cgi.8.gz",
          "/usr/share/man/man8/upgate.fcgi.8.gz",
          "/usr/share/man/man8/upgate-quota.8.gz",
          "/usr/share/man/man5/upgate.conf.5.gz",
          UNITS + "/upgate.socket", UNITS + "/upgate.service",
          "/etc/apache2/conf-available/upgate.conf",
          "/etc/lighttpd/conf-available/50-upgate.conf",
          "/usr/share/doc/upgate/copyright"]
CONFFILES = ["/etc/upgate/upgate.conf", "/etc/upgate/quota",
             "/etc/apache2/conf-available/upgate.conf",
             "/etc/lighttpd/conf-available/50-upgate.conf"]


class Failed(Exception):
    pass


def run(cmd, check=True, **kw):
    """Runs cmd; its output, or Failed with the tail of it."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, **kw)
    out = p.stdout.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise Failed("%s exited %d:\n%s" % (" ".join(cmd), p.returncode,
                                            out[-3000:]))
    return out


def expect(cond, what):
    if not cond:
        raise Failed(what)


def upgate_files():
    """Every path under WATCHED whose name holds "upgate"."""
    found = set()
    for top in WATCHED:
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                if "upgate" in n:
                    found.add(os.path.join(d, n))
    return found


def copy_tree(dest):
    """The source tree without builds, the demo's var/ and node_modules."""
    skip = {".git", "var", "node_modules"}

    def ignore(d, names):
        return [n for n in names if n in skip or n == "build" or
                n.startswith("build-") or n == "__pycache__"]
    shutil.copytree(TOP, dest, ignore=ignore, symlinks=True)


def build(work):
    """Step 1: the package built as nobody, no network; the .deb's path."""
    src = os.path.join(work, "src")
    copy_tree(src)
    os.mkdir(os.path.join(work, "tmp"))
    run(["chown", "-R", "nobody:nogroup", work])
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": work,
           "TMPDIR": os.path.join(work, "tmp"), "LANG": "C.UTF-8",
           "DEB_BUILD_OPTIONS": "noautodbgsym parallel=%d"
           % (os.cpu_count() or 1)}
    log = run(["unshare", "-n", "setpriv", "--reuid=nobody",
               "--regid=nogroup", "--init-groups", "--",
               "dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env)
    # make check ran (dh_auto_test), as nobody: its PostgreSQL pass says
    # why it was skipped, every unit program its summary.
    expect("check: the ledger's PostgreSQL pass skipped: not root" in log,
           "make check did not run in the build:\n" + log[-2000:])
    expect(log.count("Run Summary") >= 10, "the unit tests did not run")
    left = os.listdir(os.path.join(work, "tmp"))
    expect(left == [], "the unit tests left %s in $TMPDIR" % left)
    debs = [f for f in os.listdir(work)
            if f.startswith("upgate_") and f.endswith(".deb")]
    expect(len(debs) == 1, "no upgate .deb in %s" % os.listdir(work))
    return os.path.join(work, debs[0])


def lint(work):
    """Step 2: lintian without an error."""
    changes = [f for f in os.listdir(work) if f.endswith(".changes")]
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--init-groups", "--", "lintian",
                        os.path.join(work, changes[0])],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT,
                       env={"PATH": "/usr/bin:/bin", "HOME": work})
    out = p.stdout.decode("utf-8", "replace").strip()
    errors = [line for line in out.splitlines() if line.startswith("E:")]
    expect(errors == [] and p.returncode == 0,
           "lintian exited %d:\n%s" % (p.returncode, out))
    return out.replace("\n", "; ")


def install(deb):
    """Step 3: installed, laid out, the units verified."""
    run(["dpkg", "-i", deb])
    for f in LAYOUT:
        expect(os.path.exists(f), "%s not installed" % f)
    st = os.stat(UPLOADS)
    expect(pwd.getpwuid(st.st_uid).pw_name == "www-data",
           "%s is not www-data's" % UPLOADS)
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "upgate"])
    for f in CONFFILES:
        expect(" %s " % f in conffiles, "%s is no conffile" % f)
    verify = ["systemd-analyze", "verify"]
    if shutil.which("man") is None:
        verify.append("--man=no")
    out = run(verify + [UNITS + "/upgate.socket", UNITS + "/upgate.service"])
    expect(out.strip() == "", "systemd-analyze verify:\n" + out)


def unit_keys(name):
    """The key = value lines of an installed unit, as a dict."""
    keys = {}
    with open(os.path.join(UNITS, name)) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                keys[k] = v
    return keys


def activate(work):
    """Step 4: the service as its unit runs it, on a socket of the test's."""
    sock_unit = unit_keys("upgate.socket")
    svc = unit_keys("upgate.service")
    expect(sock_unit.get("ListenStream") == SOCKET and
           sock_unit.get("SocketUser") == "www-data" and
           sock_unit.get("SocketMode") == "0660", "upgate.socket: %s" %
           sock_unit)
    expect(svc.get("StandardInput") == "socket" and
           svc.get("StandardError") == "journal" and
           svc.get("StandardOutput") == "journal", "upgate.service: %s" % svc)
    run_dir = os.path.join(work, "run")
    os.mkdir(run_dir)
    shutil.chown(run_dir, svc["User"], svc["Group"])
    sock = os.path.join(run_dir, "upgate.sock")
    err_path = os.path.join(work, "journal")
    with open(err_path, "wb") as err:
        # --inetd: the listening socket on descriptors 0 and 1, as
        # StandardInput=socket; standard error stands for the journal.
        p = subprocess.Popen(
            ["setpriv", "--reuid=" + svc["User"], "--regid=" + svc["Group"],
             "--init-groups", "--", "systemd-socket-activate", "--inetd",
             "-l", sock] + svc["ExecStart"].split(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            env={"PATH": "/usr/bin:/bin"})
    try:
        body = b"hello from the package test\n"
        out, _, c = fcgi_client.request(sock, {
            "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "PUT",
            "SCRIPT_NAME": "/upload", "PATH_INFO": "/hello.txt",
            "REQUEST_URI": "/upload/hello.txt", "REMOTE_USER": "alice",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "text/plain", "SERVER_PROTOCOL": "HTTP/1.1"},
            body)
        expect(out.startswith(b"Status: 201"),
               "the PUT got: %r" % out[:300])
        with open(os.path.join(UPLOADS, "alice", "hello.txt"), "rb") as f:
            expect(f.read() == body, "the stored file differs")
        through_lighttpd(work, sock)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = "none: killed after 30 s"
    with open(err_path, "rb") as f:
        journal = f.read().decode("utf-8", "replace")
    expect(rc == 0, "upgate.fcgi exited %s on SIGTERM:\n%s" % (rc, journal))
    expect("user=alice" in journal and "201" in journal,
           "no log line of the PUT:\n" + journal)



def snippet_copy(work, installed, sock):
    """A copy of an installed snippet, its socket and password file the
    test's; None when it names other ones than the package's."""
    with open(installed) as f:
        text = f.read()
    if SOCKET not in text or HTPASSWD not in text:
        return None
    path = os.path.join(work, os.path.basename(installed))
    with open(path, "w") as f:
        f.write(text.replace(SOCKET, sock).replace(HTPASSWD,
                             os.path.join(work, "htpasswd")))
    return path


def through_lighttpd(work, sock):
    """A PUT through the real lighttpd with the installed 50-upgate.conf
    (its socket and password file pointed at the test's); Apache's
    upgate.conf passes apache2 -t.  Skipped where a server is missing."""
    lighttpd = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    if not os.path.exists(lighttpd) or shutil.which("htpasswd") is None:
        print("package: lighttpd or htpasswd missing: the lighttpd "
              "snippet is not tried")
        return
    conf = snippet_copy(work, "/etc/lighttpd/conf-available/50-upgate.conf",
                        sock)
    expect(conf is not None, "50-upgate.conf does not name %s and %s" %
           (SOCKET, HTPASSWD))
    run(["htpasswd", "-c", "-b", "-B", "-C", "5",
         os.path.join(work, "htpasswd"), "alice", "secret"])
    # lighttpd on a Unix socket of its own: no port to choose.
    http = os.path.join(work, "http.sock")
    main = os.path.join(work, "lighttpd.conf")
    with open(main, "w") as f:
        f.write('server.document-root = "%s"\nserver.bind = "%s"\n'
                'include "%s"\n' % (work, http, conf))
    srv = subprocess.Popen([lighttpd, "-D", "-f", main],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        fcgi_client.connect(http).close()
        body = os.path.join(work, "journal")    # any file will do
        out = run(["curl", "-sS", "--unix-socket", http, "-u",
                   "alice:secret", "-T", body, "-o", "/dev/null", "-w",
                   "%{http_code}", "http://localhost/upload/via-lighttpd"])
        expect(out == "201", "the PUT through lighttpd got %s" % out)
        expect(os.path.exists(os.path.join(UPLOADS, "alice",
                                           "via-lighttpd")),
               "nothing stored through lighttpd")
    finally:
        srv.terminate()
        srv.wait()
    through_nginx(work, sock)
    apache = "/usr/sbin/apache2"
    if os.path.exists(apache):
        conf = snippet_copy(work, "/etc/apache2/conf-available/upgate.conf",
                            sock)
        expect(conf is not None, "upgate.conf does not name %s and %s" %
               (SOCKET, HTPASSWD))
        main = os.path.join(work, "apache2.conf")
        mods = ["mpm_event", "authz_core", "authn_core", "auth_basic",
                "authn_file", "authz_user", "proxy", "proxy_fcgi"]
        with open(main, "w") as f:
            # apache2 -t binds nothing: the port is never opened.
            f.write("ServerRoot /etc/apache2\nServerName localhost\n"
                    "Listen 127.0.0.1:8080\nErrorLog %s/apache2.log\n"
                    % work)
            for m in mods:
                f.write("LoadModule %s_module /usr/lib/apache2/modules/"
                        "mod_%s.so\n" % (m, m))
            f.write("Include %s\n" % conf)
        run([apache, "-t", "-f", main])


def through_nginx(work, sock):
    """A PUT through the real nginx with the installed snippets/upgate.conf
    included in a server block, as the README says (its socket and
    password file pointed at the test's).  Skipped where nginx is
    missing."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        print("package: nginx missing: the nginx snippet is not tried")
        return
    conf = snippet_copy(work, "/etc/nginx/snippets/upgate.conf", sock)
    expect(conf is not None, "snippets/upgate.conf does not name %s and %s"
           % (SOCKET, HTPASSWD))
    http = os.path.join(work, "nginx-http.sock")
    main = os.path.join(work, "nginx.conf")
    with open(main, "w") as f:
        f.write("daemon off;\nmaster_process off;\npid %s/nginx.pid;\n"
                "error_log %s/nginx-error.log;\nevents {}\nhttp {\n"
                "  access_log off;\n"
                "  client_body_temp_path %s;\n  fastcgi_temp_path %s;\n"
                "  server {\n    listen unix:%s;\n    root %s;\n"
                "    include %s;\n  }\n}\n"
                % (work, work, work, work, http, work, conf))
    run([nginx, "-t", "-q", "-c", main])
    srv = subprocess.Popen([nginx, "-c", main], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while not os.path.exists(http) and time.monotonic() < end:
            time.sleep(0.05)
        body = os.path.join(work, "journal")    # any file will do
        out = run(["curl", "-sS", "--unix-socket", http, "-u",
                   "alice:secret", "-T", body, "-o", "/dev/null", "-w",
                   "%{http_code}", "http://localhost/upload/via-nginx"])
        expect(out == "201", "the PUT through nginx got %s" % out)
        expect(os.path.exists(os.path.join(UPLOADS, "alice", "via-nginx")),
               "nothing stored through nginx")
    finally:
        srv.terminate()
        srv.wait()


def upgrade(deb, work):
    """Step 5: a later version over a modified conffile keeps it."""
    unpacked = os.path.join(work, "unpacked")
    run(["dpkg-deb", "-R", deb, unpacked])
    control = os.path.join(unpacked, "DEBIAN", "control")
    with open(control) as f:
        text = f.read()
    version = [line.split(": ", 1)[1] for line in text.splitlines()
               if line.startswith("Version: ")][0]
    with open(control, "w") as f:
        f.write(text.replace("Version: " + version,
                             "Version: %s+1" % version))
    newer = os.path.join(work, "upgate-newer.deb")
    run(["dpkg-deb", "--root-owner-group", "-b", unpacked, newer])
    with open("/etc/upgate/quota", "a") as f:
        f.write("alice 1G\n")
    run(["dpkg", "-i", newer])
    status = run(["dpkg-query", "-W", "-f=${Version}", "upgate"])
    expect(status == version + "+1", "the upgrade left version " + status)
    with open("/etc/upgate/quota") as f:
        expect(f.read().endswith("alice 1G\n"), "the modified quota was lost")
    expect(not [n for n in os.listdir("/etc/upgate") if ".dpkg-" in n],
           "dpkg left %s" % os.listdir("/etc/upgate"))
    expect(os.path.exists(os.path.join(UPLOADS, "alice", "hello.txt")),
           "the upgrade lost a stored file")


def remove(before):
    """Step 6: remove keeps the conffiles, purge leaves nothing."""
    run(["dpkg", "-r", "upgate"])
    expect(not os.path.exists("/usr/sbin/upgate.fcgi"), "dpkg -r left the "
           "programs")
    expect(os.path.exists("/etc/upgate/upgate.conf"), "dpkg -r removed the "
           "conffiles")
    # The users' files are theirs: purge keeps them (upgate.postrm), so
    # the operator removes them first.
    shutil.rmtree(os.path.join(UPLOADS, "alice"))
    run(["dpkg", "-P", "upgate"])
    left = upgate_files() - before
    expect(not left, "dpkg -P left %s" % sorted(left))


def main():
    if os.geteuid() != 0:
        print("package: skipped: needs root (dpkg -i)")
        return 0
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        print("package: skipped: missing %s (make deps)" % " ".join(missing))
        return 0
    if run(["dpkg-query", "-W", "-f=${Status}", "upgate"],
           check=False).endswith("installed"):
        print("package: skipped: upgate is installed on this machine, and "
              "the test would remove it")
        return 0
    before = upgate_files()
    work = tempfile.mkdtemp(prefix="upgate-package.")
    os.chmod(work, 0o755)
    state = {}
    steps = [
        ("built as nobody without network, make check included",
         lambda: state.update(deb=build(work))),
        ("lintian without an error", lambda: lint(work)),
        ("installed; systemd-analyze verify accepts the units",
         lambda: install(state["deb"])),
        ("upgate.fcgi under systemd-socket-activate stored a PUT, and one "
         "through lighttpd's and one through nginx's installed snippets; stopped on SIGTERM",
         lambda: activate(work)),
        ("an upgrade kept a modified conffile",
         lambda: upgrade(state["deb"], work)),
        ("dpkg -r kept the conffiles, dpkg -P left nothing",
         lambda: remove(before)),
    ]
    try:
        for what, step in steps:
            t = time.monotonic()
            said = step()
            print("package: %s (%.1f s)%s" % (what, time.monotonic() - t,
                                              ": " + said if said else ""))
    except Failed as e:
        print("package: FAILED: %s" % e)
        return 1
    finally:
        run(["dpkg", "-P", "upgate"], check=False)
        if UPLOADS not in before:   # what a failed step stored
            shutil.rmtree("/var/lib/upgate", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, 0 failed" % len(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())

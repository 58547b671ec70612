# Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
"""Real web servers for the hosting tests (README, Hosting, README, "Installing the package"): Apache 2.4,
lighttpd and nginx started on loopback high ports from the very files in
apache-conf/, lighttpd-conf/ and nginx-conf/, with only their paths
substituted, and curl to drive them.  Each serves the site's upload_dir
as its document root, read-only, as a shared host may.

Python 3 standard library only; needs root (the servers' children run as
www-data, the upload folder is a tmpfs).
"""

import atexit
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import harness  # noqa: E402
from harness import Failure, check, eq, fail, skip  # noqa: E402,F401

MODULES = "/usr/lib/apache2/modules"
RUNAS = "www-data"
KiB, MiB, GiB = 1024, 1024 * 1024, 1024 * 1024 * 1024

# Demo users (README, "The two commands"): the password is the user name.
USERS = ("alice", "bob", "carol", "dave")

# The hosting paths: name -> (server, snippet, needs upgate.fcgi)
PATHS = {
    "apache-cgid": ("apache", "apache-conf/upgate-cgid.conf", False),
    "apache-fcgid": ("apache", "apache-conf/upgate-fcgid.conf", True),
    "apache-proxy-fcgi": ("apache", "apache-conf/upgate-proxy-fcgi.conf",
                          True),
    "lighttpd-cgi": ("lighttpd", "lighttpd-conf/upgate-cgi.conf", False),
    "lighttpd-fastcgi": ("lighttpd", "lighttpd-conf/upgate-fastcgi.conf",
                         True),
    "nginx-fastcgi": ("nginx", "nginx-conf/upgate-fastcgi.conf", True),
}

# The paths whose upgate.fcgi runs on its own (upgate.fcgi --listen), the
# server forwarding to its socket.
STANDALONE = {"apache-proxy-fcgi", "nginx-fastcgi"}

# What each snippet names, and what the tests put there instead.  Every
# key a snippet holds must be replaced (checked), so that the files and
# the tests cannot drift apart unnoticed.
INSTALLED = {
    "bin": "/usr/local/bin",
    "conf": "/etc/upgate/upgate.conf",
    "htpasswd": "/etc/upgate/htpasswd",
    "proxy_sock": "/run/upgate/upgate.sock",
    "lighttpd_sock": "/run/lighttpd/upgate.sock",
}

APACHE_BASE = """\
# written by tests/servers: the smallest server around the snippet
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
LogLevel warn
DefaultRuntimeDir "{root}"
Mutex file:{root}
User {user}
Group {user}
DocumentRoot "{docroot}"
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule authz_user_module {mods}/mod_authz_user.so
LoadModule authn_core_module {mods}/mod_authn_core.so
LoadModule authn_file_module {mods}/mod_authn_file.so
LoadModule auth_basic_module {mods}/mod_auth_basic.so
LoadModule alias_module {mods}/mod_alias.so
LoadModule env_module {mods}/mod_env.so
{extra}
StartServers 2
ServerLimit 4
ThreadsPerChild 32
MaxRequestWorkers 128
Timeout 300
KeepAlive On
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{docroot}">
    Require all granted
</Directory>
Include "{snippet}"
"""

APACHE_EXTRA = {
    "apache-cgid": """\
LoadModule cgid_module {mods}/mod_cgid.so
ScriptSock "{root}/cgid.sock"
""",
    "apache-fcgid": """\
LoadModule fcgid_module {mods}/mod_fcgid.so
FcgidIPCDir "{root}/fcgid"
FcgidProcessTableFile "{root}/fcgid_shm"
""",
    "apache-proxy-fcgi": """\
LoadModule proxy_module {mods}/mod_proxy.so
LoadModule proxy_fcgi_module {mods}/mod_proxy_fcgi.so
""",
}

LIGHTTPD_BASE = """\
# written by tests/servers: the smallest server around the snippet
server.document-root = "{docroot}"
server.bind = "127.0.0.1"
server.port = {port}
server.username = "{user}"
server.groupname = "{user}"
server.errorlog = "{root}/run/error.log"
server.modules = ( "mod_access" )
include "{snippet}"
"""

NGINX_BASE = """\
# written by tests/servers: the smallest server around the snippet
daemon off;
user {user} {user};
worker_processes 2;
pid "{root}/nginx.pid";
error_log "{root}/error.log" warn;
events {{
    worker_connections 512;
}}
http {{
    access_log off;
    client_body_temp_path "{root}/run/body";
    fastcgi_temp_path "{root}/run/fastcgi";
    proxy_temp_path "{root}/run/proxy";
    scgi_temp_path "{root}/run/scgi";
    uwsgi_temp_path "{root}/run/uwsgi";
    server {{
        listen 127.0.0.1:{port};
        server_name 127.0.0.1;
        root "{docroot}";
        include "{snippet}";
    }}
}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=15, log=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            fail("server exited with %s before listening on %d: %s"
                 % (proc.returncode, port, tail(log)))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    fail("nothing listens on 127.0.0.1:%d after %ss: %s"
         % (port, timeout, tail(log)))


def tail(path, n=1500):
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")
    except OSError:
        return "(no log)"


def runas_ids():
    pw = pwd.getpwnam(RUNAS)
    return pw.pw_uid, pw.pw_gid


def chown_tree(top):
    uid, gid = runas_ids()
    for dp, dns, fns in os.walk(top):
        os.chown(dp, uid, gid)
        for n in fns:
            os.chown(os.path.join(dp, n), uid, gid)


def write_htpasswd(path, users=USERS):
    """bcrypt entries made by htpasswd -B (what the snippets recommend),
    the password being the user name."""
    if os.path.exists(path):
        os.unlink(path)
    for i, u in enumerate(users):
        argv = ["htpasswd", "-b", "-B", "-C", "5"]
        if i == 0:
            argv.append("-c")
        p = subprocess.run(argv + [path, u, u], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        check(p.returncode == 0, "htpasswd failed: %r" % p.stderr)
    os.chmod(path, 0o644)


def substitute(text, mapping, what):
    """Replaces the installed paths a snippet names by the test's.
    mapping: {INSTALLED key: new}; each key must occur in text."""
    for key, new in mapping.items():
        old = INSTALLED[key]
        check(old in text, "%s no longer names %s: the tests would not "
              "substitute it" % (what, old))
        text = text.replace(old, new)
    return text


# ---------------------------------------------------------------- a site

class Site:
    """The upgate side: an Env (upload folder, state, upgate.conf, quota
    table) owned by www-data; upload_dir on a tmpfs of tmpfs_size if
    given."""

    def __init__(self, root, quota, conf, tmpfs_size=None):
        os.makedirs(root, exist_ok=True)
        self.mounted = None
        upload = os.path.join(root, "upload")
        os.makedirs(upload, exist_ok=True)
        if tmpfs_size:
            p = subprocess.run(["mount", "-t", "tmpfs", "-o",
                                "size=%s,mode=0755" % tmpfs_size, "tmpfs",
                                upload], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if p.returncode != 0:
                skip("mount -t tmpfs failed: %s" % p.stdout.decode().strip())
            self.mounted = upload
        self.env = harness.Env(quota=quota, conf=conf, root=root,
                               upload=upload)
        chown_tree(upload)
        for p in (self.env.conf_path, self.env.quota_path):
            if os.path.exists(p):
                os.chmod(p, 0o644)

    def close(self):
        if self.mounted:
            for args in (["umount", self.mounted],
                         ["umount", "-l", self.mounted]):
                if subprocess.run(args, stderr=subprocess.DEVNULL)\
                        .returncode == 0:
                    break
            self.mounted = None


# ---------------------------------------------------------------- servers

class Server:
    """One web server on one hosting path; start() and stop()."""

    def __init__(self, path, site, build, root):
        self.path = path
        self.kind, snippet, self.needs_fcgi = PATHS[path]
        self.snippet_src = os.path.join(TOP, snippet)
        self.site = site
        self.env = site.env
        self.build = build
        self.root = root
        self.port = None
        self.proc = None
        self.responder = None      # the standalone upgate.fcgi
        # lighttpd opens its log as www-data: in the folder that is theirs
        self.log = os.path.join(root, "run/error.log"
                                if self.kind == "lighttpd" else "error.log")
        self.out = os.path.join(root, "server.out")
        self.responder_log = os.path.join(root, "responder.log")
        self.sock = os.path.join(root, "run", "upgate.sock")

    # -- files
    def _mapping(self):
        m = {"conf": self.env.conf_path,
             "htpasswd": os.path.join(self.root, "htpasswd")}
        if self.path in STANDALONE:
            # the responder runs on its own: the snippet only names its
            # socket, and its configuration in a comment
            m["proxy_sock"] = self.sock
        else:
            m["bin"] = self.build
        if self.path == "lighttpd-fastcgi":
            m["lighttpd_sock"] = self.sock
        return m

    def _write(self):
        os.makedirs(os.path.join(self.root, "run"), exist_ok=True)
        os.chmod(self.root, 0o755)
        uid, gid = runas_ids()
        os.chown(os.path.join(self.root, "run"), uid, gid)
        os.chmod(os.path.join(self.root, "run"), 0o700)
        write_htpasswd(os.path.join(self.root, "htpasswd"))
        with open(self.snippet_src) as f:
            text = substitute(f.read(), self._mapping(),
                              os.path.relpath(self.snippet_src, TOP))
        snippet = os.path.join(self.root, os.path.basename(self.snippet_src))
        with open(snippet, "w") as f:
            f.write(text)
        self.port = free_port()
        fmt = {"root": self.root, "port": self.port, "user": RUNAS,
               "mods": MODULES, "snippet": snippet,
               "docroot": self.env.upload}
        if self.kind == "apache":
            fmt["extra"] = APACHE_EXTRA[self.path].format(**fmt)
            conf = APACHE_BASE.format(**fmt)
            if self.path == "apache-fcgid":
                # mod_fcgid binds its sockets there as www-data
                os.makedirs(os.path.join(self.root, "fcgid"), exist_ok=True)
                os.chown(os.path.join(self.root, "fcgid"), *runas_ids())
        elif self.kind == "nginx":
            conf = NGINX_BASE.format(**fmt)
        else:
            conf = LIGHTTPD_BASE.format(**fmt)
        self.conf = os.path.join(self.root, "server.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    # -- processes
    def start(self):
        if self.needs_fcgi and not os.access(
                os.path.join(self.build, "upgate.fcgi"), os.X_OK):
            skip("%s/upgate.fcgi is not built yet" % self.build)
        self._write()
        if self.path in STANDALONE:
            self.start_responder()
        if self.kind == "apache":
            argv = ["apache2", "-f", self.conf, "-DFOREGROUND"]
            chk = ["apache2", "-t", "-f", self.conf]
        elif self.kind == "nginx":
            # -p: nginx's prefix, so that nothing reaches /var/log/nginx
            argv = ["nginx", "-p", self.root, "-c", self.conf]
            chk = ["nginx", "-t", "-q", "-p", self.root, "-c", self.conf]
        else:
            argv = ["lighttpd", "-D", "-f", self.conf]
            chk = ["lighttpd", "-tt", "-f", self.conf]
        p = subprocess.run(chk, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.stop()
            fail("%s: configuration test failed: %s" % (
                self.path, p.stdout.decode("utf-8", "replace")[-1500:]))
        out = open(self.out, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out,
                                     start_new_session=True,
                                     env=self._server_env())
        out.close()
        try:
            wait_port(self.port, self.proc, log=self.out)
        except Failure:
            self.stop()
            raise
        return self

    @staticmethod
    def _server_env():
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                       "/sbin:/bin", "LANG": "C"}
        if os.path.exists("/etc/apache2/envvars"):
            env["APACHE_RUN_USER"] = RUNAS
            env["APACHE_RUN_GROUP"] = RUNAS
        return env

    def start_responder(self, threads=8):
        """The standalone responder behind mod_proxy_fcgi or nginx, as
        www-data."""
        uid, gid = runas_ids()
        env = dict(self._server_env(), UPGATE_CONFIG=self.env.conf_path)

        def demote():
            os.setgid(gid)
            os.setgroups([])
            os.setuid(uid)
        out = open(self.responder_log, "ab")
        self.responder = subprocess.Popen(
            [os.path.join(self.build, "upgate.fcgi"), "--listen", self.sock,
             "--threads", str(threads)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
            preexec_fn=demote, start_new_session=True)
        out.close()
        end = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.responder.poll() is not None or time.monotonic() > end:
                fail("upgate.fcgi --listen %s did not start (exit %s): %s"
                     % (self.sock, self.responder.poll(),
                        tail(self.responder_log)))
            time.sleep(0.02)

    def stop(self):
        for p, sig in ((self.proc, signal.SIGTERM),
                       (self.responder, signal.SIGTERM)):
            if p is None or p.poll() is not None:
                continue
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                continue
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        # Apache's detached children (cgid daemon, fcgid responders)
        # belong to the server's session too: make sure none is left.
        for p in (self.proc, self.responder):
            if p is not None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def url(self, rel=""):
        return "http://127.0.0.1:%d/upload%s" % (self.port, rel)

    def logs(self):
        return tail(self.log, 100000) + tail(self.out, 100000) + \
            tail(self.responder_log, 100000)


# ------------------------------------------------------------------ curl

class HttpResponse:
    """What curl got: status, headers of the final response, body,
    size_upload, curl's exit code."""

    def __init__(self, req, rc, head, body, info, stderr, elapsed):
        self.req = req
        self.rc = rc
        self.body = body
        self.info = info
        self.stderr = stderr
        self.elapsed = elapsed
        self.size_upload = int(info.get("size_upload") or 0)
        self.status = None
        self.phrase = None
        self.headers = []
        self.interim = []           # 1xx status codes seen
        self._parse(head)

    def _parse(self, head):
        blocks = [b for b in head.split(b"\r\n\r\n") if b.strip()]
        for b in blocks:
            lines = b.split(b"\r\n")
            m = re.match(rb"^HTTP/\d(?:\.\d)? (\d{3})(?: (.*))?$", lines[0])
            if not m:
                continue
            st = int(m.group(1))
            if 100 <= st < 200:
                self.interim.append(st)
                continue
            self.status = st
            self.phrase = (m.group(2) or b"").decode("latin-1")
            self.headers = []
            for line in lines[1:]:
                if b":" in line:
                    k, v = line.split(b":", 1)
                    self.headers.append((k.decode("latin-1"),
                                         v.strip().decode("latin-1")))

    def header(self, name):
        vals = self.header_all(name)
        return vals[0] if vals else None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def media_type(self):
        return (self.header("Content-Type") or "").split(";")[0].strip()\
            .lower()

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as e:
            fail("%s: body is not JSON (%s): %r" % (self.what(), e,
                                                    self.body[:300]))

    def what(self):
        r = self.req
        s = "%s %s via %s" % (r["method"], r["path"], r["via"])
        extra = ["user=%s" % r["user"]] if r.get("user") else []
        if r.get("length") is not None:
            extra.append("length=%s" % r["length"])
        for h in r.get("headers") or ():
            extra.append(h)
        return s + (" (" + ", ".join(extra) + ")" if extra else "")

    def summary(self):
        return "status %s, curl exit %s (%s), headers %r, body %r, " \
            "sent %d" % (self.status, self.rc, self.stderr.strip()[-200:],
                         self.headers, self.body[:300], self.size_upload)


def sparse_file(path, size):
    """A file of size zero bytes that takes no disk space."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def _curl_response(req, rc, so, se, hdr, out, cleanup, elapsed):
    """What a curl run left: its -w JSON, the head and body files (which
    are then removed with the rest of cleanup), as an HttpResponse."""
    try:
        info = json.loads(so.decode("utf-8", "replace") or "{}")
    except ValueError:
        info = {}
    head = body = b""
    try:
        with open(hdr, "rb") as f:
            head = f.read()
        with open(out, "rb") as f:
            body = f.read()
    except FileNotFoundError:
        pass
    for c in cleanup:
        try:
            os.unlink(c)
        except FileNotFoundError:
            pass
    return HttpResponse(req, rc, head, body, info,
                        se.decode("utf-8", "replace"), elapsed)


def curl(srv, method, rel="", user="alice", password=None, data=None,
         upload=None, stdin=None, headers=(), expect100=False,
         timeout=300, workdir=None, rate=None):
    """One request through the server.  data: bytes sent with their
    length; upload: a file sent with -T (its size as the length); stdin:
    bytes or a file object sent as chunked -T - (no length).
    expect100: send Expect: 100-continue (else none).  rate: curl's
    --limit-rate, to keep an upload in flight."""
    workdir = workdir or srv.root
    fd, base = tempfile.mkstemp(prefix="curl-", dir=workdir)
    os.close(fd)
    hdr, out = base + ".h", base + ".b"
    argv = ["curl", "-sS", "--http1.1", "-o", out, "-D", hdr,
            "-w", "%{json}", "--max-time", str(timeout),
            "--expect100-timeout", "1"]
    if user is not None:
        argv += ["-u", "%s:%s" % (user, password or user)]
    length = None
    cleanup = [base, hdr, out]
    if data is not None:
        upload = base + ".in"
        with open(upload, "wb") as f:
            f.write(data)
        cleanup.append(upload)
    if upload is not None:
        argv += ["-T", upload]
        length = os.path.getsize(upload)
    elif stdin is not None:
        argv += ["-T", "-"]
    if method != "PUT" or (upload is None and stdin is None):
        argv += ["-X", method]
    argv += ["-H", "Expect: 100-continue" if expect100 else "Expect:"]
    for h in headers:
        argv += ["-H", h]
    if rate is not None:
        argv += ["--limit-rate", str(rate)]
    argv.append(srv.url(rel))
    req = {"method": method, "path": "/upload" + rel, "via": srv.path,
           "user": user, "length": length,
           "headers": [h for h in headers] +
           (["Expect: 100-continue"] if expect100 else []) +
           (["chunked"] if stdin is not None else [])}
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None
                         else subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    feeder = None
    if stdin is not None:
        def feed():
            try:
                if isinstance(stdin, (bytes, bytearray)):
                    p.stdin.write(stdin)
                else:
                    shutil.copyfileobj(stdin, p.stdin)
            except (BrokenPipeError, OSError):
                pass
            finally:
                try:
                    p.stdin.close()
                except OSError:
                    pass
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
    try:
        so, se = p.communicate(timeout=timeout + 30) if stdin is None \
            else (p.stdout.read(), p.stderr.read())
        p.wait(timeout + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail("%s %s via %s: curl still running after %ss"
             % (method, rel, srv.path, timeout + 30))
    if feeder is not None:
        feeder.join(10)
    elapsed = time.monotonic() - t0
    return _curl_response(req, p.returncode, so, se, hdr, out, cleanup,
                          elapsed)


# ------------------------------------------------------- groups of tests

BUILD = "build"       # set by run.py (through reachable_build)


def reachable_build(build):
    """build, or a copy of its programs that RUNAS can run: a checkout in a
    private folder (mode 0700, as /root or mktemp -d) is out of the reach
    of the servers' children.  The copy goes away at exit."""
    probe = subprocess.run(["runuser", "-u", RUNAS, "--", "test", "-x",
                            os.path.join(build, "upgate.cgi")],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    if probe.returncode == 0:
        return build
    copy = tempfile.mkdtemp(prefix="upgate-bin-", dir="/tmp")
    os.chmod(copy, 0o755)
    for name in ("upgate.cgi", "upgate.fcgi", "upgate-quota"):
        src = os.path.join(build, name)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(copy, name))
    atexit.register(shutil.rmtree, copy, True)
    return copy
GROUPS = []           # [Group], in registration order
FIGURES = []          # [(path, case, sent, length)] early-refusal figures
_FIG_LOCK = threading.Lock()


class Group:
    """Tests that share one fixture (a running server); setup() returns
    an object with close() (which returns a problem string or None)."""

    def __init__(self, name, setup, slow=False):
        self.name = name
        self.setup = setup
        self.slow = slow
        self.cases = []
        GROUPS.append(self)

    def case(self, name):
        def deco(fn):
            self.cases.append((name, fn))
            return fn
        return deco


def record_figure(path, case, sent, length):
    with _FIG_LOCK:
        FIGURES.append((path, case, sent, length))


def human(n):
    for unit, k in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= k:
            return "%.1f %s" % (n / k, unit)
    return "%d bytes" % n


def figures_table():
    if not FIGURES:
        return []
    out = ["early refusal: body bytes curl sent before the 507 "
           "(size_upload)"]
    for path, case, sent, length in sorted(FIGURES):
        out.append("  %-18s %-32s %12d  (%s of %s)" % (
            path, case, sent, human(sent), human(length)))
    return out


class Fixture:
    """A Site and a running Server for one hosting path, under
    RUN_ROOT/name."""

    def __init__(self, name, path, quota, conf, tmpfs_size=None):
        self.name = name
        self.path = path
        self.root = os.path.join(harness.RUN_ROOT, name)
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        self.site = Site(os.path.join(self.root, "site"), quota, conf,
                         tmpfs_size)
        self.env = self.site.env
        srv_root = os.path.join(self.root, "srv")
        os.makedirs(srv_root)
        self.srv = Server(path, self.site, BUILD, srv_root)
        try:
            self.srv.start()
        except BaseException:
            self.close()
            raise

    def curl(self, method, rel="", **kw):
        return curl(self.srv, method, rel, **kw)

    def close(self):
        """Stops everything; returns a problem (a string) or None."""
        problem = None
        self.srv.stop()
        end = time.monotonic() + 5
        left = leftover_processes(self.root)
        while left and time.monotonic() < end:
            time.sleep(0.1)
            left = leftover_processes(self.root)
        if left:
            problem = "processes left running after the server " \
                "stopped: %r" % left
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if "AddressSanitizer" in self.srv.logs() or \
                "runtime error:" in self.srv.logs():
            problem = "sanitizer report in the logs: %s" % \
                self.srv.logs()[-1500:]
        self.site.close()
        if not harness.KEEP:
            shutil.rmtree(self.root, ignore_errors=True)
        return problem


def leftover_processes(root):
    """pids of the processes that belong to the fixture under root: their
    command line or environment names it."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
            # a responder or CGI names root's upgate.conf in UPGATE_CONFIG
            with open("/proc/%s/environ" % d, "rb") as f:
                cmd += f.read()
        except OSError:
            continue
        if root.encode() in cmd:
            out.append(int(d))
    return out


# ---------------------------------------------------------- expectations

# upgate(8), Decisions: the refusals decided before the body
EARLY_REASONS = {"length_required", "bad_request", "too_large",
                 "unsupported_media_type", "conflict", "disk_full",
                 "quota_exceeded", "forbidden", "not_found",
                 "precondition_failed"}


def expect(r, status, reason=None, curl_ok=True):
    """What every answer of upgate through a server must satisfy
    (upgate(8), Responses) and the status/reason."""
    w = r.what()
    if r.status != status:
        fail("%s: expected status %s%s, got %s; %s" % (
            w, status, " " + reason if reason else "", r.status,
            r.summary()))
    if curl_ok:
        check(r.rc == 0, "%s: curl failed (exit %s): %s" % (w, r.rc,
                                                           r.stderr.strip()))
    # The reason phrase reaches the client only through Apache, which
    # keeps the program's Status line; lighttpd writes its own.
    if r.req["via"].startswith("apache"):
        eq(r.phrase, harness.PHRASES.get(status), "%s: reason phrase" % w)
    eq(r.header("Cache-Control"), "no-store", "%s: Cache-Control" % w)
    # Apache drops Content-Type from a 204 (RFC 9110 gives it no body)
    check(r.header("Content-Type") or status == 204,
          "%s: no Content-Type (%r)" % (w, r.headers))
    if status == 204 or r.req["method"] == "HEAD":
        eq(r.body, b"", "%s: body of a %s" % (w, status))
    else:
        check(r.body, "%s: empty body on a %s" % (w, status))
    if r.media_type() == "application/json" and r.body:
        j = r.json()
        if reason is not None and status >= 400:
            eq(j.get("status"), status, "%s: JSON status" % w)
            eq(j.get("error"), harness.PHRASES[status], "%s: JSON error" % w)
            eq(j.get("reason"), reason, "%s: JSON reason" % w)
        harness._json_keys(r, status, j)
    elif reason is not None and status >= 400:
        fail("%s: expected a JSON body (no Accept), got %r: %r"
             % (w, r.header("Content-Type"), r.body[:300]))
    return r


# The paths whose server writes its own Connection header whatever upgate
# sends: nginx keeps the connection, reads and drops the rest of a refused
# body for at most lingering_time (30 s), then closes.  What the client
# sent (test_early's figures) shows the upload stopped all the same.
OWN_CONNECTION = {"nginx-fastcgi"}


def expect_close(r):
    """A refusal with the body unread carries Connection: close (upgate(8), Decisions)
    and the server passes it on (except OWN_CONNECTION)."""
    if r.req["via"] in OWN_CONNECTION:
        return
    eq((r.header("Connection") or "").lower(), "close",
       "%s: Connection header of a refusal before the body" % r.what())


def as_runas(argv, **kw):
    """Runs argv as www-data (upgate-quota must not leave root-owned files
    in state_dir); returns (rc, stdout, stderr)."""
    uid, gid = runas_ids()

    def demote():
        os.setgid(gid)
        os.setgroups([])
        os.setuid(uid)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=demote, timeout=60, **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def recount(fx):
    return as_runas([os.path.join(fx.srv.build, "upgate-quota"), "--config",
                     fx.env.conf_path, "recount"])


def responder_pids(fx):
    """The upgate.fcgi processes of fx (lighttpd's or the standalone)."""
    exe = os.path.realpath(os.path.join(fx.srv.build, "upgate.fcgi"))
    out = []
    for pid in leftover_processes(fx.root):
        try:
            if os.path.realpath("/proc/%d/exe" % pid) == exe:
                out.append(pid)
        except OSError:
            pass
    return out


# ------------------------------------------------------- curl -F (forms)

def curl_form(srv, fields, rel="", user="alice", password=None,
              headers=(), expect100=False, timeout=300, workdir=None):
    """A POST of a multipart/form-data body built by curl itself (-F), as
    a client would send it: fields are curl's -F arguments, e.g.
    ("a=@/tmp/x.bin", "note=hello", "b=@/tmp/y;filename=y.txt").  curl
    sends the length it computed (files included), so a sparse file
    makes a large form cheaply.  expect100: let curl send Expect:
    100-continue (else none).  Returns an HttpResponse whose req lists
    the -F arguments among its headers."""
    workdir = workdir or srv.root
    fd, base = tempfile.mkstemp(prefix="curl-", dir=workdir)
    os.close(fd)
    hdr, out = base + ".h", base + ".b"
    argv = ["curl", "-sS", "--http1.1", "-o", out, "-D", hdr,
            "-w", "%{json}", "--max-time", str(timeout),
            "--expect100-timeout", "1"]
    if user is not None:
        argv += ["-u", "%s:%s" % (user, password or user)]
    for fld in fields:
        argv += ["-F", fld]
    argv += ["-H", "Expect: 100-continue" if expect100 else "Expect:"]
    for h in headers:
        argv += ["-H", h]
    argv.append(srv.url(rel))
    req = {"method": "POST", "path": "/upload" + rel, "via": srv.path,
           "user": user, "length": None,
           "headers": ["-F " + os.path.basename(f) if "=@" in f
                       else "-F " + f for f in fields] + list(headers) +
           (["Expect: 100-continue"] if expect100 else [])}
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        so, se = p.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail("POST %s via %s: curl -F still running after %ss"
             % (rel, srv.path, timeout + 30))
    elapsed = time.monotonic() - t0
    return _curl_response(req, p.returncode, so, se, hdr, out,
                          (base, hdr, out), elapsed)

"""Starts and stops the real herald daemon on free loopback ports, and talks to it."""
import collections
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid

import herald_http
import herald_jwt
import herald_ws

JWT_SECRET = "itest-jwt-secret-6a1f0c9e2b7d4a58b3e1f0a2c4d6e8f0"
API_KEY = "itest-api-key-3c5e7a9b1d"
HOST = "127.0.0.1"


# The ports free_port() handed out lately: a daemon takes its public and internal ports one after
# the other before it listens on either, so the second pick must not repeat the first.
_recent_ports = collections.deque(maxlen=1024)


def free_port():
    """A loopback port nobody listens on. With HERALD_TEST_PORTS=LOW-HIGH (set by run.sh when
    two suites run side by side, each its own range below the kernel's ephemeral ports) it is
    taken from that range, so the two suites never hand out the same port; a port handed out
    lately by this process is never handed out again."""
    span = os.environ.get("HERALD_TEST_PORTS", "")
    if span:
        low, high = (int(x) for x in span.split("-"))
        for _ in range(200):
            port = random.randint(low, high)
            if port in _recent_ports:
                continue
            _recent_ports.append(port)
            s = socket.socket()
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            finally:
                s.close()
            return port
        raise RuntimeError("no free port in HERALD_TEST_PORTS=%s" % span)
    for _ in range(200):
        s = socket.socket()
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _recent_ports:
            _recent_ports.append(port)
            return port
    raise RuntimeError("no free port")


def clean_env(extra=None):
    """The caller's environment without any HERALD_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(extra or {})
    return env


class MysqlDatabases:
    """Gives each daemon an empty database on the server named by HERALD_TEST_MYSQL_URL: a new
    database when the URL's user may create one (or, with deploy/lib/mariadb.sh's server, through
    its admin socket in HERALD_MARIADB_DIR), else the URL's own database with its tables dropped."""

    def __init__(self, url):
        self.url = urllib.parse.urlsplit(url)
        self.base = self.url.path.lstrip("/") or "herald"
        self.user = urllib.parse.unquote(self.url.username or "root")
        self.created = []
        self.client = shutil.which("mariadb") or shutil.which("mysql")
        assert self.client, "HERALD_TEST_MYSQL_URL is set but no mariadb/mysql client is installed"
        sock = os.path.join(os.environ.get("HERALD_MARIADB_DIR", ""), "mysqld.sock")
        self.admin_socket = sock if os.environ.get("HERALD_MARIADB_DIR") and os.path.exists(sock) else None
        self.can_create = self._probe()

    def _run(self, cmd, statement, database=None):
        cmd = cmd + ["-N", "-B", "-e", statement] + ([database] if database else [])
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    def _sql(self, statement, database=None):
        cmd = [self.client, "--no-defaults", "--protocol=tcp", "-h", self.url.hostname or HOST,
               "-P", str(self.url.port or 3306), "-u", self.user]
        if self.url.password:
            cmd.append("-p" + urllib.parse.unquote(self.url.password))
        return self._run(cmd, statement, database)

    def _admin(self, statement):
        import getpass
        cmd = [self.client, "--no-defaults", "--protocol=socket", "--socket=" + self.admin_socket,
               "-u", getpass.getuser()]
        return self._run(cmd, statement)

    def _create(self, name):
        if self._sql("CREATE DATABASE `%s`" % name).returncode == 0:
            return True
        if self.admin_socket:
            grants = "".join("GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%s'; " % (name, self.user, h)
                             for h in ("127.0.0.1", "localhost"))
            r = self._admin("CREATE DATABASE `%s`; %s" % (name, grants))
            return r.returncode == 0
        return False

    def _drop(self, name):
        r = self._sql("DROP DATABASE IF EXISTS `%s`" % name)
        if r.returncode != 0 and self.admin_socket:
            self._admin("DROP DATABASE IF EXISTS `%s`" % name)

    def _probe(self):
        name = "%s_it_probe_%s" % (self.base, uuid.uuid4().hex[:6])
        ok = self._create(name)
        if ok:
            self._drop(name)
        return ok

    def fresh(self):
        if self.can_create:
            name = "%s_it_%s" % (self.base, uuid.uuid4().hex[:10])
            assert self._create(name), "cannot create database %s" % name
            self.created.append(name)
        else:
            # No right to create databases: wipe the configured one instead.
            name = self.base
            tables = self._sql("SHOW TABLES", name)
            assert tables.returncode == 0, tables.stderr
            drops = ["DROP TABLE IF EXISTS `%s`" % t for t in tables.stdout.split()]
            if drops:
                r = self._sql("SET FOREIGN_KEY_CHECKS=0; " + "; ".join(drops), name)
                assert r.returncode == 0, r.stderr
        return "mysql://%s/%s" % (self.url.netloc, name)

    def drop_all(self):
        for name in self.created:
            self._drop(name)
        self.created = []


class Herald:
    """One daemon process. `env` adds settings; `args` adds command-line flags."""

    def __init__(self, binary, workdir, store, env=None, args=None, with_secrets=True):
        self.binary = binary
        self.workdir = workdir
        self.store = store
        self.extra_env = dict(env or {})
        self.args = list(args or [])
        self.with_secrets = with_secrets
        self.proc = None
        self.log_path = os.path.join(workdir, "herald-%s.log" % uuid.uuid4().hex[:6])
        self.secret = JWT_SECRET
        self.api_key = API_KEY

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self, ready_timeout=20.0, wait=True):
        self.public_port = free_port()
        self.internal_port = free_port()
        settings = {
            "HERALD_PUBLIC_ADDR": "%s:%d" % (HOST, self.public_port),
            "HERALD_INTERNAL_ADDR": "%s:%d" % (HOST, self.internal_port),
            "HERALD_STORE": self.store,
            "HERALD_THREADS": "2",
            "HERALD_LOG_LEVEL": "info",
            # No load balancer watches these daemons: exit as soon as nothing is in flight
            # (tests of the drain grace set it themselves).
            "HERALD_DRAIN_GRACE_MS": "0",
        }
        if self.with_secrets:
            settings["HERALD_JWT_SECRET"] = self.secret
            settings["HERALD_API_KEY"] = self.api_key
        settings.update(self.extra_env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary] + self.args, cwd=self.workdir,
                                     env=clean_env(settings), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout=20.0):
        self.wait_status("/readyz", 200, timeout)

    def wait_status(self, path, status, timeout=10.0):
        """Polls GET `path` of the internal listener until it answers `status`; fails when herald
        exits first or the deadline passes."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("herald exited with %d before %s answered %d:\n%s"
                                     % (self.proc.returncode, path, status, self.log_tail()))
            try:
                last = herald_http.request(HOST, self.internal_port, "GET", path, timeout=2)
                if last.status == status:
                    return
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise AssertionError("no %s %d from herald within %.0fs (last: %r)\n%s"
                             % (path, status, timeout, last, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """SIGTERM only; the caller waits."""
        self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=12.0):
        """SIGTERM, and require exit 0 within `timeout` (kill -9 and fail otherwise)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("herald did not exit within %.0fs of SIGTERM\n%s"
                                 % (timeout, self.log_tail()))
        finally:
            self.log.close()
        assert rc == 0, "herald exited %d after SIGTERM\n%s" % (rc, self.log_tail())
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait(5)
        self.log.close()

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    # ---- HTTP ----------------------------------------------------------------------------
    def internal(self, method, path, body=None, key=True, headers=None, timeout=10):
        hdrs = dict(headers or {})
        if key is True:
            hdrs["Authorization"] = "Bearer " + self.api_key
        elif key:
            hdrs["Authorization"] = key
        return herald_http.request(HOST, self.internal_port, method, path, body, hdrs, timeout)

    def public(self, method, path, body=None, token=None, headers=None, timeout=10):
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        return herald_http.request(HOST, self.public_port, method, path, body, hdrs, timeout)

    def notify(self, **body):
        return self.internal("POST", "/v1/notify", body)

    def notify_ok(self, **body):
        r = self.notify(**body)
        assert r.status == 200, "notify %r -> %r" % (body, r)
        return r.json

    def token(self, user_id, groups=None, ttl=3600, **extra):
        return herald_jwt.user_token(self.secret, user_id, groups, ttl, **extra)

    def inbox(self, token, query=""):
        r = self.public("GET", "/v1/inbox" + query, token=token)
        assert r.status == 200, "GET /v1/inbox%s -> %r" % (query, r)
        return r.json

    def unread(self, token):
        r = self.public("GET", "/v1/inbox/unread_count", token=token)
        assert r.status == 200, r
        return r.json["unread"]

    def presence(self, user_id):
        r = self.internal("GET", "/v1/users/%d/presence" % user_id)
        assert r.status == 200, r
        return r.json

    def stats(self):
        r = self.internal("GET", "/v1/stats")
        assert r.status == 200, r
        return r.json

    def wait_presence(self, user_id, connections, timeout=5.0):
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            got = self.presence(user_id)
            if got.get("connections") == connections:
                return got
            time.sleep(0.05)
        raise AssertionError("presence of %d: want %d connections, got %r"
                             % (user_id, connections, got))

    # ---- WebSocket -----------------------------------------------------------------------
    def upgrade(self, query="", headers=None, rcvbuf=None):
        return herald_ws.handshake(HOST, self.public_port, "/v1/ws" + query, headers,
                                   rcvbuf=rcvbuf)

    def ws(self, user_id=None, token=None, groups=None, since=None, headers=None,
           read_initial=True, rcvbuf=None):
        """Opens a socket for a user (or a given token) and, unless told not to, reads the
        frames the server sends on connect: one sync frame when `since` is given, then count."""
        if token is None:
            token = self.token(user_id, groups)
        query = "?token=" + token
        if since is not None:
            query += "&since=%d" % since
        hs = self.upgrade(query, headers, rcvbuf)
        assert hs.status == 101, "upgrade refused: %d %r" % (hs.status, hs.body)
        c = hs.client
        if read_initial:
            if since is not None:
                c.initial_sync = c.expect("sync")
            c.initial_count = c.expect("count")["unread"]
        return c


def stop_all(daemons, print_logs):
    """Stops every daemon with SIGTERM, each required to exit 0; returns the errors of those that
    did not (all are stopped first). With `print_logs`, prints the tail of each one's log."""
    errors = []
    for d in daemons:
        try:
            d.stop()
        except AssertionError as e:
            errors.append(str(e))
        if print_logs:
            print("---- herald log (%s) ----\n%s" % (getattr(d, "name", d.log_path), d.log_tail(80)))
    return errors

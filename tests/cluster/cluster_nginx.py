"""A real nginx (Debian's nginx-light) in front of the test nodes, configured from the shipped
deploy/nginx/herald.conf: its upstream `server` lines and `listen` addresses are replaced by the
test's loopback ports, everything else (upgrade headers, timeouts, retries) is used as shipped."""
import os
import re
import shutil
import signal
import subprocess
import time

import herald_http
from herald_daemon import HOST, free_port

SHIPPED_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                            "nginx", "herald.conf")


def _replace_upstream(conf, name, addrs):
    """Replaces the `server ...;` lines of `upstream NAME { ... }` with one line per address."""
    pattern = re.compile(r"(upstream\s+%s\s*\{)(.*?)(\n\})" % re.escape(name), re.S)
    m = pattern.search(conf)
    assert m, "deploy/nginx/herald.conf has no upstream %s" % name
    body = m.group(2)
    lines = body.split("\n")
    kept = [ln for ln in lines if not re.match(r"\s*server\s", ln)]
    first = next(i for i, ln in enumerate(lines) if re.match(r"\s*server\s", ln))
    options = re.match(r"\s*server\s+\S+(.*);", lines[first]).group(1)
    servers = ["    server %s%s;" % (a, options) for a in addrs]
    insert_at = sum(1 for ln in lines[:first] if not re.match(r"\s*server\s", ln))
    new_body = "\n".join(kept[:insert_at] + servers + kept[insert_at:])
    return conf[:m.start()] + m.group(1) + new_body + m.group(3) + conf[m.end():]


def _replace_listen(conf, marker, addr):
    """Replaces the `listen` line that carries the comment `# MARKER`."""
    pattern = re.compile(r"listen\s+[^;]+;(\s*#\s*%s\b)" % re.escape(marker))
    assert pattern.search(conf), "deploy/nginx/herald.conf has no listen line marked %s" % marker
    return pattern.sub(lambda m: "listen %s;%s" % (addr, m.group(1)), conf, count=1)


def render(workdir, public_addrs, internal_addrs, public_port, internal_port, workers=1,
           worker_connections=4096, access_log=True):
    """A complete nginx.conf around the shipped http-level file."""
    with open(SHIPPED_CONF) as f:
        conf = f.read()
    conf = _replace_upstream(conf, "herald_public", public_addrs)
    conf = _replace_upstream(conf, "herald_internal", internal_addrs)
    conf = _replace_listen(conf, "public", "%s:%d" % (HOST, public_port))
    conf = _replace_listen(conf, "internal", "%s:%d" % (HOST, internal_port))
    temp = "".join("    %s_temp_path %s;\n" % (k, os.path.join(workdir, k))
                   for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    return ("%sworker_processes %d;\nworker_rlimit_nofile %d;\nerror_log %s warn;\npid %s;\n"
            "events { worker_connections %d; }\n"
            "http {\n    access_log %s;\n%s\n%s\n}\n"
            % (user, workers, min(19000, 2 * worker_connections + 100),
               os.path.join(workdir, "error.log"), os.path.join(workdir, "nginx.pid"),
               worker_connections, os.path.join(workdir, "access.log") if access_log else "off",
               temp, conf))


class ClusterNginx:
    def __init__(self, workdir, nodes, workers=1, worker_connections=4096, access_log=True):
        self.dir = os.path.join(str(workdir), "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.public_port = free_port()
        self.internal_port = free_port()
        self.conf_path = os.path.join(self.dir, "nginx.conf")
        with open(self.conf_path, "w") as f:
            f.write(render(self.dir, ["%s:%d" % (HOST, n.public_port) for n in nodes],
                           ["%s:%d" % (HOST, n.internal_port) for n in nodes],
                           self.public_port, self.internal_port, workers,
                           worker_connections, access_log))
        self.proc = None

    def start(self, timeout=10.0):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        check = subprocess.run([binary, "-t", "-q", "-e", os.path.join(self.dir, "error.log"),
                                "-p", self.dir, "-c", self.conf_path],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, "nginx -t refused the config:\n%s\n%s" % (
            check.stderr, open(self.conf_path).read())
        self.log = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen([binary, "-e", os.path.join(self.dir, "error.log"),
                                      "-p", self.dir, "-c", self.conf_path, "-g", "daemon off;"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "nginx exited:\n" + self.log_tail()
            try:
                if herald_http.request(HOST, self.internal_port, "GET", "/healthz",
                                       timeout=2).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("nginx did not answer within %.0fs\n%s" % (timeout, self.log_tail()))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # fast: open WebSockets would hold a graceful stop
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "error.log"), "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return "(no nginx log)"

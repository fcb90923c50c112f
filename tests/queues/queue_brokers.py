"""The brokers the queue tests run against, started from the project's scripts: one private
RabbitMQ node per test session (deploy/lib/rabbitmq.sh; it takes several seconds to start), one
redis-server (deploy/lib/redis.sh), and a MariaDB (deploy/lib/mariadb.sh) for the tests that
freeze the store. Plus small clients: pika for AMQP, a minimal RESP client for Redis."""
import json
import os
import socket
import subprocess
import time
import urllib.parse

import pika

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LIB = os.path.join(ROOT, "deploy", "lib")


class Rabbit:
    def __init__(self, workdir):
        self.dir = os.path.join(str(workdir), "rabbitmq")
        self.url = None

    def _sh(self, *args, timeout=90):
        return subprocess.run(["bash", os.path.join(LIB, "rabbitmq.sh")] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        r = self._sh("start", self.dir)
        assert r.returncode == 0, "rabbitmq did not start: %s %s" % (r.stdout, r.stderr)
        self.url = r.stdout.strip().splitlines()[-1]
        assert self.url.startswith("amqp://"), r.stdout
        return self

    def halt(self):
        r = self._sh("halt", self.dir)
        assert r.returncode == 0, r.stderr

    def resume(self):
        r = self._sh("resume", self.dir)
        assert r.returncode == 0, "rabbitmq did not restart: %s %s" % (r.stdout, r.stderr)

    def stop(self):
        self._sh("stop", self.dir)

    def ctl(self, *args):
        r = self._sh("ctl", self.dir, *args, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def queue_counts(self, queue):
        """(ready, unacknowledged) messages of a queue, from the broker itself."""
        out = self.ctl("list_queues", "name", "messages_ready", "messages_unacknowledged")
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0] == queue:
                return int(parts[1]), int(parts[2])
        raise AssertionError("queue %s not listed: %r" % (queue, out))

    def connect(self):
        return pika.BlockingConnection(pika.URLParameters(self.url))


def publish(channel, queue, bodies, message_ids=None, **props):
    """Publishes persistent messages to the default exchange, publisher confirms on."""
    for i, body in enumerate(bodies):
        p = pika.BasicProperties(delivery_mode=2, content_type="application/json",
                                 message_id=(message_ids[i] if message_ids else None), **props)
        channel.basic_publish("", queue, body if isinstance(body, (bytes, str)) else json.dumps(body),
                              properties=p)


class Resp:
    """A minimal Redis client (RESP2) for tests: enough for XADD, XRANGE, XPENDING, XLEN."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "redis closed the connection"
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                assert chunk
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise AssertionError("bad RESP: %r" % line)

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def cmd(self, *args):
        self.sock.sendall(self._encode(args))
        return self._read()

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self._encode(c) for c in commands))
        return [self._read() for _ in commands]

    def close(self):
        self.sock.close()


class Redis:
    def __init__(self, workdir):
        self.dir = os.path.join(str(workdir), "redis")
        self.url = None

    def start(self):
        port = subprocess.run(["bash", os.path.join(LIB, "redis.sh"), "free-port"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        r = subprocess.run(["bash", os.path.join(LIB, "redis.sh"), "start", self.dir, port],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, "redis did not start: %s %s" % (r.stdout, r.stderr)
        self.url = r.stdout.strip()
        return self

    def stop(self):
        subprocess.run(["bash", os.path.join(LIB, "redis.sh"), "stop", self.dir], timeout=30)


class Mariadb:
    """A private MariaDB; `pid()` is the server's, for SIGSTOP/SIGCONT."""

    def __init__(self, workdir):
        self.dir = os.path.join(str(workdir), "mariadb")
        self.url = None

    def start(self):
        script = ('. "%s/mariadb.sh" && herald_mariadb_start "%s" >/dev/null && '
                  'echo "$HERALD_TEST_MYSQL_URL"' % (LIB, self.dir))
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "mariadb did not start: %s %s" % (r.stdout, r.stderr)
        self.url = r.stdout.strip().splitlines()[-1]
        return self

    def pid(self):
        with open(os.path.join(self.dir, "mysqld.pid")) as f:
            return int(f.read().strip())

    def stop(self):
        subprocess.run(["bash", "-c", '. "%s/mariadb.sh" && herald_mariadb_stop "%s"' % (LIB, self.dir)],
                       capture_output=True, timeout=60)


def wait_until(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))

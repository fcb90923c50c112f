"""A throwaway redis-server for one cluster, through deploy/lib/redis.sh, that a test can stop
and start again on the same port (the nodes keep their HERALD_BUS address)."""
import os
import subprocess

from herald_daemon import free_port

REDIS_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "lib",
                        "redis.sh")


class ClusterRedis:
    def __init__(self, workdir):
        self.dir = os.path.join(str(workdir), "redis")
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d" % self.port
        self.up = False

    def start(self):
        r = subprocess.run(["bash", REDIS_SH, "start", self.dir, str(self.port)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, "redis-server did not start: %s %s" % (r.stdout, r.stderr)
        assert r.stdout.strip() == self.url, r.stdout
        self.up = True
        return self

    def stop(self):
        r = subprocess.run(["bash", REDIS_SH, "stop", self.dir], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        self.up = False

    def cli(self, *args):
        """One redis-cli command against this server; returns its stdout."""
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)] + list(args),
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout

"""Several real herald daemons on one MariaDB database and one redis-server, optionally behind a
real nginx, and the waits the cluster tests share."""
import os
import re
import time

import herald_http
from cluster_nginx import ClusterNginx
from cluster_redis import ClusterRedis
from herald_daemon import HOST, Herald, stop_all


class Cluster:
    def __init__(self, binary, workdir, store, node_env=None):
        self.binary = binary
        self.node_env = dict(node_env or {})  # more settings for every node
        self.workdir = str(workdir)
        self.store = store
        self.redis = ClusterRedis(self.workdir)
        self.nodes = []
        self.nginx = None
        self.sockets = []
        self.user_nodes = {}

    def start(self, nodes=2, nginx=False):
        self.redis.start()
        for i in range(nodes):
            self.add_node(wait=False)
        for n in self.nodes:
            n.wait_ready(30)
        if nginx:
            self.nginx = ClusterNginx(self.workdir, self.nodes).start()
        return self

    def add_node(self, wait=True):
        name = "node-%s" % "abcdefgh"[len(self.nodes)]
        d = Herald(self.binary, self.workdir, self.store,
                   env=dict(self.node_env, HERALD_BUS=self.redis.url, HERALD_NODE_ID=name))
        d.name = name
        self.nodes.append(d)
        return d.start(ready_timeout=30, wait=wait)

    def stop(self, failed=False):
        """Stops everything; every live node must drain and exit 0 after SIGTERM."""
        for c in self.sockets:
            c.close()
        if self.nginx is not None:
            self.nginx.stop()
        errors = stop_all(self.nodes, failed)
        if failed and self.nginx is not None:
            print("---- nginx error log ----\n%s" % self.nginx.log_tail())
        if self.redis.up:
            self.redis.stop()
        assert not errors, "\n".join(errors)

    def ws(self, node, user_id, subscribed=True, **kw):
        """A socket of `user_id` on `node`, closed when the cluster stops. Unless told not to,
        waits until the user's bus channel has a subscriber on every node holding one of the
        user's sockets, so that an event published next cannot miss it."""
        c = node.ws(user_id, **kw)
        self.sockets.append(c)
        held = self.user_nodes.setdefault(user_id, set())
        held.add(node.name)
        if subscribed and self.redis.up:
            wait_until("%d subscriber(s) of user %d's channel" % (len(held), user_id),
                       lambda: self.subscribers(user_id) >= len(held), timeout=10, interval=0.02)
        return c

    def subscribers(self, user_id):
        """Nodes subscribed to the user's bus channel (see connection_manager/README.md)."""
        out = self.redis.cli("PUBSUB", "NUMSUB", "herald:bus:user:%d" % user_id).split()
        return int(out[1])

    # ---- through nginx -------------------------------------------------------------------
    def lb_public(self, method, path, body=None, token=None, timeout=10):
        hdrs = {"Authorization": "Bearer " + token} if token else {}
        return herald_http.request(HOST, self.nginx.public_port, method, path, body, hdrs, timeout)

    def lb_internal(self, method, path, body=None, timeout=10):
        hdrs = {"Authorization": "Bearer " + self.nodes[0].api_key}
        return herald_http.request(HOST, self.nginx.internal_port, method, path, body, hdrs,
                                   timeout)


def wait_until(what, probe, timeout=10.0, interval=0.1):
    """Calls `probe()` until it returns a truthy value; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("%s: not within %.0fs (last: %r)" % (what, timeout, last))


def readyz(node):
    try:
        return node.internal("GET", "/readyz", key=False, timeout=2).status
    except OSError as e:
        return repr(e)


def metric(node, name):
    """One unlabelled sample of this node's /metrics."""
    text = node.internal("GET", "/metrics", key=False).body.decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, "no %s in /metrics" % name
    return float(m.group(1))


def unread_recount(node, token):
    """The user's unread items counted by listing status=unread through every page."""
    total, before, pages = 0, None, 0
    while True:
        q = "?status=unread&limit=100" + ("&before=%d" % before if before else "")
        page = node.inbox(token, q)
        total += len(page["notifications"])
        assert all(not it["read"] for it in page["notifications"]), page
        before = page["next_before"]
        pages += 1
        assert pages < 1000, "paging does not end"
        if before is None:
            return total


def drain_last_unread(client, quiet=1.0, timeout=15.0):
    """Reads frames until none arrives for `quiet` seconds; returns the last `unread` seen in a
    count or notification frame (None when there was none)."""
    import json
    import socket
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, payload = client.recv_message(quiet)
        except socket.timeout:
            return last
        f = json.loads(payload)
        if f.get("type") in ("count", "notification"):
            last = f["unread"]
    raise AssertionError("frames kept coming for %.0fs" % timeout)


def here():
    return os.path.dirname(os.path.abspath(__file__))

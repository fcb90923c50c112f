"""Webhooks on two nodes sharing one MariaDB outbox and one Redis: each event is sent by one
node (once, whatever node raised it), and user.online / user.offline follow the user's
connections over the whole cluster."""
import time

import pytest

import herald_fixtures
from herald_cluster import Cluster
from herald_daemon import Herald
from test_webhooks import SECRET, Receiver


class HookCluster(Cluster):
    def __init__(self, binary, workdir, store, env):
        super().__init__(binary, workdir, store)
        self.env = env

    def add_node(self, wait=True):
        name = "node-%s" % "abcdefgh"[len(self.nodes)]
        env = {"HERALD_BUS": self.redis.url, "HERALD_NODE_ID": name}
        env.update(self.env)
        d = Herald(self.binary, self.workdir, self.store, env=env)
        d.name = name
        self.nodes.append(d)
        return d.start(ready_timeout=30, wait=wait)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()
    assert not r.bad, r.bad


@pytest.fixture
def hook_cluster(request, herald_bin, mysql_dbs, tmp_path, receiver):
    """Returns a function starting two nodes with the webhook settings (and `more`); they are
    stopped after the test (logs printed when it failed)."""
    started = []

    def start(**more):
        env = {"HERALD_WEBHOOK_URL": receiver.url, "HERALD_WEBHOOK_SECRET": SECRET}
        env.update({"HERALD_" + k.upper(): str(v) for k, v in more.items()})
        c = HookCluster(herald_bin, tmp_path, mysql_dbs.fresh(), env)
        started.append(c)
        c.start(nodes=2)
        return c

    yield start
    for c in started:
        c.stop(failed=herald_fixtures.failed(request.node))


def test_each_event_is_sent_once_by_one_of_two_nodes(hook_cluster, receiver, new_user):
    c = hook_cluster(webhook_events="notification.read")
    a, b = c.nodes
    users = [new_user(), new_user()]
    for u in users:
        r = a.internal("POST", "/v1/notify/batch",
                       {"notifications": [{"user_id": u, "title": "n%d" % i} for i in range(150)]})
        assert r.status == 200, r
    # Reads through both nodes: each node raises half of the events.
    assert a.public("POST", "/v1/inbox/read_all", token=a.token(users[0])).status == 200
    assert b.public("POST", "/v1/inbox/read_all", token=b.token(users[1])).status == 200
    deadline = time.monotonic() + 15
    while len(receiver.events()) < 300 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3)  # any second send would have come by now
    events = receiver.events()
    ids = [e["id"] for e in events]
    assert len(ids) == 300 and len(set(ids)) == 300, (len(ids), len(set(ids)))
    per_user = {u: sum(1 for e in events if e["user_id"] == u) for u in users}
    assert per_user == {users[0]: 150, users[1]: 150}, per_user
    assert max(len(bt) for _, bt in receiver.batches) <= 100


def test_offline_is_decided_over_the_cluster_and_sent_once(hook_cluster, receiver, new_user):
    c = hook_cluster(offline_after_s=2)
    a, b = c.nodes
    u = new_user()
    on_a = c.ws(a, u)
    receiver.wait(lambda e: e.get("type") == "user.online" and e.get("user_id") == u,
                  what="online")
    on_b = c.ws(b, u)
    b.notify_ok(user_id=u, title="unread one")
    time.sleep(2.5)  # presence heartbeats (2 s) carry node b's connection to Redis
    on_a.close()
    time.sleep(4.0)
    assert not receiver.events("user.offline"), receiver.events()  # still on node b
    on_b.close()
    ev = receiver.wait(lambda e: e.get("type") == "user.offline" and e.get("user_id") == u,
                       timeout=10, what="offline")
    time.sleep(3.0)
    offline = receiver.events("user.offline")
    assert len(offline) == 1 and offline[0]["unread"] == 1, offline
    assert len(receiver.events("user.online")) == 1, receiver.events()
    assert ev[0]["id"] == offline[0]["id"]

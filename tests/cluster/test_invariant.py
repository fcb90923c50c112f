"""The unread-count invariant across two nodes: many clients concurrently notify, read, delete,
read-all and retract through both nodes; at the end every user's unread count equals a recount
of their unread items and the last count each of their sockets was sent, on either node
(DESIGN.md invariant 2, issue 6)."""
import json
import random
import socket
import threading
import time

from herald_cluster import unread_recount
from herald_ws import Closed

USERS = 6
WORKERS = 8
DURATION_S = 6.0


class SocketWatch:
    """Reads one socket on its own thread, keeping the last unread of count/notification
    frames. Sends from other threads go through a lock (the reader answers pings too)."""

    def __init__(self, client, user):
        self.client = client
        self.user = user
        self.last = client.initial_count
        self.frames = 0
        self.last_frame_at = time.monotonic()
        self.error = None
        self.stopping = False
        lock = threading.Lock()
        raw_send = client.send_frame

        def locked_send(*a, **kw):
            with lock:
                return raw_send(*a, **kw)

        client.send_frame = locked_send
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                _, payload = self.client.recv_message(0.2)
            except socket.timeout:
                continue
            except (Closed, OSError) as e:
                self.error = "socket of user %d closed: %r" % (self.user, e)
                return
            f = json.loads(payload)
            self.frames += 1
            self.last_frame_at = time.monotonic()
            if f.get("type") in ("count", "notification"):
                self.last = f["unread"]

    def stop(self):
        self.stopping = True
        self.thread.join(5)


def test_counts_stay_exact_under_concurrent_changes_through_two_nodes(cluster2, new_user):
    cl = cluster2
    a, b = cl.nodes
    users = [new_user() for _ in range(USERS)]
    tokens = {u: a.token(u) for u in users}
    watches = []
    for u in users:
        for node in (a, b, random.choice(cl.nodes)):
            watches.append(SocketWatch(cl.ws(node, u), u))
    by_user = {u: [w for w in watches if w.user == u] for u in users}

    ids = {u: [] for u in users}   # personal ids per user, plus broadcasts seen by all
    shared = []
    lock = threading.Lock()
    unexpected = []
    stop_at = time.monotonic() + DURATION_S
    ops = {"notify": 0, "user_ids": 0, "broadcast": 0, "read": 0, "read_frame": 0,
           "delete": 0, "read_all": 0, "retract": 0}

    def check(what, r, ok):
        if r.status not in ok:
            unexpected.append("%s -> %r" % (what, r))

    def some_id(u):
        with lock:
            pool = ids[u] + shared
            return random.choice(pool) if pool else None

    def worker(seed):
        rnd = random.Random(seed)
        while time.monotonic() < stop_at and not unexpected:
            node = rnd.choice(cl.nodes)
            u = rnd.choice(users)
            op = rnd.choices(list(ops), weights=[30, 6, 3, 25, 10, 10, 4, 6])[0]
            ops[op] += 1
            if op == "notify":
                r = node.notify(user_id=u, title="p")
                check(op, r, (200,))
                if r.status == 200:
                    with lock:
                        ids[u].append(r.json["id"])
            elif op == "user_ids":
                targets = rnd.sample(users, 3)
                r = node.notify(user_ids=targets, title="m")
                check(op, r, (200,))
                if r.status == 200:
                    with lock:
                        for t, nid in zip(targets, r.json["ids"]):
                            ids[t].append(nid)
            elif op == "broadcast":
                r = node.notify(user_id=-1, title="b")
                check(op, r, (200,))
                if r.status == 200:
                    with lock:
                        shared.append(r.json["id"])
            elif op == "read":
                nid = some_id(u)
                if nid:
                    check(op, node.public("POST", "/v1/inbox/%d/read" % nid, token=tokens[u]),
                          (200, 404))
            elif op == "read_frame":
                nid = some_id(u)
                if nid:
                    rnd.choice(by_user[u]).client.send_json({"type": "read", "id": nid})
            elif op == "delete":
                nid = some_id(u)
                if nid:
                    check(op, node.public("DELETE", "/v1/inbox/%d" % nid, token=tokens[u]),
                          (204, 404))
            elif op == "read_all":
                check(op, node.public("POST", "/v1/inbox/read_all", token=tokens[u]), (200,))
            elif op == "retract":
                nid = some_id(u)
                if nid:
                    check(op, node.internal("DELETE", "/v1/notifications/%d" % nid), (204, 404))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DURATION_S + 30)
    assert not unexpected, unexpected[:10]
    assert ops["notify"] > 20 and ops["read"] > 20 and ops["delete"] > 5, ops

    # Quiet: no frame for a second on any socket (with a deadline).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(time.monotonic() - w.last_frame_at > 1.0 for w in watches):
            break
        time.sleep(0.1)
    for w in watches:
        w.stop()
    assert not [w.error for w in watches if w.error], [w.error for w in watches if w.error]

    wrong = []
    for u in users:
        via_a, via_b = a.unread(tokens[u]), b.unread(tokens[u])
        recount = unread_recount(b, tokens[u])
        sockets = [w.last for w in by_user[u]]
        if not (via_a == via_b == recount and all(s == recount for s in sockets)):
            wrong.append("user %d: unread_count A=%d B=%d, recount %d, sockets %r"
                         % (u, via_a, via_b, recount, sockets))
    print(ops)
    assert not wrong, "ops %r\n%s" % (ops, "\n".join(wrong))

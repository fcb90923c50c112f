"""A black-box check of the order of state frames and counts (API.md v1.1 "State events": a
state frame goes before the `count` frame it causes; state frames go to the connections that can
see the item), shared by the single-node and the cluster tests.

One user holds several sockets, some with the group `org/1` in their token and some without.
Their inbox holds personal items, broadcasts and `org/1` items. Several threads then change it
as fast as they can, concurrently: HTTP reads and deletes (with a token that has the group),
`GET /v1/inbox/{id}`, read and delete frames from one of the observed sockets, retractions, and
(in half of the runs) a read-all. Every socket's frames are recorded, and each is replayed on a
model of what that socket can see: a `count` frame must never be lower than what the state
frames received before it explain (a lower count reflects a change whose frame has not come
yet), a socket without the group never gets a state frame about a group item, and once quiet
each socket's last count equals `GET /v1/inbox/unread_count` with its token and the model.
"""
import random
import threading
import time

GROUP = "org/1"


class Recorder(threading.Thread):
    """Reads every frame of one socket until told to stop."""

    def __init__(self, ws):
        super().__init__(daemon=True)
        self.ws = ws
        self.frames = []
        self.last_at = time.monotonic()
        self.stop = threading.Event()
        self.error = None

    def run(self):
        import json
        import socket
        while not self.stop.is_set():
            try:
                op, payload = self.ws.recv_message(0.2)
            except socket.timeout:
                continue
            except Exception as e:  # closed: the check reports it
                self.error = e
                return
            self.frames.append(json.loads(payload))
            self.last_at = time.monotonic()


def _seed_items(notify, uid, rng):
    """Creates the inbox; returns {id: kind}."""
    items = {}
    for i in range(30):
        items[notify(user_id=uid, title="p%d" % i)["id"]] = "personal"
    for i in range(5):
        items[notify(user_id=-1, title="b%d" % i)["id"]] = "broadcast"
    for i in range(8):
        items[notify(audience=GROUP, title="g%d" % i)["id"]] = "group"
    return items


def replay(frames, items, with_group, leak_check=True):
    """Checks one socket's frames against the model; returns the model's final unread."""
    visible = {i for i, k in items.items() if with_group or k != "group"}
    unread, gone = set(visible), set()
    counts = [len(visible)] + [f["unread"] for f in frames if f["type"] == "count"]
    for n, f in enumerate(frames):
        t = f["type"]
        if t == "count":
            assert f["unread"] >= len(unread), (
                "frame %d: count %d reflects a change whose state frame this socket has not "
                "got yet (its state frames so far explain %d unread); frames: %r"
                % (n, f["unread"], len(unread), frames[max(0, n - 8):n + 1]))
        elif t in ("changed", "removed"):
            assert isinstance(f.get("seq"), int)
            i = f["id"]
            assert i in visible or not leak_check, (
                "frame %d: a state frame about item %d, which this socket cannot see (%s): %r"
                % (n, i, items.get(i), f))
            if t == "changed":
                unread.discard(i)
            else:
                unread.discard(i)
                gone.add(i)
        elif t == "read_all":
            unread = {i for i in unread if i > f["up_to"]}
        elif t in ("error", "pong"):
            pass
        else:
            raise AssertionError("frame %d: unexpected %r" % (n, f))
    return len(unread), counts[-1]


def run(seed, sockets, http_nodes, internal_node, token_for, uid, notify, leak_check=True):
    """sockets: [(ws, with_group)]; http_nodes: nodes to spread HTTP calls over; token_for(node,
    with_group) -> a token; notify(**body) -> answer. The first socket with the group also sends
    read/delete frames."""
    rng = random.Random(seed)
    seeded = _seed_items(notify, uid, rng)
    # The items reach every socket first: the state phase starts from a known inbox.
    expected = {True: len(seeded), False: sum(1 for k in seeded.values() if k != "group")}
    for ws, with_group in sockets:
        got = 0
        deadline = time.monotonic() + 10
        while got < expected[with_group]:
            assert time.monotonic() < deadline, "notifications did not all arrive"
            f = ws.recv_json(5)
            if f["type"] == "notification":
                got += 1
    # The whole inbox (a shared store may hold older broadcasts and group items too).
    items, before = {}, None
    tok = token_for(http_nodes[0], True)
    while True:
        page = http_nodes[0].inbox(tok, "?limit=100" + ("&before=%d" % before if before else ""))
        for n in page["notifications"]:
            assert not n["read"]
            items[n["id"]] = n["kind"]
        before = page["next_before"]
        if before is None:
            break
    assert set(seeded) <= set(items)
    ids = sorted(items)
    for ws, with_group in sockets:
        assert ws.initial_count + expected[with_group] == sum(
            1 for k in items.values() if with_group or k != "group")
    recorders = [Recorder(ws) for ws, _ in sockets]
    for r in recorders:
        r.start()
    frame_sender = next(ws for ws, g in sockets if g)
    send_lock = threading.Lock()

    plan = []
    for _ in range(70):
        plan.append((rng.choice(["read", "read", "delete", "get", "frame_read", "frame_delete"]),
                     rng.choice(ids)))
    shared = [i for i in ids if items[i] != "personal"]
    for i in rng.sample(shared, 2):
        plan.insert(rng.randrange(len(plan)), ("retract", i))
    if seed % 2 == 0:
        plan.insert(rng.randrange(len(plan) // 2, len(plan)), ("read_all", 0))
    workers = 5
    chunks = [plan[k::workers] for k in range(workers)]
    failures = []

    def work(k, chunk):
        wrng = random.Random(seed * 100 + k)
        try:
            for what, i in chunk:
                node = wrng.choice(http_nodes)
                tok = token_for(node, True)
                if what == "read":
                    r = node.public("POST", "/v1/inbox/%d/read" % i, token=tok)
                    assert r.status in (200, 404), r
                elif what == "delete":
                    r = node.public("DELETE", "/v1/inbox/%d" % i, token=tok)
                    assert r.status in (204, 404), r
                elif what == "get":
                    r = node.public("GET", "/v1/inbox/%d" % i, token=tok)
                    assert r.status in (200, 404), r
                elif what in ("frame_read", "frame_delete"):
                    with send_lock:
                        frame_sender.send_json(
                            {"type": "read" if what == "frame_read" else "delete", "id": i})
                elif what == "retract":
                    r = internal_node.internal("DELETE", "/v1/notifications/%d" % i)
                    assert r.status in (204, 404), r
                elif what == "read_all":
                    r = node.public("POST", "/v1/inbox/read_all", token=tok)
                    assert r.status == 200, r
        except Exception as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=work, args=(k, c)) for k, c in enumerate(chunks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    # Quiet: no frame for a second on any socket (at most 15 s).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(time.monotonic() - r.last_at > 1.0 for r in recorders):
            break
        time.sleep(0.1)
    for r in recorders:
        r.stop.set()
    for r in recorders:
        r.join(5)
    for r, (ws, with_group) in zip(recorders, sockets):
        assert r.error is None, r.error
        model, last = replay(r.frames, items, with_group, leak_check)
        truth = http_nodes[0].unread(token_for(http_nodes[0], with_group))
        assert last == truth == model, (
            "socket (group=%s): last count %d, GET unread_count %d, state frames explain %d"
            % (with_group, last, truth, model))
    return items

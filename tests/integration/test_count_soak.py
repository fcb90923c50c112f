"""Counts and lists agree after concurrent use: a seeded soak of every operation that moves a
count, then, for every user, unread_count = the unfiltered inbox walk's unread items = the
status=unread walk = the last count every open socket shows, and a restart changes nothing.

HERALD_SOAK_SEED picks the operations (each worker draws from its own seeded generator, so a
seed replays the same operations; the interleaving is the machine's), HERALD_SOAK_SECONDS how
long the workers run (default 8). bench/soak_counts.sh runs it many times in a row.
"""
import json
import os
import queue
import random
import socket
import threading
import time

import herald_http

SEED = int(os.environ.get("HERALD_SOAK_SEED", str(random.randrange(1 << 30))))
SECONDS = float(os.environ.get("HERALD_SOAK_SECONDS", "8"))
WORKERS = 24
USERS = 20
AUDIENCES = ["org/1", "org/2", "all/x", "org/1/all/x", "org/2/all/x", "org/3"]


def groups_of(i):
    return ["org/1" if i % 2 == 0 else "org/2", "all/x"]


class Socket:
    """One WebSocket read by its own thread; frames to send are queued to that thread (the
    client object is not thread-safe). `unread` is the count the socket shows now: the one in
    the last count or notification frame."""

    def __init__(self, client):
        self.client = client
        self.unread = self.client.initial_count
        self.outbox = queue.Queue()
        self.stop = False
        self.error = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def send(self, obj):
        self.outbox.put(obj)

    def run(self):
        try:
            while not self.stop:
                while True:
                    try:
                        self.client.send_json(self.outbox.get_nowait())
                    except queue.Empty:
                        break
                try:
                    _, payload = self.client.recv_message(0.05)
                except socket.timeout:
                    continue
                frame = json.loads(payload)
                if frame.get("type") in ("count", "notification"):
                    with self.lock:
                        self.unread = frame["unread"]
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = repr(e)

    def shown(self):
        with self.lock:
            return self.unread

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.client.close()


def walk(herald, token, status):
    ids, unread, before = [], [], None
    for _ in range(1000):
        q = "?limit=100&status=%s" % status + ("&before=%d" % before if before else "")
        page = herald.inbox(token, q)
        for n in page["notifications"]:
            ids.append(n["id"])
            if not n["read"]:
                unread.append(n["id"])
        before = page["next_before"]
        if before is None:
            return ids, unread
    raise AssertionError("inbox walk did not end")


def state_of(herald, tokens):
    out = {}
    for uid, token in tokens.items():
        all_ids, all_unread = walk(herald, token, "all")
        un_ids, un_unread = walk(herald, token, "unread")
        out[uid] = {"count": herald.unread(token), "all": all_ids, "all_unread": all_unread,
                    "unread_ids": un_ids, "unread_unread": un_unread}
    return out


def check_agreement(state, label):
    bad = []
    for uid, s in state.items():
        problems = []
        if len(set(s["all"])) != len(s["all"]):
            problems.append("duplicate ids in the unfiltered walk")
        if s["all"] != sorted(s["all"], reverse=True):
            problems.append("unfiltered walk not newest first")
        if not set(s["unread_ids"]) <= set(s["all"]):
            problems.append("status=unread items missing from the unfiltered walk: %r"
                            % sorted(set(s["unread_ids"]) - set(s["all"])))
        if s["unread_ids"] != s["unread_unread"]:
            problems.append("status=unread walk returned read items")
        if not (s["count"] == len(s["all_unread"]) == len(s["unread_ids"])):
            problems.append("unread_count %d, unfiltered walk %d unread, status=unread walk %d"
                            % (s["count"], len(s["all_unread"]), len(s["unread_ids"])))
        elif set(s["all_unread"]) != set(s["unread_ids"]):
            problems.append("the walks' unread sets differ")
        if problems:
            bad.append("user %d (%s): %s" % (uid, label, "; ".join(problems)))
    assert not bad, "seed %d:\n%s" % (SEED, "\n".join(bad))


class Soak:
    def __init__(self, herald, users, tokens, sockets):
        self.herald = herald
        self.users = users
        self.tokens = tokens
        self.sockets = sockets
        self.ids = []  # every stored id so far
        self.ids_lock = threading.Lock()
        self.errors = []
        self.ops = 0

    def remember(self, answer):
        got = answer.get("ids") or ([answer["id"]] if answer.get("id") else [])
        with self.ids_lock:
            self.ids.extend(got)

    def some_id(self, rng):
        with self.ids_lock:
            if not self.ids:
                return None
            # Mostly recent items: they are the ones still unread.
            return self.ids[-1 - min(int(rng.expovariate(1 / 15)), len(self.ids) - 1)]

    def expect(self, r, *ok):
        if r.status not in ok:
            self.errors.append("%d %r" % (r.status, r.body[:200]))

    def notify(self, rng, body):
        if rng.random() < 0.2:
            body["retention"] = "important"
        r = self.herald.notify(**body)
        self.expect(r, 200)
        if r.status == 200:
            self.remember(r.json)

    def step(self, rng):
        h = self.herald
        i = rng.randrange(len(self.users))
        uid, token = self.users[i], self.tokens[self.users[i]]
        op = rng.random()
        if op < 0.16:
            self.notify(rng, {"user_id": uid, "title": "personal"})
        elif op < 0.21:
            self.notify(rng, {"user_ids": rng.sample(self.users, rng.randint(2, 5)),
                              "title": "several"})
        elif op < 0.35:
            self.notify(rng, {"audience": rng.choice(AUDIENCES), "title": "group"})
        elif op < 0.41:
            self.notify(rng, {"user_id": -1, "title": "broadcast"})
        elif op < 0.51:
            nid = self.some_id(rng)
            if nid:
                self.expect(h.public("POST", "/v1/inbox/%d/read" % nid, token=token), 200, 404)
        elif op < 0.56:
            nid = self.some_id(rng)
            if nid:
                self.sockets[uid].send({"type": "read", "id": nid})
        elif op < 0.62:
            nid = self.some_id(rng)
            if nid:
                self.expect(h.public("DELETE", "/v1/inbox/%d" % nid, token=token), 204, 404)
        elif op < 0.65:
            nid = self.some_id(rng)
            if nid:
                self.sockets[uid].send({"type": "delete", "id": nid})
        elif op < 0.67:
            self.expect(h.public("POST", "/v1/inbox/read_all", token=token), 200)
        elif op < 0.69:
            self.sockets[uid].send({"type": "read_all"})
        elif op < 0.75:
            nid = self.some_id(rng)
            if nid:
                q = "" if rng.random() < 0.5 else "?mark_read=false"
                self.expect(h.public("GET", "/v1/inbox/%d%s" % (nid, q), token=token), 200, 404)
        elif op < 0.80:
            nid = self.some_id(rng)
            if nid:
                self.expect(h.internal("DELETE", "/v1/notifications/%d" % nid), 204, 404)
        elif op < 0.90:
            q = "?limit=%d&status=unread" % rng.choice([5, 20, 100])
            self.expect(h.public("GET", "/v1/inbox" + q, token=token), 200)
        else:
            self.expect(h.public("GET", "/v1/inbox?limit=%d" % rng.choice([10, 50]), token=token),
                        200)
        self.ops += 1

    def run(self, seconds):
        deadline = time.monotonic() + seconds

        def worker(k):
            rng = random.Random(SEED * 1000 + k)
            while time.monotonic() < deadline:
                try:
                    self.step(rng)
                except Exception as e:  # noqa: BLE001
                    self.errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def final_counts_of_sockets(sockets, state, settle=5.0):
    """Each socket's shown count must reach the user's count (sockets recount after events)."""
    deadline = time.monotonic() + settle
    while True:
        bad = {uid: (s.shown(), state[uid]["count"]) for uid, s in sockets.items()
               if s.shown() != state[uid]["count"]}
        if not bad or time.monotonic() > deadline:
            return bad
        time.sleep(0.1)


def test_counts_and_lists_agree_after_a_concurrent_soak(launch, new_user):
    print("HERALD_SOAK_SEED=%d HERALD_SOAK_SECONDS=%g" % (SEED, SECONDS))
    herald = launch()
    users = [new_user() for _ in range(USERS)]
    tokens = {u: herald.token(u, groups_of(i)) for i, u in enumerate(users)}
    sockets = {u: Socket(herald.ws(u, groups=groups_of(i))) for i, u in enumerate(users)}
    for u in users:
        herald.wait_presence(u, 1)
    soak = Soak(herald, users, tokens, sockets)
    soak.run(SECONDS)
    print("%d operations, %d items stored" % (soak.ops, len(soak.ids)))
    assert not soak.errors, "seed %d: unexpected answers: %r" % (SEED, soak.errors[:10])
    time.sleep(1.5)  # quiet: frames in flight land, sockets recount

    before = state_of(herald, tokens)
    check_agreement(before, "after the soak")
    stale = final_counts_of_sockets(sockets, before)
    errors = {u: s.error for u, s in sockets.items() if s.error}
    for s in sockets.values():
        s.close()
    assert not errors, "seed %d: socket errors %r" % (SEED, errors)
    assert not stale, "seed %d: sockets show (shown, count) %r" % (SEED, stale)
    assert sum(len(s["all"]) for s in before.values()) > 0

    store = herald.store
    herald.stop()
    again = launch(store=store)
    after = state_of(again, tokens)
    check_agreement(after, "after a restart")
    changed = {u: (before[u]["count"], after[u]["count"]) for u in users
               if (before[u]["count"], before[u]["all"], before[u]["all_unread"])
               != (after[u]["count"], after[u]["all"], after[u]["all_unread"])}
    assert not changed, "seed %d: a restart changed users' state (count before, after): %r" \
        % (SEED, changed)

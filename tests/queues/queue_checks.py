"""What the queue tests send and read back from Herald: notify bodies, stored items per user,
metrics, pushes."""
import collections
import re
import time

import herald_ws


def bodies_for(users, n, prefix):
    """n notify bodies titled PREFIX-i, to the users in turn."""
    return [{"user_id": users[i % len(users)], "title": "%s-%d" % (prefix, i)} for i in range(n)]


def inbox_titles(h, user_id):
    """Every stored item title of a user (all pages), as a Counter."""
    token = h.token(user_id)
    titles = collections.Counter()
    query = "?limit=100"
    while True:
        page = h.inbox(token, query)
        for item in page["notifications"]:
            titles[item["title"]] += 1
        if page["next_before"] is None:
            return titles
        query = "?limit=100&before=%d" % page["next_before"]


def stored(h, users):
    """Counter of titles stored over all `users`."""
    total = collections.Counter()
    for u in users:
        total.update(inbox_titles(h, u))
    return total


def metric(h, name, source):
    r = h.internal("GET", "/metrics", key=False)
    assert r.status == 200, r
    m = re.search(r'^%s\{source="%s"\} (\d+)$' % (re.escape(name), source), r.body.decode(), re.M)
    assert m, "metric %s{source=%s} missing:\n%s" % (name, source, r.body.decode()[-2000:])
    return int(m.group(1))


def readyz(h):
    return h.internal("GET", "/readyz", key=False)


def wait_stored(h, users, want, timeout):
    """Waits until `want` titles (a set) are all stored; returns the Counter."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = stored(h, users)
        if want <= set(got):
            return got
        time.sleep(0.5)
    missing = want - set(got or {})
    raise AssertionError("%d of %d not stored within %.0fs (e.g. %r)"
                         % (len(missing), len(want), timeout, sorted(missing)[:5]))


def collect_pushes(clients, want, timeout):
    """Reads notification frames from {user: ws} until `want` titles arrived; returns a Counter."""
    got = collections.Counter()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not want <= set(got):
        progressed = False
        for c in clients.values():
            try:
                while True:
                    f = c.recv_json(timeout=0.002)
                    if f.get("type") == "notification":
                        got[f["notification"]["title"]] += 1
                        progressed = True
            except (AssertionError, herald_ws.Closed):
                pass
        if not progressed:
            time.sleep(0.01)
    return got


def expect_pushed_and_stored_once(h, clients, users, bodies, timeout):
    """Every body's title is pushed once to the clients ({user: ws}) within `timeout` seconds,
    and stored once, nothing else stored for the users."""
    want = {b["title"] for b in bodies}
    pushed = collect_pushes(clients, want, timeout=timeout)
    assert set(pushed) == want, "%d of %d pushed" % (len(set(pushed) & want), len(want))
    assert max(pushed.values()) == 1, "a push was sent twice"
    got = wait_stored(h, users, want, timeout=30)
    assert set(got) == want and max(got.values()) == 1, "stored more than once: %r" % (
        [t for t, n in got.items() if n > 1][:5])

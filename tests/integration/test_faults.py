"""Store faults: a frozen MariaDB (SIGSTOP) and a full disk under SQLite. Nothing hangs past the
store call deadline, /readyz follows the store within seconds, nothing answered 200 is lost,
nothing answered "nothing was stored" is stored, and the store recovers when the fault ends."""
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from herald_daemon import HOST
from herald_http import assert_error

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MARIADB_SH = os.path.join(ROOT, "deploy", "lib", "mariadb.sh")
TIMEOUT_MS = 2000  # HERALD_STORE_TIMEOUT_MS for these tests (the default is 5000)
SLACK_S = 1.0      # what an answer may take beyond the deadline on a busy 2-core box


def _readyz(d):
    try:
        r = d.internal("GET", "/readyz", key=False, timeout=2)
        return r.status, r.json.get("error", {}).get("message", "") if r.status != 200 else ""
    except OSError as e:
        return repr(e), ""


def _wait(what, probe, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError("%s: not within %.1fs (last %r)" % (what, timeout, last))


def _metric(d, name):
    import re
    text = d.internal("GET", "/metrics", key=False).body.decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, "no %s in /metrics" % name
    return float(m.group(1))


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ---- a MariaDB of the test's own, so that freezing it disturbs nothing else ----------------

@pytest.fixture
def own_mariadb(tmp_path, request):
    if request.config.getoption("--store") != "sqlite":
        pytest.skip("runs once, in the SQLite pass: it starts a MariaDB of its own")
    d = str(tmp_path / "mariadb")
    r = subprocess.run(["bash", "-c", '. "$0"; herald_mariadb_start "$1" >/dev/null && cat "$1/url"',
                        MARIADB_SH, d], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.skip("no MariaDB could be started here: %s" % r.stderr[-500:])
    info = {"dir": d, "url": r.stdout.strip(),
            "pid": int(open(os.path.join(d, "mysqld.pid")).read().strip())}
    yield info
    try:
        os.kill(info["pid"], signal.SIGCONT)
    except OSError:
        pass
    subprocess.run(["bash", "-c", '. "$0"; herald_mariadb_stop "$1"', MARIADB_SH, d],
                   capture_output=True, timeout=60)


def _sql(db, statement):
    import getpass
    sock = os.path.join(db["dir"], "mysqld.sock")
    r = subprocess.run(["mariadb", "--no-defaults", "--protocol=socket", "--socket=" + sock,
                        "-u", getpass.getuser(), "-N", "-B", "-e", statement, "herald_test"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _stored_keys(db):
    return set(_sql(db, "SELECT idem_key FROM idempotency").split())


class _Load:
    """Notify requests with keys from a few threads, one connection each, recording every
    answer with its latency."""

    def __init__(self, d, user, threads=4):
        self.d, self.user, self.stop = d, user, threading.Event()
        self.results = []  # (key, status, body, seconds, started)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i):
        n = 0
        while not self.stop.is_set():
            key = "fault-%d-%d" % (i, n)
            n += 1
            body = json.dumps({"user_id": self.user, "title": key, "idempotency_key": key})
            t0 = time.monotonic()
            conn = http.client.HTTPConnection(HOST, self.d.internal_port, timeout=30)
            try:
                conn.request("POST", "/v1/notify", body=body,
                             headers={"Authorization": "Bearer " + self.d.api_key})
                r = conn.getresponse()
                status, data = r.status, json.loads(r.read())
            except (OSError, ValueError) as e:
                status, data = repr(e), None
            finally:
                conn.close()
            with self.lock:
                self.results.append((key, status, data, time.monotonic() - t0, t0))
            time.sleep(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_a_frozen_mariadb_answers_within_the_deadline_and_loses_nothing(launch, own_mariadb, new_user):
    d = launch(store=own_mariadb["url"], env={"HERALD_STORE_TIMEOUT_MS": str(TIMEOUT_MS)})
    uid = new_user()
    token = d.token(uid)
    assert d.notify_ok(user_id=uid, title="before")["id"] > 0
    fds_before = _fds(d.proc.pid)
    with _Load(d, uid) as load:
        time.sleep(1.0)
        frozen_at = time.monotonic()
        os.kill(own_mariadb["pid"], signal.SIGSTOP)
        try:
            seen_503 = _wait("/readyz 503 after the freeze",
                             lambda: _readyz(d)[0] == 503, timeout=5)
            assert seen_503 - frozen_at <= 5
            status, message = _readyz(d)
            assert status == 503 and "does not answer" in message, (status, message)
            # An inbox read during the freeze: 503 by the deadline, not a hang.
            t0 = time.monotonic()
            r = d.public("GET", "/v1/inbox", token=token, timeout=30)
            assert_error(r, 503, "unavailable")
            assert time.monotonic() - t0 <= TIMEOUT_MS / 1000 + SLACK_S
            time.sleep(4.0)
            fds_frozen = _fds(d.proc.pid)
        finally:
            os.kill(own_mariadb["pid"], signal.SIGCONT)
        thawed_at = time.monotonic()
        back = _wait("/readyz 200 after SIGCONT", lambda: _readyz(d)[0] == 200, timeout=5)
        assert back - thawed_at <= 2.5, "ready %.1fs after SIGCONT" % (back - thawed_at)
        time.sleep(1.5)
    # Open descriptors stay bounded: the requests of the freeze were answered, not parked.
    assert fds_frozen <= fds_before + 30, (fds_before, fds_frozen)

    answered = load.results
    assert answered, "the load sent nothing"
    late = [(k, s, round(t, 2)) for k, s, _, t, _ in answered if t > TIMEOUT_MS / 1000 + SLACK_S]
    assert not late, "answers later than the deadline: %r" % late[:10]
    during = [r for r in answered if frozen_at + 0.5 < r[4] < thawed_at - TIMEOUT_MS / 1000 - 0.5]
    assert during and all(r[1] == 503 for r in during), "requests sent in the freeze: %r" % [
        (k, s) for k, s, *_ in during][:10]
    stored = _stored_keys(own_mariadb)
    ok = {k: b["id"] for k, s, b, _, _ in answered if s == 200}
    assert ok, "nothing succeeded"
    missing = sorted(k for k in ok if k not in stored)
    assert not missing, "answered 200 but not stored: %r" % missing[:10]
    not_stored = [k for k, s, b, _, _ in answered
                  if s == 503 and "nothing was stored" in b["error"]["message"]]
    assert not_stored, "no request was answered 'nothing was stored'"
    leaked = sorted(k for k in not_stored if k in stored)
    assert not leaked, "answered 'nothing was stored' but stored: %r" % leaked[:10]
    for k, s, b, _, _ in answered:
        if s == 503:
            m = b["error"]["message"]
            assert "nothing was stored" in m or "outcome unknown" in m, m
    # Retrying every in-doubt key with the same key stores at most one copy.
    doubt = [k for k, s, b, _, _ in answered if s == 503 and "unknown" in b["error"]["message"]]
    for k in doubt:
        d.notify_ok(user_id=uid, title=k, idempotency_key=k)
    twice = _sql(own_mariadb, "SELECT title FROM notifications GROUP BY title HAVING COUNT(*) > 1")
    assert not twice.split(), "stored twice: %r" % twice[:300]
    assert all(k in _stored_keys(own_mariadb) for k in doubt)
    # And the store serves again; what the deadline shed is counted.
    assert d.notify_ok(user_id=uid, title="after")["id"] > max(ok.values())
    assert _metric(d, "herald_store_timeouts_total") > 0


def test_a_full_writer_queue_refuses_at_once(launch, own_mariadb, new_user):
    d = launch(store=own_mariadb["url"],
               env={"HERALD_STORE_TIMEOUT_MS": "3000", "HERALD_WRITER_QUEUE": "4"})
    uid = new_user()
    d.notify_ok(user_id=uid, title="before")
    os.kill(own_mariadb["pid"], signal.SIGSTOP)
    results = []
    try:
        def one(i):
            t0 = time.monotonic()
            r = d.notify(user_id=uid, title="q%d" % i, idempotency_key="queue-%d" % i)
            results.append(("queue-%d" % i, r.status, r.json, time.monotonic() - t0))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
            time.sleep(0.02)
        for t in threads:
            t.join(20)
    finally:
        os.kill(own_mariadb["pid"], signal.SIGCONT)
    assert len(results) == 16
    refused = [r for r in results if r[1] == 503 and "too many" in r[2]["error"]["message"]]
    # One running batch and 4 queued requests at most: the rest is refused at once.
    assert len(refused) >= 6, results
    assert all(t < 1.0 for _, _, _, t in refused), refused
    assert all("nothing was stored" in b["error"]["message"] for _, _, b, _ in refused)
    d.wait_ready(10)
    assert _metric(d, "herald_store_refused_total") == len(refused)
    stored = _stored_keys(own_mariadb)
    leaked = [k for k, *_ in refused if k in stored]
    assert not leaked, leaked
    # Positive control: what was accepted and answered 200 is stored.
    assert all(k in stored for k, s, _, _ in results if s == 200)


# ---- SQLite on a full disk ------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path, request):
    if request.config.getoption("--store") != "sqlite":
        pytest.skip("SQLite only")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): %s" % r.stderr.strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(directory, leave=0):
    """Fills the filesystem of `directory` with a filler file; returns its path."""
    path = os.path.join(str(directory), "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return path


def test_sqlite_on_a_full_disk_answers_disk_full_and_recovers(launch, small_disk, new_user):
    db = os.path.join(str(small_disk), "herald.db")
    d = launch(store="sqlite:" + db)
    uid = new_user()
    token = d.token(uid)
    kept = [d.notify_ok(user_id=uid, title="before %d" % i)["id"] for i in range(5)]
    filler = _fill(small_disk)
    content = "x" * 16000
    answers = []
    for i in range(40):
        r = d.notify(user_id=uid, title="full %d" % i, content=content,
                     idempotency_key="full-%d" % i)
        answers.append((i, r.status, r.json))
        if r.status == 503:
            break
    failed = [a for a in answers if a[1] == 503]
    assert failed, "the disk never filled: %r" % [(i, s) for i, s, _ in answers]
    err = failed[-1][2]["error"]
    assert err["code"] == "unavailable" and "disk full" in err["message"], err
    kept += [b["id"] for _, s, b in answers if s == 200]
    _wait("/readyz 503 (disk full)", lambda: _readyz(d) == (503, "the store cannot write (disk full)"),
          timeout=5)
    # Reads keep working.
    page = d.inbox(token, "?limit=100")
    assert {it["id"] for it in page["notifications"]} >= set(kept)
    assert d.unread(token) == len(kept)
    c = d.ws(uid)
    assert c.initial_count == len(kept)
    c.close()

    os.remove(filler)
    r = d.notify(user_id=uid, title="after", idempotency_key="after-space")
    assert r.status == 200, r
    kept.append(r.json["id"])
    _wait("/readyz 200 after space returned", lambda: _readyz(d)[0] == 200, timeout=5)
    assert {it["id"] for it in d.inbox(token, "?limit=100")["notifications"]} == set(kept)
    # A refused request stored nothing: its key is free.
    refused_key = "full-%d" % failed[-1][0]
    assert d.notify_ok(user_id=uid, title="retry", idempotency_key=refused_key)["id"] > kept[-1]
    d.stop()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_herald_started_on_a_full_disk_serves_reads_and_says_why(launch, small_disk, new_user):
    db = os.path.join(str(small_disk), "herald.db")
    d = launch(store="sqlite:" + db)
    uid = new_user()
    token = d.token(uid)
    ids = [d.notify_ok(user_id=uid, title="before %d" % i)["id"] for i in range(3)]
    d.stop()
    filler = _fill(small_disk)
    d2 = launch(store="sqlite:" + db, wait=False)
    _wait("/healthz", lambda: _readyz(d2)[0] in (200, 503), timeout=10)
    time.sleep(1.0)
    page = d2.public("GET", "/v1/inbox", token=token)
    assert page.status == 200, page
    assert [it["id"] for it in page.json["notifications"]] == sorted(ids, reverse=True)
    r = d2.notify(user_id=uid, title="x" * 100, content="y" * 16000)
    if r.status == 503:
        assert "disk full" in r.json["error"]["message"], r
        _wait("/readyz 503 (disk full)", lambda: _readyz(d2)[0] == 503, timeout=5)
    os.remove(filler)
    # Ready again at the first write that commits.
    assert d2.notify_ok(user_id=uid, title="after")["id"] > ids[-1]
    d2.wait_ready(5)

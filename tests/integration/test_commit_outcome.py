"""MariaDB killed -9 while notifies commit: every answer tells the truth. A 200 names items that
are stored, a 503 "nothing was stored" stored nothing (a retry with its key stores it once), and
only a 503 "outcome unknown" may be either. Runs on its own throwaway MariaDB (the test kills
it), so only when mariadbd is installed."""
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIB = os.path.join(ROOT, "deploy", "lib", "mariadb.sh")


def _sh(script, timeout=120):
    r = subprocess.run(["bash", "-c", ". %s; %s" % (LIB, script)], capture_output=True,
                       text=True, timeout=timeout)
    return r


@pytest.fixture
def own_mariadb(tmp_path, request):
    if request.config.getoption("--store") != "mysql":
        pytest.skip("runs in the MySQL pass")
    if not (shutil.which("mariadbd") or os.path.exists("/usr/sbin/mariadbd")):
        pytest.skip("mariadbd is not installed")
    d = str(tmp_path / "mariadb")
    r = _sh("herald_mariadb_start %s" % d)
    assert r.returncode == 0, r.stderr
    url = open(os.path.join(d, "url")).read().strip()
    yield d, url
    _sh("herald_mariadb_stop %s" % d)


def _kill9(d):
    pid = int(open(os.path.join(d, "mysqld.pid")).read().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def test_answers_after_mariadb_is_killed_during_commits_are_true(launch, own_mariadb, new_user):
    d, url = own_mariadb
    herald = launch(store=url)
    answers = []  # (user, key, status, body)
    lock = threading.Lock()
    stop = threading.Event()

    def client(k):
        n = 0
        while not stop.is_set():
            uid = new_user()
            key = "kill-%d-%d-%d" % (os.getpid(), k, n)
            n += 1
            try:
                r = herald.internal("POST", "/v1/notify", {"user_id": uid, "title": "t",
                                                           "idempotency_key": key}, timeout=30)
            except OSError:
                continue
            with lock:
                answers.append((uid, key, r.status, r.json if r.status in (200, 503) else None))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            time.sleep(1.0)
            _kill9(d)
            time.sleep(0.5)
            r = _sh("herald_mariadb_resume %s" % d)
            assert r.returncode == 0, r.stderr
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    herald.wait_ready(30)

    ok = [a for a in answers if a[2] == 200]
    lost = [a for a in answers if a[2] == 503 and "nothing was stored" in a[3]["error"]["message"]]
    unknown = [a for a in answers if a[2] == 503 and "outcome unknown" in a[3]["error"]["message"]]
    print("answers: %d ok, %d not stored, %d unknown, %d other"
          % (len(ok), len(lost), len(unknown), len(answers) - len(ok) - len(lost) - len(unknown)))
    assert len(ok) > 50 and lost, "the kills did not interrupt requests"
    for uid, key, _, body in ok:
        ids = [n["id"] for n in herald.inbox(herald.token(uid))["notifications"]]
        assert ids == [body["id"]], "answered 200 %r but the inbox holds %r" % (body, ids)
    wrong = []
    for uid, key, _, _ in lost:
        items = herald.inbox(herald.token(uid))["notifications"]
        if items:
            wrong.append((key, [n["id"] for n in items]))
    assert not wrong, "answered 503 'nothing was stored' but stored: %r" % wrong[:10]
    # A retry with the key stores it exactly once.
    for uid, key, _, _ in lost[:20]:
        first = herald.notify_ok(user_id=uid, title="t", idempotency_key=key)
        assert herald.notify_ok(user_id=uid, title="t", idempotency_key=key) == first
        assert len(herald.inbox(herald.token(uid))["notifications"]) == 1

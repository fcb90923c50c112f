"""`herald recount` checks every user's unread counter against the rows and repairs it: exit 0
when all agreed, 1 after a repair; the daemon then counts right."""
import sqlite3
import subprocess

import herald_daemon


def _recount(herald_bin, herald):
    env = herald_daemon.clean_env({"HERALD_STORE": herald.store,
                                   "HERALD_JWT_SECRET": herald.secret,
                                   "HERALD_API_KEY": herald.api_key})
    return subprocess.run([herald_bin, "recount"], env=env, capture_output=True, text=True,
                          timeout=60)


def _set_counter(herald, mysql_dbs, user, value):
    if herald.store.startswith("sqlite:"):
        db = sqlite3.connect(herald.store[len("sqlite:"):])
        db.execute("UPDATE unread_counters SET personal_unread = ? WHERE user_id = ?", (value, user))
        db.commit()
        db.close()
        return
    name = herald.store.rsplit("/", 1)[1]
    r = mysql_dbs._sql("UPDATE unread_counters SET personal_unread = %d WHERE user_id = %d"
                       % (value, user), name)
    assert r.returncode == 0, r.stderr


def test_recount_reports_and_repairs_a_wrong_counter(launch, herald_bin, mysql_dbs, new_user):
    herald = launch()
    u1, u2 = new_user(), new_user()
    ids = [herald.notify_ok(user_id=u1, title="n%d" % i)["id"] for i in range(4)]
    herald.notify_ok(user_id=u2, title="other")
    herald.notify_ok(user_id=-1, title="everyone")
    t1 = herald.token(u1)
    assert herald.public("POST", "/v1/inbox/%d/read" % ids[0], token=t1).status == 200
    assert herald.internal("DELETE", "/v1/notifications/%d" % ids[1]).status == 204
    assert herald.unread(t1) == 3  # 2 personal + the broadcast

    r = _recount(herald_bin, herald)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""

    _set_counter(herald, mysql_dbs, u1, 40)
    assert herald.unread(t1) == 41  # the count trusts the counter
    r = _recount(herald_bin, herald)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout == "user %d: personal unread counter 40, rows 2: repaired\n" % u1
    assert herald.unread(t1) == 3
    assert herald.unread(herald.token(u2)) == 2

    r = _recount(herald_bin, herald)
    assert r.returncode == 0, r.stdout + r.stderr


def _sql(herald, mysql_dbs, statement):
    if herald.store.startswith("sqlite:"):
        db = sqlite3.connect(herald.store[len("sqlite:"):])
        db.execute(statement)
        db.commit()
        db.close()
        return
    r = mysql_dbs._sql(statement, herald.store.rsplit("/", 1)[1])
    assert r.returncode == 0, r.stderr


def test_recount_reports_and_repairs_the_shared_counters(launch, herald_bin, mysql_dbs, new_user):
    """The per-audience live counter and the per-user seen counter are checked and repaired too;
    the daemon's counts trust them, so a wrong one shows until the repair."""
    herald = launch()
    u = new_user()
    audience = "org/%d" % u
    t = herald.token(u, [audience])
    before = herald.unread(t)
    ids = [herald.notify_ok(audience=audience, title="g%d" % i)["id"] for i in range(3)]
    assert herald.public("POST", "/v1/inbox/%d/read" % ids[0], token=t).status == 200
    assert herald.unread(t) == before + 2

    _sql(herald, mysql_dbs, "UPDATE audience_live SET live = 10 WHERE audience = '%s'" % audience)
    _sql(herald, mysql_dbs, "UPDATE shared_seen SET seen = 3 WHERE user_id = %d AND audience = '%s'"
         % (u, audience))
    assert herald.unread(t) == before + 10 - 3
    r = _recount(herald_bin, herald)
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("audience %s live counter 10, rows 3: repaired\n" % audience) in r.stdout
    assert ("user %d: audience %s seen counter 3, rows 1: repaired\n" % (u, audience)) in r.stdout
    assert herald.unread(t) == before + 2
    r = _recount(herald_bin, herald)
    assert r.returncode == 0, r.stdout + r.stderr

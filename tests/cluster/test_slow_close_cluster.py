"""A connection closed as too slow while its initial sync and count go out is cut after the
close grace period, also in a cluster, where the connection also waits for its bus
subscription to settle (the settle timer and the close timer share one slot in the session)."""
import socket
import time

from herald_cluster import Cluster, metric, wait_until


def _seconds_until_eof(sock, limit):
    """Reads (never answering the close frame) until the server closes the TCP connection;
    returns how long it took, or None when it stayed open for `limit` seconds."""
    t0 = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - t0
        if not chunk:
            return time.monotonic() - t0
    return None


def test_a_client_too_slow_for_its_sync_is_cut_after_the_close_grace(herald_bin, mysql_dbs,
                                                                      tmp_path, new_user):
    # The smallest queue cap: a sync page of 100 stored items does not fit, so the session closes
    # with 1013 while sending it, and the count and the settle recount come after that.
    cl = Cluster(herald_bin, tmp_path, mysql_dbs.fresh(),
                 node_env={"HERALD_MAX_QUEUE_BYTES": "1024"})
    cl.start(nodes=2)
    try:
        a, b = cl.nodes
        uid = new_user()
        body = {"notifications": [{"user_id": uid, "title": "item %d" % i, "content": "x" * 200}
                                  for i in range(100)]}
        r = b.internal("POST", "/v1/notify/batch", body)
        assert r.status == 200, r
        hs = a.upgrade("?token=%s&since=0" % a.token(uid))
        assert hs.status == 101, hs
        took = _seconds_until_eof(hs.client.sock, 8)
        assert took is not None, "the server never closed the connection of a client that " \
                                 "does not answer its close frame"
        assert took < 5, "closed after %.1f s" % took
        wait_until("the session ended", lambda: metric(a, "herald_connections") == 0, timeout=5)
        # Positive control: a client that reads its sync keeps its connection.
        c = a.ws(uid, since=10 ** 15)
        assert _seconds_until_eof(c.sock, 2) is None
        c.close()
    finally:
        cl.stop()

#!/usr/bin/python3
"""Queue ingestion rate: N notify bodies published to RabbitMQ (a private node from
deploy/lib/rabbitmq.sh) before Herald starts, then the time from Herald's first consumed message
until all N are stored and acked (herald_queue_consumed_total = N, herald_queue_in_flight = 0),
each to one of U users, keyed by message_id. Then, in the same run and on the same store,
herald-bench's persisted `personal` scenario over HTTP for the comparison.

  bench/queue_rate.py --herald build/gateway/herald [--bench build/bench/herald-bench]
                      [--store sqlite|mysql] [-n 10000] [--users 100] [--prefetch 256]

Prints one JSON line at the end. Exit 1 when a check fails (not all stored, or stored twice)."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(here, "..", "tests", "queues"))

import herald_daemon  # noqa: E402
import queue_brokers  # noqa: E402


def metric(h, name, labels='{source="amqp"}'):
    body = h.internal("GET", "/metrics", key=False).body.decode()
    m = re.search(r'^%s%s (\d+)$' % (name, re.escape(labels)), body, re.M)
    return int(m.group(1)) if m else 0


def cpu_seconds(pid):
    """User + system CPU time of a process so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--herald", required=True)
    ap.add_argument("--bench")
    ap.add_argument("--store", choices=["sqlite", "mysql"], default="sqlite")
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--prefetch", type=int, default=256)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="herald-queue-bench.")
    rabbit = queue_brokers.Rabbit(work).start()
    db = None
    ok = True
    try:
        if a.store == "mysql":
            db = queue_brokers.Mariadb(work).start()
            store = db.url
        else:
            store = "sqlite:" + os.path.join(work, "herald.db")
        queue = "herald.bench"
        conn = rabbit.connect()
        ch = conn.channel()
        ch.queue_declare(queue, durable=True)
        base = 7_000_000
        bodies = [{"user_id": base + i % a.users, "title": "q-%d" % i, "content": "bench"} for i in range(a.n)]
        t = time.monotonic()
        queue_brokers.publish(ch, queue, bodies, message_ids=["bench-%d" % i for i in range(a.n)])
        # No publisher confirms (each would cost a round trip): wait until the broker holds all.
        while ch.queue_declare(queue, durable=True, passive=True).method.message_count < a.n:
            time.sleep(0.1)
        publish_s = time.monotonic() - t
        conn.close()
        h = herald_daemon.Herald(os.path.abspath(a.herald), work, store,
                                 env={"HERALD_AMQP_URL": rabbit.url, "HERALD_AMQP_QUEUE": queue,
                                      "HERALD_AMQP_PREFETCH": str(a.prefetch), "HERALD_LOG_LEVEL": "warn"})
        with open(os.path.join(rabbit.dir, "rabbitmq.pid")) as f:
            rabbit_pid = int(f.read().strip())
        h.start(wait=False)
        first = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                consumed = metric(h, "herald_queue_consumed_total")
                in_flight = metric(h, "herald_queue_in_flight")
            except OSError:
                time.sleep(0.02)
                continue
            now = time.monotonic()
            if consumed > 0 and first is None:
                first = now
                cpu0 = {"herald": cpu_seconds(h.proc.pid), "rabbitmq": cpu_seconds(rabbit_pid)}
                if db:
                    cpu0["mariadb"] = cpu_seconds(db.pid())
            if consumed >= a.n and in_flight == 0:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - first
        cpu = {"herald": cpu_seconds(h.proc.pid) - cpu0["herald"],
               "rabbitmq": cpu_seconds(rabbit_pid) - cpu0["rabbitmq"]}
        if db:
            cpu["mariadb"] = cpu_seconds(db.pid()) - cpu0["mariadb"]
        cpu_us = {k: round(v * 1e6 / a.n, 1) for k, v in cpu.items()}
        rate = a.n / elapsed
        stored = h.stats().get("notifications_stored")
        batches = metric(h, "herald_writer_batches_total", "")
        ok = ok and stored == a.n
        print("AMQP -> store (%s): %d messages in %.2f s = %.0f/s (published in %.2f s); stored %s;"
              " CPU per message (us): %s" % (a.store, a.n, elapsed, rate, publish_s, stored, cpu_us))
        http = None
        if a.bench:
            r = subprocess.run([a.bench, "--public", "127.0.0.1:%d" % h.public_port,
                                "--internal", "127.0.0.1:%d" % h.internal_port, "--pid", str(h.proc.pid),
                                "--jwt-secret", h.secret, "--api-key", h.api_key, "-n", "200", "-u", "100",
                                "--user-base", "9000000", "--scenarios", "personal",
                                "--personal", str(a.n), "--concurrency", "64"],
                               capture_output=True, text=True, timeout=600)
            lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
            if lines:
                j = json.loads(lines[-1])
                http = j.get("personal", j)
            print("\n".join(x for x in r.stdout.splitlines() if not x.startswith("{")))
            ok = ok and r.returncode == 0
        h.stop()
        print(json.dumps({"store": a.store, "n": a.n, "users": a.users, "prefetch": a.prefetch,
                          "amqp_per_s": round(rate), "amqp_seconds": round(elapsed, 3), "stored": stored,
                          "writer_batches": batches, "cpu_us_per_message": cpu_us,
                          "http_personal": http}))
    finally:
        if db:
            db.stop()
        rabbit.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

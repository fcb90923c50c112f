#!/usr/bin/env python3
"""Herald's resident memory over a long mixed run of inbox and unread-count reads whose batch
shapes vary (viewers with 0..8 groups, counts and pages mixed, bursts of 1..32 at once), on
SQLite. Every shape of a batched read is a different statement: without a bound on the
statement cache memory grows with each new shape; with it the line stays flat.

  HERALD_BIN=build/gateway/herald bench/statement_cache_memory.py [--seconds 120] [--every 10]

Prints one line per interval: seconds, requests so far, RSS in KiB.
"""
import argparse
import concurrent.futures
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import herald_jwt  # noqa: E402

SECRET = os.urandom(24).hex()
KEY = os.urandom(16).hex()
GROUPS = ["org/%d" % i for i in range(6)] + ["role/%d" % i for i in range(6)] + ["job/%d" % i for i in range(6)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get(port, path, token):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--every", type=int, default=10)
    args = ap.parse_args()
    binary = os.environ.get("HERALD_BIN", "build/gateway/herald")
    work = tempfile.mkdtemp(prefix="herald-stmt-bench-")
    pub, internal = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update({"HERALD_PUBLIC_ADDR": "127.0.0.1:%d" % pub, "HERALD_INTERNAL_ADDR": "127.0.0.1:%d" % internal,
                "HERALD_STORE": "sqlite:" + os.path.join(work, "bench.db"), "HERALD_JWT_SECRET": SECRET,
                "HERALD_API_KEY": KEY, "HERALD_LOG_LEVEL": "warn"})
    proc = subprocess.Popen([binary], env=env, cwd=work)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", internal, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "herald not ready"
            time.sleep(0.1)
        # A few shared items so that group branches have rows to read.
        for g in GROUPS[:6]:
            c = http.client.HTTPConnection("127.0.0.1", internal, timeout=5)
            c.request("POST", "/v1/notify", body='{"audience":"%s","title":"t"}' % g,
                      headers={"Authorization": "Bearer " + KEY})
            c.getresponse().read()
        rng = random.Random(7)
        start = time.monotonic()
        next_report = start
        done = 0
        print("seconds requests rss_kib")
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            while time.monotonic() - start < args.seconds:
                if time.monotonic() >= next_report:
                    print("%7.0f %8d %7d" % (time.monotonic() - start, done, rss_kib(proc.pid)), flush=True)
                    next_report += args.every
                burst = []
                for _ in range(rng.randint(1, 32)):
                    groups = rng.sample(GROUPS, rng.randint(0, 8))
                    token = herald_jwt.user_token(SECRET, rng.randint(1, 10000), groups)
                    path = "/v1/inbox/unread_count" if rng.random() < 0.5 else "/v1/inbox?limit=%d" % rng.randint(1, 100)
                    burst.append(pool.submit(get, pub, path, token))
                for f in burst:
                    f.result()
                done += len(burst)
        print("%7.0f %8d %7d" % (time.monotonic() - start, done, rss_kib(proc.pid)), flush=True)
    finally:
        proc.terminate()
        proc.wait(15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Keeps bench/results.jsonl (every full run's JSON line, with its store, commit, command and
load) and renders bench/RESULTS.md from it: the newest run of each store, size and variant
against the DESIGN.md budget, beside the floor and the Bun peer of the same run, and a history
table that shows each figure before and after every change that moved it.

  results_md.py add --store S --commit C --command CMD --variant V [--load-before "L1 L5 L15"]
                    [--history-only] < json-line
Runs added with --history-only (a herald built from an earlier commit) appear in the history
table but never in the per-store sections, which show the newest other run.
  results_md.py render [--out bench/RESULTS.md]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LOG = os.environ.get("HERALD_BENCH_RESULTS", os.path.join(HERE, "results.jsonl"))


def load():
    runs = []
    if os.path.exists(LOG):
        with open(LOG) as f:
            for line in f:
                line = line.strip()
                if line:
                    runs.append(json.loads(line))
    return runs


def add(args):
    run = json.loads(sys.stdin.read().strip().splitlines()[-1])
    run["store"] = args.store
    run["commit"] = args.commit
    run["command"] = " ".join(args.command.split())
    run["variant"] = args.variant
    if args.load_before:
        run["loadavg_before"] = args.load_before.split()[:3]
    if args.history_only:
        run["history_only"] = True
    with open("/proc/loadavg") as f:
        run["loadavg_after"] = f.read().split()[:3]
    with open(LOG, "a") as f:
        f.write(json.dumps(run, sort_keys=True) + "\n")


def g(d, *path, default=None):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def fmt(v, unit="", digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        v = round(v, digits)
        if digits == 0:
            v = int(v)
    return f"{v:,}{unit}" if isinstance(v, int) else f"{v}{unit}"


def verdict(ok):
    return "-" if ok is None else ("meets" if ok else "**misses**")


def rows_for(run, companion=None):
    h, p, fl = run.get("herald", {}), run.get("peer", {}), run.get("floor", {})
    if companion:  # the variant run borrows the floor and peer of the main run just before it
        p = p or companion.get("peer", {})
        fl = fl or companion.get("floor", {})
    rows = []

    def row(name, value, budget, ok, beside=""):
        rows.append((name, value, budget, verdict(ok), beside))

    c = h.get("connect")
    if c:
        bpc = c.get("bytes_per_conn")
        row("connections held", f"{c['ok']:,} of {run['n']:,} ({fmt(c.get('rate_per_s'), '/s', 0)}, "
            f"{fmt(c.get('seconds'), ' s', 2)})", f"{run['n']:,}", c["ok"] == run["n"],
            f"peer {g(p, 'connect', 'ok', default='-')}")
        row("RSS per connection", fmt(bpc, " B", 0), "<= 4,096 B", None if bpc is None else bpc <= 4096,
            f"peer (Bun) {fmt(g(p, 'connect', 'bytes_per_conn'), ' B', 0)}")
        row("idle CPU with all connected", fmt(c.get("idle_cpu_pct"), " %"), "near 0",
            None if c.get("idle_cpu_pct") is None else c["idle_cpu_pct"] < 2,
            f"peer {fmt(g(p, 'connect', 'idle_cpu_pct'), ' %')}")
    b = h.get("broadcast")
    if b:
        kind = "persisted" if b.get("persist") else "desktop"
        ratio = b.get("cpu_ratio_to_floor")
        if ratio is None and b.get("cpu_per_recipient_ns") and fl.get("cpu_per_send_ns"):
            ratio = b["cpu_per_recipient_ns"] / fl["cpu_per_send_ns"]
        row(f"broadcast ({kind}) CPU per recipient", fmt(g(b, "cpu_per_recipient_ns", default=0) / 1000, " us", 2) +
            f" = {fmt(ratio, 'x', 2)} floor", "<= 1.3x floor", None if ratio is None else ratio <= 1.3,
            f"floor {fmt(g(fl, 'cpu_per_send_ns', default=0) / 1000, ' us', 2)}/send; peer "
            f"{fmt(g(p, 'broadcast', 'cpu_ratio_to_floor'), 'x', 2)}")
        ttl = g(b, "time_to_last_ms", "p50")
        peer_ttl = g(p, "broadcast", "time_to_last_ms", "p50")
        row(f"broadcast ({kind}) time to last client p50 / p99 / max",
            " / ".join(fmt(g(b, "time_to_last_ms", k), " ms", 1) for k in ("p50", "p99", "max")),
            "<= Bun's", None if ttl is None or peer_ttl is None or kind != "desktop" else ttl <= peer_ttl,
            f"peer p50 {fmt(peer_ttl, ' ms')}; floor p50 {fmt(g(fl, 'time_to_last_ms', 'p50'), ' ms')}")
        row(f"broadcast ({kind}) per-client latency p50 / p99",
            " / ".join(fmt(g(b, "latency_ms", k), " ms", 1) for k in ("p50", "p99")), "-", None,
            f"peer {fmt(g(p, 'broadcast', 'latency_ms', 'p50'), ' ms')} / {fmt(g(p, 'broadcast', 'latency_ms', 'p99'), ' ms')}")
        row(f"broadcast ({kind}) every client got every one", f"{b['complete_clients']:,} of {b['clients']:,}",
            "all", b["complete_clients"] == b["clients"] and b.get("incomplete_broadcasts", 0) == 0)
    pe = h.get("personal")
    if pe:
        persisted = pe.get("persist")
        if persisted:
            need = 10000 if run.get("store") == "mysql" else 5000
            budget, ok = f">= {need:,}/s", pe["sent_per_s"] >= need
            beside = ""
        else:
            peer_rate = g(p, "personal", "sent_per_s")
            budget, ok = "> Bun's", None if peer_rate is None else pe["sent_per_s"] > peer_rate
            beside = f"peer {fmt(peer_rate, '/s', 0)}"
        row(f"personal ({'persisted' if persisted else 'transient'}, c={pe['concurrency']}) sent / delivered",
            f"{fmt(pe['sent_per_s'], '/s', 0)} / {fmt(pe['delivered_per_s'], '/s', 0)}", budget, ok, beside)
        row("personal delivery latency p50 / p99",
            " / ".join(fmt(g(pe, "latency_ms", k), " ms", 1) for k in ("p50", "p99")), "-", None)
        row("personal: every delivery checked", f"{pe['delivered']:,} of {pe['expected_deliveries']:,}", "all",
            pe["delivered"] == pe["expected_deliveries"] and pe["complete_clients"] == pe["clients"])
    r = h.get("reconnect")
    if r and "seconds" in r:
        row(f"reconnect with since, {r.get('missed_items')} missed: all synced",
            f"{fmt(r['seconds'], ' s', 2)} ({r.get('sync_ok', 0):,} exact, {r.get('sync_bad', 0)} wrong)",
            "<= 10 s", r["seconds"] <= 10 and r.get("sync_bad", 1) == 0 and r.get("ok") == run["n"])
    i = h.get("inbox")
    if i and "requests_per_s" in i:
        p99 = max(g(i, "unread_count_ms", "p99", default=0), g(i, "inbox_page_ms", "p99", default=0))
        row(f"inbox + unread_count ({i['items_per_user']} items/user, c={i['concurrency']})",
            f"{fmt(i['requests_per_s'], '/s', 0)}, p99 {fmt(g(i, 'unread_count_ms', 'p99'), ' ms', 2)} / "
            f"{fmt(g(i, 'inbox_page_ms', 'p99'), ' ms', 2)}", ">= 10,000/s, p99 < 10 ms",
            i["requests_per_s"] >= 10000 and p99 < 10 and i.get("wrong_answers", 1) == 0)
    return rows


def commit_depth(commit, cache={}):
    """How many commits lead to this one (git rev-list --count), to order the history table by
    commit rather than by run date; None when git does not know it."""
    sha = (commit or "").split()[0] if commit else ""
    if sha not in cache:
        try:
            out = subprocess.run(["git", "-C", HERE, "rev-list", "--count", sha], capture_output=True,
                                 text=True, check=True).stdout.strip()
            cache[sha] = int(out)
        except (subprocess.CalledProcessError, ValueError, OSError):
            cache[sha] = None
    return cache[sha]


def render(args):
    runs = load()
    out = ["# herald-bench results", "",
           "Generated by `bench/run.sh` (through `bench/results_md.py`) from `bench/results.jsonl`; every",
           "figure comes with the machine, the command and the date of its run. Budgets are those of",
           "`DESIGN.md`. The floor (plain `send()` of the same frame to the same number of loopback",
           "sockets) and the Bun peer (`bench/peer/`, `Bun.serve` on uWebSockets) are measured in the",
           "same run as Herald's figures beside them.", "",
           "**Caveat:** the box has 2 cores, shared with the load generator and at times with other",
           "engineers' compilers; the load average before and after each run is shown. Figures from a",
           "loaded box are pessimistic for every side (Herald, peer and floor alike).", ""]
    if not runs:
        out.append("No runs recorded yet: run `bench/run.sh`.")
    latest = {}
    for run in runs:
        if not run.get("history_only"):
            latest[(run.get("store"), run["n"], run.get("variant"))] = run
    for key in sorted(latest, key=lambda k: (k[0] or "", k[1], k[2] or "")):
        run = latest[key]
        m = run.get("machine", {})
        out += [f"## {key[0]}, N = {key[1]:,}, {key[2]}", "",
                f"- machine: {m.get('cores')} cores, {m.get('model')}, {m.get('kernel')}",
                f"- date: {m.get('date')}, Herald commit `{run.get('commit')}`, load average "
                + (f"before {' '.join(run['loadavg_before'])}, " if run.get("loadavg_before") else "")
                + f"after {' '.join(run.get('loadavg_after', []))}",
                f"- command: `{run.get('command')}`",
                f"- checks: {'all passed' if run.get('ok') else 'FAILED: ' + '; '.join(run.get('checks_failed', []))}",
                "", "| figure | Herald | budget | verdict | beside it (same run) |", "|---|---|---|---|---|"]
        companion = None
        if key[2] != "main":
            companion = latest.get((key[0], key[1], "main"))
            if companion:
                out.insert(len(out) - 3, f"- floor and peer figures: from the `main` run of {g(companion, 'machine', 'date')}")
        out += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows_for(run, companion)]
        out.append("")
    if runs:
        out += ["## History (before / after each change)", "",
                "Every recorded run, in commit order (then date): a change that moved a figure shows as the",
                "line before and the line after its commit. CPU is the daemon's per broadcast recipient;",
                "load is the 1-minute load average before and after the run.", "",
                "| date | commit | store | N | variant | load before / after | B/conn | bcast last p50 | CPU/recipient | CPU/floor | personal/s | reconnect | inbox/s | ok |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        order = sorted(range(len(runs)), key=lambda k: (commit_depth(runs[k].get("commit")) or 10**9,
                                                        g(runs[k], "machine", "date", default=""), k))
        for run in (runs[k] for k in order):
            h = run.get("herald", {})
            out.append("| " + " | ".join([
                g(run, "machine", "date", default="-")[:16], f"`{run.get('commit')}`", str(run.get("store")),
                f"{run['n']:,}", str(run.get("variant")),
                f"{g(run, 'loadavg_before', default=['-'])[0]} / {g(run, 'loadavg_after', default=['-'])[0]}",
                fmt(g(h, "connect", "bytes_per_conn"), "", 0),
                fmt(g(h, "broadcast", "time_to_last_ms", "p50"), " ms"),
                fmt(g(h, "broadcast", "cpu_per_recipient_ns", default=0) / 1000 or None, " us", 2),
                fmt(g(h, "broadcast", "cpu_ratio_to_floor"), "x", 2),
                fmt(g(h, "personal", "sent_per_s"), "", 0),
                fmt(g(h, "reconnect", "seconds"), " s", 2),
                fmt(g(h, "inbox", "requests_per_s"), "", 0),
                "yes" if run.get("ok") else "no"]) + " |")
        out.append("")
    notes = os.path.join(HERE, "RESULTS.notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            out += [f.read().rstrip(), ""]
    with open(args.out, "w") as f:
        f.write("\n".join(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add")
    a.add_argument("--store", required=True)
    a.add_argument("--commit", required=True)
    a.add_argument("--command", required=True)
    a.add_argument("--variant", required=True)
    a.add_argument("--load-before")
    a.add_argument("--history-only", action="store_true")
    r = sub.add_parser("render")
    r.add_argument("--out", default=os.environ.get("HERALD_BENCH_RESULTS_MD", os.path.join(HERE, "RESULTS.md")))
    args = ap.parse_args()
    add(args) if args.cmd == "add" else render(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs the measurements of bench/run.sh and prints one report.

Every server is started here on 127.0.0.1 with port 0 and stopped at the end; the load comes
from oha, a separate process, over keep-alive connections. Figures are medians or totals of
this run only, and the ratio is against bare hyper measured in the same run.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import team

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOOKBIN = os.environ.get("BENCH_HOOKBIN", os.path.join(ROOT, "target/release/hookbin"))
BARE = os.path.join(ROOT, "target/release/examples/bare_hyper")
SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
CONNECTIONS = 64
ROUNDS = 3


class Server:
    """A server process whose first stdout line names its URL."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://[0-9.:]+", line)
        if not m:
            raise SystemExit(f"no URL in {line!r} from {argv}")
        self.url = m.group(0)

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0  # MiB
        return 0.0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def hookbin(db, *extra):
    return Server([HOOKBIN, "--listen", "127.0.0.1:0", "--db", db, *extra])


def remove_db(db):
    for suffix in ("", "-wal", "-shm", ".lock", ".reserve"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


# The capture configurations measured against bare hyper: (label, flags, requests stored in the
# bin before the measured run). A full bin is the headline: every capture into it also evicts
# the bin's oldest request, which is what a bin that has been in use for a while costs.
CAPTURE_SETUPS = [
    ("full bin, default cap (10,000)", [], 10_000),
    ("full bin, --max-requests 100000", ["--max-requests", "100000"], 100_000),
    ("empty bin, no cap (--max-requests 0)", ["--max-requests", "0"], 0),
]


def api(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def oha(url, *args):
    """Runs oha and returns its JSON report."""
    out = subprocess.run(
        ["oha", "--no-tui", "--output-format", "json", *args, url],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


# Thread groups whose CPU the capture rounds report, by the thread's name (as /proc shows it,
# cut to 15 characters): the one SQLite writer, the WAL checkpointer, tokio's runtime threads
# (async workers and the blocking pool share the name: tokio-rt-worker, or tokio-runtime-w in
# older tokio), and anything else (the main thread).
THREAD_GROUPS = [("writer", "hookbin-writer"), ("checkpointer", "hookbin-checkp"),
                 ("sender", "hookbin-sender"), ("runtime threads", "tokio-r")]


def thread_cpu(pid):
    """CPU seconds (user + system) used so far by each thread group of a process, and "all"."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"all": cpu_seconds(pid)}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        group = next((g for g, prefix in THREAD_GROUPS if name.startswith(prefix)), "other")
        out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_per_request(before, after, requests):
    """Microseconds of CPU per request for each thread group, between two thread_cpu reads.
    A group's threads that ended in between are lost from it (tokio's blocking pool lets idle
    threads go), so "all" is read from the process, which keeps what ended threads used."""
    groups = set(before) | set(after)
    return {g: (after.get(g, 0.0) - before.get(g, 0.0)) * 1e6 / max(requests, 1) for g in groups}


def load(url, body_file):
    # Start every run with no dirty pages from an earlier one being written back meanwhile.
    os.sync()
    return oha(url, "-z", f"{SECONDS}s", "-c", str(CONNECTIONS), "-m", "POST",
               "-H", "content-type: application/json", "-D", body_file,
               "--wait-ongoing-requests-after-deadline")


def ok_count(report):
    return sum(v for k, v in report.get("statusCodeDistribution", {}).items() if k.startswith("2"))


def ms(report, p):
    return report["latencyPercentiles"][p] * 1000.0


def median_ms(url, n=200):
    r = oha(url, "-n", str(n), "-c", "1")
    return ms(r, "p50"), ok_count(r)


def only(name, work):
    """Runs one of the separate measurements (BENCH_ONLY) and prints its figures."""
    body_file = os.path.join(work, "body.json")
    with open(body_file, "w") as f:
        f.write(json.dumps({"event": "x", "data": "y" * 1000}))
    if name == "growth":
        sizes = [int(x) for x in os.environ.get("BENCH_SIZES", "10000,1000000").split(",")]
        figures = growth_bench(work, sizes)
    else:
        runs = {"capture": capture_bench, "retries": retries_bench, "watchers": watchers_bench, "listen": listen_bench,
                "rules": rules_bench,
                "team": lambda work, body_file: team.team_bench(sys.modules[__name__], work, body_file)}
        if name not in runs:
            raise SystemExit(f"BENCH_ONLY must be growth, {', '.join(runs)}; not {name!r}")
        figures = runs[name](work, body_file)
    for k, v in figures:
        print(f"{k}  {v}")


def main():
    name = os.environ.get("BENCH_ONLY")
    if name:
        work = tempfile.mkdtemp(prefix="hookbin-bench-")
        try:
            only(name, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    work = tempfile.mkdtemp(prefix="hookbin-bench-")
    body_file = os.path.join(work, "body.json")
    payload = {"event": "payment.received", "id": "evt_0001", "data": {"note": ""}}
    payload["data"]["note"] = "x" * (1024 - len(json.dumps(payload)))
    with open(body_file, "w") as f:
        f.write(json.dumps(payload))
    assert os.path.getsize(body_file) == 1024
    print(f"machine: {os.cpu_count()} cores; load: {CONNECTIONS} keep-alive connections, {SECONDS} s a run, "
          f"1 KiB JSON POSTs (oha); {ROUNDS} alternating rounds")
    report = []

    report += capture_bench(work, body_file)

    # 2. Pages and API with 100,000 stored requests in one bin.
    h = hookbin(os.path.join(work, "pages.db"), "--max-requests", "0")
    api(h.url + "/api/bins", "POST", {"name": "big"})
    filled = oha(h.url + "/b/big", "-n", "100000", "-c", str(CONNECTIONS), "-m", "POST",
                 "-H", "content-type: application/json", "-D", body_file)
    count = api(h.url + "/api/bins/big")["request_count"]
    page_ms, _ = median_ms(h.url + "/bins/big")
    api_ms, _ = median_ms(h.url + "/api/bins/big/requests")
    first = api(h.url + "/api/bins/big/requests?limit=1")["requests"][0]["id"]
    detail_ms, _ = median_ms(f"{h.url}/requests/{first}")
    # Filters scan the bin's rows: a header filter that every row passes stops after one page;
    # body text that no row contains reads all 100,000 bodies (the worst case).
    header_ms, _ = median_ms(h.url + "/api/bins/big/requests?header=content-type:json", 50)
    scan_ms, _ = median_ms(h.url + "/api/bins/big/requests?q=no-such-text", 10)
    har_ms, _ = median_ms(h.url + "/api/bins/big/har", 5)
    # The inspector: the bin page renders the list and the selected request in full. Selected
    # here: a 10 MiB JSON body (the page loads its first 256 KiB), and a 256 KiB JSON body (the
    # largest that is coloured and folded whole).
    def post_json(doc):
        req = urllib.request.Request(h.url + "/b/big/inspect", data=doc, method="POST",
                                     headers={"content-type": "application/json"})
        return json.loads(urllib.request.urlopen(req).read())["request_id"]

    def json_doc(size):
        item = b'{"sku":"t-0001","qty":2,"price":1.10,"tags":["a","b"],"ok":true},'
        n = (size - 2) // len(item)
        return b"[" + item * n + b'{"end":null}' + b" " * (size - 2 - n * len(item) - 12) + b"]"

    big_id = post_json(json_doc(10 * 1024 * 1024))
    mid_id = post_json(json_doc(256 * 1024 - 64))
    insp_big_ms, _ = median_ms(f"{h.url}/bins/big?r={big_id}", 50)
    insp_mid_ms, _ = median_ms(f"{h.url}/bins/big?r={mid_id}", 50)
    with urllib.request.urlopen(f"{h.url}/bins/big?r={mid_id}") as r:
        insp_mid_size = len(r.read())
    h.stop()
    report += [
        ("stored requests in the bin", f"{count:,} (filled at {filled['summary']['requestsPerSec']:,.0f} req/s)"),
        ("bin page, median", f"{page_ms:.2f} ms"),
        ("API first page (50 requests), median", f"{api_ms:.2f} ms"),
        ("request page, median", f"{detail_ms:.2f} ms"),
        ("API filtered by header (all match), median", f"{header_ms:.2f} ms"),
        ("API body search, no match in 100k, median", f"{scan_ms:.1f} ms"),
        ("HAR export of 10,000 requests, median", f"{har_ms:.0f} ms"),
        ("inspector, 10 MiB JSON selected, median",
         f"{insp_big_ms:.2f} ms ({insp_big_ms / api_ms:.1f}x the API page)"),
        ("inspector, 256 KiB JSON selected (coloured, foldable), median",
         f"{insp_mid_ms:.2f} ms ({insp_mid_ms / api_ms:.1f}x the API page; {insp_mid_size / 1024:.0f} KiB of HTML)"),
    ]

    # 3. A request page whose body is 10 MiB.
    h = hookbin(os.path.join(work, "big-body.db"))
    api(h.url + "/api/bins", "POST", {"name": "huge"})
    big = os.path.join(work, "big.txt")
    with open(big, "wb") as f:
        f.write(b"0123456789abcdef" * (10 * 1024 * 1024 // 16))
    req = urllib.request.Request(h.url + "/b/huge", data=open(big, "rb").read(), method="POST",
                                 headers={"content-type": "text/plain"})
    rid = json.loads(urllib.request.urlopen(req).read())["request_id"]
    before = h.status("VmHWM")
    big_ms, _ = median_ms(f"{h.url}/requests/{rid}", 20)
    with urllib.request.urlopen(f"{h.url}/requests/{rid}") as r:
        page_size = len(r.read())
    peak_big = h.status("VmHWM")
    h.stop()
    report += [
        ("10 MiB request page, median", f"{big_ms:.2f} ms ({page_size / 1024:.0f} KiB of HTML)"),
        ("hookbin peak RSS after storing / showing it", f"{before:.1f} MiB / {peak_big:.1f} MiB"),
    ]

    # 4. The sender: 10,000 events to a local receiver, every attempt logged.
    receiver = Server([BARE, "127.0.0.1:0"])
    h = hookbin(os.path.join(work, "send.db"), "--endpoint-concurrency", "64")
    hook = api(h.url + "/api/webhooks", "POST",
               {"name": "bench", "url": receiver.url + "/hook", "event": "payment_received"})
    with open(os.path.join(work, "empty.json"), "w") as f:
        f.write("{}")
    started = time.monotonic()
    fired = oha(h.url + "/api/events/payment_received", "-n", "10000", "-c", "16", "-m", "POST",
                "-H", "content-type: application/json", "-D", os.path.join(work, "empty.json"))
    while True:
        stats = api(f"{h.url}/api/webhooks/{hook['id']}")["deliveries"]
        if stats["succeeded"] + stats["failed"] >= 10000:
            break
        if time.monotonic() - started > 300:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    send_peak = h.status("VmHWM")
    h.stop()
    receiver.stop()
    report += [
        ("events fired (202)", f"{ok_count(fired):,} at {fired['summary']['requestsPerSec']:,.0f} req/s"),
        ("deliveries succeeded / failed", f"{stats['succeeded']:,} / {stats['failed']:,}"),
        ("delivery throughput (fire to last delivered)", f"{stats['succeeded'] / elapsed:,.0f} deliveries/s"),
        ("hookbin peak RSS while sending", f"{send_peak:.1f} MiB"),
    ]

    # 5. The WAL under sustained 64 KiB captures (default configuration), sampled every 20 ms.
    db = os.path.join(work, "wal.db")
    h = hookbin(db)
    api(h.url + "/api/bins", "POST", {"name": "wal"})
    big_body = os.path.join(work, "64k.bin")
    with open(big_body, "wb") as f:
        f.write(b"w" * 65536)
    sizes, done = [], threading.Event()

    def sample():
        while not done.wait(0.02):
            try:
                sizes.append(os.path.getsize(db + "-wal"))
            except OSError:
                pass

    sampler = threading.Thread(target=sample)
    sampler.start()
    wr = load(h.url + "/b/wal", big_body)
    done.set()
    sampler.join()
    wal_rss = h.status("VmHWM")
    h.stop()
    left = [s for s in ("-wal", "-shm") if os.path.exists(db + s)]
    remove_db(db)
    report += [
        ("64 KiB captures, sustained", f"{wr['summary']['requestsPerSec']:,.0f} req/s "
                                       f"({wr['summary']['requestsPerSec'] * 64 / 1024:,.0f} MiB/s)"),
        ("  WAL file peak / median while loaded", f"{max(sizes, default=0) / 2**20:.0f} MiB / "
                                                  f"{sorted(sizes)[len(sizes) // 2] / 2**20 if sizes else 0:.0f} MiB"),
        ("  hookbin peak RSS", f"{wal_rss:.1f} MiB"),
        ("  files left after SIGTERM", ", ".join(left) if left else "none (WAL folded in and removed)"),
    ]

    report += listen_bench(work, body_file)
    width = max(len(k) for k, _ in report)
    print()
    for k, v in report:
        print(f"{k:<{width}}  {v}")
    shutil.rmtree(work, ignore_errors=True)


def capture_bench(work, body_file):
    """Capture throughput and CPU per capture, hookbin vs bare hyper, in alternating rounds so
    that drift in the machine's speed hits all alike; each setup's median round (by ratio)."""
    report = []
    runs = {label: [] for label, _, _ in CAPTURE_SETUPS}
    for i in range(ROUNDS):
        b = Server([BARE, "127.0.0.1:0"])
        b_cpu = cpu_seconds(b.proc.pid)
        br = load(b.url + "/", body_file)
        b_us = (cpu_seconds(b.proc.pid) - b_cpu) * 1e6 / max(ok_count(br), 1)
        b.stop()
        b_rps = br["summary"]["requestsPerSec"]
        line = [f"round {i + 1}: bare hyper {b_rps:,.0f} req/s"]
        for label, flags, prefill in CAPTURE_SETUPS:
            db = os.path.join(work, f"capture{i}.db")
            h = hookbin(db, *flags)
            api(h.url + "/api/bins", "POST", {"name": "load"})
            if prefill:
                oha(h.url + "/b/load", "-n", str(prefill), "-c", str(CONNECTIONS), "-m", "POST",
                    "-H", "content-type: application/json", "-D", body_file)
                assert api(h.url + "/api/bins/load")["request_count"] == prefill
            time.sleep(0.5)
            idle = h.status("VmRSS")
            cpu0 = thread_cpu(h.proc.pid)
            hr = load(h.url + "/b/load", body_file)
            cpu = cpu_per_request(cpu0, thread_cpu(h.proc.pid), ok_count(hr))
            peak = h.status("VmHWM")
            stored = api(h.url + "/api/bins/load")["request_count"]
            h.stop()
            remove_db(db)
            # A full bin must still hold exactly its cap; an uncapped one everything acknowledged.
            want = prefill if prefill else ok_count(hr)
            assert stored == want, f"{label}: stored {stored}, expected {want}"
            h_rps = hr["summary"]["requestsPerSec"]
            runs[label].append((h_rps / b_rps, h_rps, b_rps, hr, br, idle, peak, stored, cpu, b_us))
            line.append(f"{label} {h_rps:,.0f} ({h_rps / b_rps:.2f}; {cpu['all']:.1f} µs CPU "
                        f"against bare {b_us:.1f})")
        print("; ".join(line))
    for n, (label, _, prefill) in enumerate(CAPTURE_SETUPS):
        rs = sorted(runs[label], key=lambda r: r[0])
        ratio, h_rps, b_rps, hr, br, idle, peak, stored, cpu, b_us = rs[len(rs) // 2]
        groups = ", ".join(f"{g} {cpu.get(g, 0.0):.1f}" for g, _ in THREAD_GROUPS + [("other", "")])
        report += [
            (f"capture, {label}", f"{h_rps:,.0f} req/s, ratio {ratio:.2f} to bare hyper "
                                  f"(rounds: {', '.join(f'{r[0]:.2f}' for r in rs)})"),
            ("  CPU µs per capture, whole process",
             f"{cpu['all']:.1f} ({cpu['all'] / b_us:.2f}x bare hyper's {b_us:.1f} µs per request)"),
            ("  CPU µs per capture by thread group", groups),
            ("  latency p50 / p99", f"{ms(hr, 'p50'):.2f} ms / {ms(hr, 'p99'):.2f} ms"),
            ("  acknowledged (200) / held in the bin after",
             f"{ok_count(hr):,} / {stored:,}" + (" (the cap: oldest evicted)" if prefill else " (match)")),
            ("  hookbin RSS idle / peak under load", f"{idle:.1f} MiB / {peak:.1f} MiB"),
        ]
        if n == 0:
            report += [
                ("bare hyper throughput (same rounds)", f"{b_rps:,.0f} req/s"),
                ("bare hyper latency p50 / p99", f"{ms(br, 'p50'):.2f} ms / {ms(br, 'p99'):.2f} ms"),
            ]
    return report


def listen_bench(work, body_file, n=20000):
    """`hookbin listen` forwarding a backlog of n captures to a local app (pipelined on one
    connection, in order, as shipped), against the same number of POSTs sent one at a time
    straight to that app; with the CPU each process spent per capture while it drained."""
    receiver = Server([BARE, "127.0.0.1:0"])
    direct = oha(receiver.url + "/direct", "-n", str(n), "-c", "1", "-m", "POST",
                 "-H", "content-type: application/json", "-D", body_file)
    h = hookbin(os.path.join(work, "listen.db"), "--max-requests", "0")
    api(h.url + "/api/bins", "POST", {"name": "fwd"})
    oha(h.url + "/b/fwd", "-n", str(n), "-c", str(CONNECTIONS), "-m", "POST",
        "-H", "content-type: application/json", "-D", body_file)
    last = api(h.url + "/api/bins/fwd/requests?limit=1")["requests"][0]["id"]
    state = os.path.join(work, "listen-state.json")
    server_cpu, app_cpu = cpu_seconds(h.proc.pid), cpu_seconds(receiver.proc.pid)
    started = time.monotonic()
    listener = subprocess.Popen([HOOKBIN, "listen", "fwd", "--forward-to", receiver.url + "/app",
                                 "--server", h.url, "--state", state, "--from", "oldest"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with open(state) as f:
                if json.load(f)["last"] == last:
                    break
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    elapsed = time.monotonic() - started
    us = lambda seconds: seconds * 1e6 / n
    listener_us = us(cpu_seconds(listener.pid))
    server_us = us(cpu_seconds(h.proc.pid) - server_cpu)
    app_us = us(cpu_seconds(receiver.proc.pid) - app_cpu)
    listener.terminate()
    listener.wait()
    h.stop()
    receiver.stop()
    rate = n / elapsed
    direct_rps = direct["summary"]["requestsPerSec"]
    return [
        (f"listen: {n:,} captures forwarded to a local app",
         f"{rate:,.0f} captures/s ({rate / direct_rps:.2f}x {direct_rps:,.0f} req/s sent one at a "
         f"time straight to the app)"),
        ("listen: CPU per capture while draining",
         f"listener {listener_us:.1f} us, server {server_us:.1f} us, app {app_us:.1f} us"),
    ]


WORDS = ("invoice renewal site network plan upgrade coupon refund member domain customer "
         "gateway stripe paypal trial monthly yearly seats storage backup theme plugin mapped "
         "checkout cart tax vat address street city postcode country company note gift").split()
FIRST = "ana bo chen dev eva farid gia hugo ines jon kai lena milo nia omar pia ravi sol tia ugo".split()
EVENTS = ["payment_received", "membership_created", "site_published", "domain_mapped", "renewal_failed"]


def varied_bodies(path, kind, seed, n=4000):
    """n distinct ~1 KiB JSON events, one per line (oha -Z sends them in turn): random ids,
    emails, amounts and notes, as varied as real webhook traffic, each saying `kind`."""
    import random
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            doc = {"event": rnd.choice(EVENTS), "kind": kind, "id": f"evt_{rnd.getrandbits(64):016x}",
                   "created": 1764600000 + rnd.randint(0, 10**7),
                   "customer": {"email": f"{rnd.choice(FIRST)}.{rnd.choice(FIRST)}{rnd.randint(1, 9999)}@example.org",
                                "id": f"cus_{rnd.getrandbits(48):012x}"},
                   "order": {"id": f"ord_{rnd.getrandbits(40):010x}", "amount": rnd.randint(100, 99999),
                             "currency": rnd.choice(["usd", "eur", "gbp"]),
                             "items": [{"sku": f"sku-{rnd.randint(1, 5000)}", "qty": rnd.randint(1, 9)}
                                       for _ in range(rnd.randint(1, 4))]},
                   "note": ""}
            note = []
            while len(json.dumps(doc)) + len(" ".join(note)) < 1000:
                note.append(rnd.choice(WORDS) + str(rnd.randint(0, 99)))
            doc["note"] = " ".join(note)
            f.write(json.dumps(doc) + "\n")


def index_pending(url):
    """Requests the server has not indexed yet, from its metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=60) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("hookbin_search_index_pending_requests "):
                return int(float(line.split()[1]))
    raise SystemExit("no hookbin_search_index_pending_requests in /metrics")


def caught_up(url, limit=3600):
    """Seconds until the search index has every stored request."""
    t = time.monotonic()
    while index_pending(url) > 0:
        if time.monotonic() - t > limit:
            raise SystemExit("the search index did not catch up")
        time.sleep(0.05)
    return time.monotonic() - t


def index_bytes(db):
    """Bytes the search index's tables and indexes take in the database file (dbstat)."""
    import sqlite3
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'search%'").fetchone()[0]
    finally:
        conn.close()


def growth_bench(work, sizes):
    """Filters and captures as one bin grows to each of `sizes` stored requests (keep-all), with
    varied ~1 KiB JSON bodies: the older half say `alpha` (body, path and an x-kind header),
    the newer half `beta`; one request, the newest, carries a unique token. For each size: every
    filter's first page and a page from the middle (`before`), medians of 5 calls, after the
    index has caught up; a 2-letter search, which the index cannot narrow, is the scan it
    replaced. Then a 10 s burst of captures at full speed with the index lag sampled during it,
    the time the index takes to catch up after it, and database bytes with and without the
    index. Capture throughput is against bare hyper and an empty bin in the same run (and
    against the build BENCH_BEFORE names, if set)."""
    bodies = {}
    for seed, kind in enumerate(("alpha", "beta")):
        bodies[kind] = os.path.join(work, f"{kind}.jsonl")
        varied_bodies(bodies[kind], kind, seed)
    out = []

    def capture_load(url, kind, seconds=SECONDS, sample=None):
        os.sync()
        lags = []
        stop = threading.Event()

        def sampler():
            while not stop.wait(0.25):
                lags.append(sample())
        t = threading.Thread(target=sampler, daemon=True) if sample else None
        if t:
            t.start()
        r = oha(f"{url}/b/big/{kind}/orders/[0-9a-f]{{8}}", "--rand-regex-url", "-z", f"{seconds}s",
                "-c", str(CONNECTIONS), "-m", "POST", "-H", "content-type: application/json",
                "-H", f"x-kind: {kind}", "-Z", bodies[kind], "--wait-ongoing-requests-after-deadline")
        stop.set()
        if t:
            t.join()
        return r["summary"]["requestsPerSec"], lags

    b = Server([BARE, "127.0.0.1:0"])
    os.sync()
    bare = oha(b.url + "/b/big/beta/orders/[0-9a-f]{8}", "--rand-regex-url", "-z", f"{SECONDS}s", "-c", str(CONNECTIONS), "-m", "POST", "-H",
               "content-type: application/json", "-Z", bodies["beta"],
               "--wait-ongoing-requests-after-deadline")["summary"]["requestsPerSec"]
    b.stop()
    db = os.path.join(work, "growth-empty.db")
    remove_db(db)
    h = hookbin(db, "--max-requests", "0", "--bin", "big")
    empty, _ = capture_load(h.url, "beta")
    h.stop()
    out.append(("captures, empty bin", f"{empty:,.0f} req/s ({empty / bare:.2f}x bare hyper's {bare:,.0f} req/s)"))
    before = os.environ.get("BENCH_BEFORE")
    if before:
        # Another hookbin build (say, one from before a change) on the same load.
        remove_db(db)
        h = Server([before, "--listen", "127.0.0.1:0", "--db", db, "--max-requests", "0", "--bin", "big"])
        other, _ = capture_load(h.url, "beta")
        h.stop()
        out.append((f"captures, empty bin, {before}",
                    f"{other:,.0f} req/s ({other / bare:.2f}x bare hyper; this build {empty / other:.2f}x it)"))

    for size in sizes:
        # A bin of its own per size: the older half alpha, the newer half beta, then the token.
        db = os.path.join(work, f"growth-{size}.db")
        remove_db(db)
        h = hookbin(db, "--max-requests", "0", "--bin", "big")

        def fill(kind, n):
            oha(f"{h.url}/b/big/{kind}/orders/[0-9a-f]{{8}}", "--rand-regex-url", "-n", str(n),
                "-c", str(CONNECTIONS), "-m", "POST", "-H", "content-type: application/json",
                "-H", f"x-kind: {kind}", "-Z", bodies[kind])

        def timed(query, runs=5):
            took = []
            for _ in range(runs):
                t = time.monotonic()
                api(f"{h.url}/api/bins/big/requests?limit=50&{query}")
                took.append((time.monotonic() - t) * 1000)
            return sorted(took)[runs // 2]

        started = time.monotonic()
        fill("alpha", size // 2)
        fill("beta", size - size // 2 - 1)
        api(f"{h.url}/b/big/newest", "POST", {"token": f"needle-{size}"})
        filled = time.monotonic() - started
        behind = caught_up(h.url)
        stored = api(f"{h.url}/api/bins/big")["request_count"]
        out.append((f"{stored:,} stored: filled", f"in {filled:.0f} s; index caught up {behind:.1f} s after the last capture"))
        first = api(f"{h.url}/api/bins/big/requests?limit=1")["requests"][0]
        middle = api(f"{h.url}/api/bins/big/requests?limit=1&path=alpha")["requests"][0]["id"]
        since = enc(first["received_at"])
        for label, q in [("q matching none", "q=zz-none-zz"), ("q matching the newest only", f"q=needle-{size}"),
                         ("q matching half (the older)", "q=alpha"), ("path (half)", "path=alpha"),
                         ("header (half)", "header=x-kind:alpha"), ("since (the newest 1)", f"since={since}"),
                         ("q of 2 letters, none (a scan: no trigram)", "q=zq")]:
            out.append((f"{stored:,} stored: {label}",
                        f"first page {timed(q):.1f} ms; from the middle (older half) {timed(q + '&before=' + middle):.1f} ms"))
        lag = lambda: api(f"{h.url}/api/bins/big/requests?limit=1&q=zz-none-zz")["index"]["behind_ms"]
        rps, lags = capture_load(h.url, "beta", sample=lag)
        after = caught_up(h.url)
        lags.sort()
        out.append((f"{stored:,} stored: captures",
                    f"{rps:,.0f} req/s ({rps / bare:.2f}x bare hyper, {rps / empty:.2f}x the empty bin); "
                    f"index lag during the burst median {lags[len(lags) // 2] / 1000:.1f} s, max {lags[-1] / 1000:.1f} s; "
                    f"caught up {after:.1f} s after it"))
        total = api(f"{h.url}/api/bins/big")["request_count"]
        h.stop()
        size_bytes = os.path.getsize(db)
        idx = index_bytes(db)
        out.append((f"{stored:,} stored: database",
                    f"{size_bytes / total:,.0f} bytes per request with the index, "
                    f"{(size_bytes - idx) / total:,.0f} without ({idx / total:,.1f} bytes per request of index)"))
    return out


def enc(text):
    return urllib.parse.quote(text, safe="")


def cpu_seconds(pid):
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def retries_bench(work, body_file, n=20000):
    """Capture throughput while n deliveries fail against a dead receiver and are retried
    (4 attempts each, 1 s apart), against the same server with nothing to send before and
    after; then how long and how much CPU the failing attempts took in all."""
    out = []
    db = os.path.join(work, "retry.db")
    remove_db(db)
    h = hookbin(db, "--max-requests", "0", "--retry-schedule", "1s,1s,1s", "--bin", "load")
    quiet = load(h.url + "/b/load", body_file)["summary"]["requestsPerSec"]
    dead = socket_port()
    hook = api(h.url + "/api/webhooks", "POST",
               {"name": "dead", "url": f"http://127.0.0.1:{dead}/hook", "event": "payment_received"})
    started, cpu0 = time.monotonic(), cpu_seconds(h.proc.pid)
    oha(h.url + "/api/events/payment_received", "-n", str(n), "-c", "16", "-m", "POST",
        "-H", "content-type: application/json", "-d", "{}")
    during0 = thread_cpu(h.proc.pid)
    busy_report = load(h.url + "/b/load", body_file)
    busy = busy_report["summary"]["requestsPerSec"]
    during = cpu_per_request(during0, thread_cpu(h.proc.pid), ok_count(busy_report))
    while api(f"{h.url}/api/webhooks/{hook['id']}")["deliveries"]["failed"] < n:
        time.sleep(0.2)
    took, cpu = time.monotonic() - started, cpu_seconds(h.proc.pid) - cpu0
    # Captures with nothing to send again, now the storm is over: the machine drifts between
    # runs, so the storm is judged against both quiet runs around it.
    quiet_after = load(h.url + "/b/load", body_file)["summary"]["requestsPerSec"]
    # The same storm again with no captures beside it: what the attempts alone cost.
    started, cpu0, groups0 = time.monotonic(), cpu_seconds(h.proc.pid), thread_cpu(h.proc.pid)
    oha(h.url + "/api/events/payment_received", "-n", str(n), "-c", "16", "-m", "POST",
        "-H", "content-type: application/json", "-d", "{}")
    while api(f"{h.url}/api/webhooks/{hook['id']}")["deliveries"]["failed"] < 2 * n:
        time.sleep(0.2)
    alone, alone_cpu = time.monotonic() - started, cpu_seconds(h.proc.pid) - cpu0
    per_group = cpu_per_request(groups0, thread_cpu(h.proc.pid), n * 4)
    h.stop()
    calm = (quiet + quiet_after) / 2
    out.append((f"captures while {n:,} deliveries retry against a dead receiver",
                f"{busy:,.0f} req/s ({busy / calm:.2f}x the {calm:,.0f} req/s with nothing to send: "
                f"{quiet:,.0f} before the storm, {quiet_after:,.0f} after)"))
    out.append(("  CPU µs per capture beside the storm, by thread group",
                ", ".join(f"{g} {during.get(g, 0.0):.1f}" for g, _ in THREAD_GROUPS + [("other", "")])))
    out.append((f"{n * 4:,} failing attempts (firing, {SECONDS} s of captures, retries) done in",
                f"{took:.1f} s, {cpu:.1f} s of CPU"))
    out.append((f"{n * 4:,} failing attempts again (firing, retries), no captures beside them",
                f"done in {alone:.1f} s, {alone_cpu:.1f} s of CPU ({alone_cpu / (n * 4) * 1e6:.0f} us per attempt)"))
    out.append(("  CPU µs per attempt by thread group",
                ", ".join(f"{g} {per_group.get(g, 0.0):.1f}" for g, _ in THREAD_GROUPS + [("other", "")])))
    return out


def twenty_rules():
    """Twenty answer rules of every kind, none matching the load's requests, so every capture
    is checked against all of them (the most a bin with 20 rules costs) and falls through to
    the bin's own answer."""
    kinds = [
        lambda i: {"path": f"/orders/{i}/**"},
        lambda i: {"method": "DELETE"},
        lambda i: {"header": {"name": "x-attempt", "equals": str(i)}},
        lambda i: {"query": {"name": f"q{i}"}},
        lambda i: {"body": {"contains": f"no-such-text-{i}"}},
        lambda i: {"body": {"json_path": "$.data.note", "equals": f"other {i}"}},
    ]
    return [{"name": f"rule {i}", "when": kinds[i % len(kinds)](i),
             "answers": [{"status": 500}, {"status": 200}]} for i in range(20)]


def rules_bench(work, body_file):
    """Captures into a bin with 20 answer rules against a plain bin on the same server, in
    alternating runs; the median of the rounds' ratios."""
    db = os.path.join(work, "rules.db")
    remove_db(db)
    h = hookbin(db, "--max-requests", "0", "--bin", "plain", "--bin", "ruled")
    api(h.url + "/api/bins/ruled/rules", "PUT", {"rules": twenty_rules()})
    rounds = []
    for _ in range(ROUNDS):
        plain = load(h.url + "/b/plain", body_file)["summary"]["requestsPerSec"]
        ruled = load(h.url + "/b/ruled", body_file)["summary"]["requestsPerSec"]
        rounds.append((ruled / plain, ruled, plain))
    answered = api(h.url + "/api/bins/ruled/requests?limit=1")["requests"][0]
    h.stop()
    assert answered["response_rule"] is None and answered["response_status"] == 200
    rounds.sort()
    ratio, ruled, plain = rounds[len(rounds) // 2]
    return [("captures into a bin with 20 answer rules (none matching)",
             f"{ruled:,.0f} req/s, {ratio:.2f}x a plain bin's {plain:,.0f} req/s on the same server "
             f"(rounds: {', '.join(f'{r[0]:.2f}' for r in rounds)})")]


def socket_port():
    """A loopback port nothing listens on (it was free a moment ago)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Watchers:
    """n open bin pages' event streams (SSE) on one bin, all driven by one asyncio loop on a
    thread of this process, reading and discarding what arrives (so their own CPU stays small
    and does not compete with the server for long)."""

    def __init__(self, url, bin_id, n):
        import asyncio
        host, port = url.removeprefix("http://").split(":")
        self.loop = asyncio.new_event_loop()
        self.received = 0
        ready = threading.Event()

        async def one():
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"GET /bins/{bin_id}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            await writer.drain()
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                self.received += chunk.count(b"event: request")

        async def all_of_them():
            tasks = [asyncio.ensure_future(one()) for _ in range(n)]
            await asyncio.sleep(0.5)
            ready.set()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(all_of_them()),
                                       daemon=True)
        self.thread.start()
        ready.wait(30)

    def stop(self):
        for task in list(__import__("asyncio").all_tasks(self.loop)):
            self.loop.call_soon_threadsafe(task.cancel)


def watchers_bench(work, body_file):
    """Capture throughput while bin pages watch: none, 50 and 500 on another bin, 10 on the
    bin being captured; each against bare hyper in the same round."""
    setups = [("no watchers", None, 0), ("50 watchers on another bin", "other", 50),
              ("500 watchers on another bin", "other", 500), ("10 watchers on the same bin", "load", 10)]
    rows = {label: [] for label, _, _ in setups}
    for _ in range(ROUNDS):
        b = Server([BARE, "127.0.0.1:0"])
        bare = load(b.url + "/", body_file)["summary"]["requestsPerSec"]
        b.stop()
        for label, bin_id, n in setups:
            db = os.path.join(work, "watch.db")
            remove_db(db)
            h = hookbin(db, "--max-requests", "0", "--bin", "load", "--bin", "other")
            w = Watchers(h.url, bin_id, n) if n else None
            rps = load(h.url + "/b/load", body_file)["summary"]["requestsPerSec"]
            heard = w.received if w else 0
            if w:
                w.stop()
            h.stop()
            rows[label].append((rps, rps / bare, heard))
    out = []
    base = sorted(r[0] for r in rows["no watchers"])[ROUNDS // 2]
    for label, _, n in setups:
        rps, ratio, heard = sorted(rows[label])[ROUNDS // 2]
        extra = f", {heard:,} events delivered" if heard else ""
        out.append((f"captures with {label}",
                    f"{rps:,.0f} req/s ({ratio:.2f}x bare hyper; {rps / base:.2f}x no watchers{extra})"))
    return out


if __name__ == "__main__":
    main()

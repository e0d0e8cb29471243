"""The team instance's measure (BENCH_ONLY=team): captures/s and p99 on one node on SQLite,
one node on PostgreSQL and two nodes on one PostgreSQL, in one run, each with stored ==
acknowledged, and where the CPU went (hookbin nodes, PostgreSQL, the load generator).

Needs a PostgreSQL server to create throwaway databases on: BENCH_DATABASE_URL, e.g.
`.ci/with-postgres sh -c 'BENCH_ONLY=team BENCH_DATABASE_URL=$HOOKBIN_TEST_DATABASE_URL
python3 bench/bench.py 10'`.
"""
import os
import resource
import subprocess
import threading
import uuid


def fresh_database(server_url):
    """A new empty database on the server; its URL."""
    name = "bench_" + uuid.uuid4().hex
    subprocess.run(["psql", "-q", server_url, "-c", f"CREATE DATABASE {name}"], check=True)
    return server_url.rsplit("/", 1)[0] + "/" + name


def postgres_cpu(cpu_seconds):
    """CPU seconds used so far by every PostgreSQL process on this machine (read only)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            total += cpu_seconds(int(pid))
        except OSError:
            pass
    return total


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_nodes(b, nodes, body_file):
    """Loads every node at once (the connections split between them); the combined figures."""
    b.api(nodes[0].url + "/api/bins", "POST", {"name": "team"})
    reports = [None] * len(nodes)
    per = b.CONNECTIONS // len(nodes)

    def drive(i):
        reports[i] = b.oha(nodes[i].url + "/b/team", "-z", f"{b.SECONDS}s", "-c", str(per), "-m", "POST",
                           "-H", "content-type: application/json", "-D", body_file,
                           "--wait-ongoing-requests-after-deadline")

    os.sync()
    cpu = ([b.cpu_seconds(n.proc.pid) for n in nodes], postgres_cpu(b.cpu_seconds), children_cpu())
    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(nodes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    used = (sum(b.cpu_seconds(n.proc.pid) for n in nodes) - sum(cpu[0]),
            postgres_cpu(b.cpu_seconds) - cpu[1], children_cpu() - cpu[2])
    acked = sum(b.ok_count(r) for r in reports)
    stored = b.api(nodes[0].url + "/api/bins/team")["request_count"]
    wall = max(r["summary"]["total"] for r in reports)
    rps = acked / wall
    p99 = max(b.ms(r, "p99") for r in reports)
    refused = sum(v for r in reports for k, v in r.get("statusCodeDistribution", {}).items()
                  if not k.startswith("2"))
    return rps, p99, acked, stored, refused, used, wall


def team_bench(b, work, body_file):
    server = os.environ.get("BENCH_DATABASE_URL")
    if not server:
        raise SystemExit("BENCH_ONLY=team needs BENCH_DATABASE_URL (a PostgreSQL server to create "
                         "databases on); see bench/team.py")
    setups = []
    lite = b.hookbin(os.path.join(work, "team.db"), "--max-requests", "0")
    setups.append(("one node, SQLite", [lite]))
    one = fresh_database(server)
    setups.append(("one node, PostgreSQL", [b.hookbin(one, "--max-requests", "0")]))
    two = fresh_database(server)
    setups.append(("two nodes, one PostgreSQL", [b.hookbin(two, "--max-requests", "0") for _ in range(2)]))
    figures, base = [], None
    cores = os.cpu_count()
    try:
        for label, nodes in setups:
            rps, p99, acked, stored, refused, used, wall = run_nodes(b, nodes, body_file)
            for n in nodes:
                n.stop()
            assert stored == acked, f"{label}: stored {stored}, acknowledged {acked}"
            base = base or rps
            share = lambda s: f"{s:.1f} s ({100 * s / (wall * cores):.0f}%)"
            figures += [
                (f"team: {label}", f"{rps:,.0f} captures/s ({rps / base:.2f}x the SQLite node), "
                                   f"p99 {p99:.2f} ms"),
                ("  acknowledged (200) / stored / refused", f"{acked:,} / {stored:,} / {refused:,}"),
                (f"  CPU over {wall:.1f} s x {cores} cores: hookbin / PostgreSQL / oha",
                 f"{share(used[0])} / {share(used[1])} / {share(used[2])}"),
            ]
    finally:
        # Whatever happened, no node is left running (stop() on a stopped one does nothing).
        for _, nodes in setups:
            for n in nodes:
                n.stop()
    return figures

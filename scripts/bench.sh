#!/bin/sh
# Runs every memflow bench workload on SQLite and on Postgres and prints the
# BENCHMARKS.md table (markdown) on stdout; each row's JSON report goes to
# stderr as it finishes. Postgres: $MEMFLOW_BENCH_DATABASE_URL, default a
# dedicated database so other clients' commits do not count.
#   scripts/bench.sh            # full table
#   N=200 scripts/bench.sh      # fewer workflows per row (quick look)
set -eu
PG=${MEMFLOW_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/memflow_bench?sslmode=disable}
N=${N:-2000}
BIN=${BIN:-$(mktemp -d)/memflow}
go build -o "$BIN" ./cmd/memflow

row() { # store db workload workflows concurrency
	if [ "$1" = postgres ]; then dbflag="--db $2"; else dbflag=""; fi
	cmd="memflow bench${dbflag:+ $dbflag} --workload $3 --workflows $4 --concurrency $5 --json"
	out=$("$BIN" bench $dbflag --workload "$3" --workflows "$4" --concurrency "$5" --json 2>/dev/null | tail -1)
	echo "$out" >&2
	echo "$out" | CMD="$cmd" python3 -c '
import json, os, sys
r = json.load(sys.stdin)
f = lambda v, fmt: "n/a" if v is None else fmt % v
print("| %s | %s | %d | %d | %.0f | %.0f | %.1f / %.1f / %.1f | %s | %s | %s | `%s` |" % (
    r["dialect"], r["workload"], r["workflows"], r["concurrency"], r["workflows_per_sec"],
    r["transitions_per_sec"], r["p50_ms"], r["p95_ms"], r["p99_ms"],
    f(r["commits_per_workflow"], "%.2f"), f(r["db_limit_commits_per_sec"], "%.0f"),
    f(r["ratio"], "%.3f"), os.environ["CMD"]))'
}

echo "| store | workload | workflows | concurrency | workflows/s | transitions/s | p50 / p95 / p99 ms | commits/workflow | db limit commits/s | ratio | command |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for store in sqlite postgres; do
	row $store "$PG" one-activity "$N" 64
	row $store "$PG" one-activity $((N / 10)) 1
	row $store "$PG" entity "$N" 16
	row $store "$PG" fanout $((N / 50)) 4
	row $store "$PG" signal "$N" 16
done

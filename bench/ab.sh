#!/usr/bin/env bash
# ab.sh REV_A REV_B [ROUNDS]: authd's refresh rate at two commits, in
# alternating runs on one throwaway PostgreSQL, so that a drift of the
# machine hits both alike. Each run: a fresh database, authd with ES256
# keys (AB_ALG), 32 clients refreshing for AB_DURATION after 1 s of warm-up
# (authload), and authd's CPU per request. Prints one line per run and the
# median rate of each commit. Needs Go, git and the PostgreSQL server
# binaries (PG_BIN); as root it runs PostgreSQL as the postgres user.
set -euo pipefail
cd "$(dirname "$0")/.."
a=${1:?usage: bench/ab.sh REV_A REV_B [ROUNDS]} b=${2:?usage: bench/ab.sh REV_A REV_B [ROUNDS]}
rounds=${3:-5}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
work=$(mktemp -d /tmp/authd-ab.XXXXXX)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
cleanup() {
	as_pg "$pg_bin/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
	for r in a b; do git worktree remove --force "$work/src-$r" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT

for r in a b; do
	rev=$a; [ $r = b ] && rev=$b
	git worktree add --detach "$work/src-$r" "$rev" >/dev/null 2>&1
	(cd "$work/src-$r" && go build -o "$work/authd-$r" ./cmd/authd)
done
(cd bench && go build -o "$work/authload" ./cmd/authload)
"$work/authd-b" keygen -alg "${AB_ALG:-ES256}" >"$work/keys.env"

[ "$(id -u)" = 0 ] && chown postgres "$work"
as_pg "$pg_bin/initdb -D $work/pg -U postgres -A trust" >/dev/null
as_pg "$pg_bin/pg_ctl -D $work/pg -l $work/pg.log -w -o \"-k $work -c listen_addresses='' -c shared_buffers=128MB -c max_connections=200\" start" >/dev/null

run() { # run a|b N
	local r=$1 db=ab_$1_$2 port=18380 mport=18390
	"$pg_bin/psql" -h "$work" -U postgres -d postgres -qAt -c "CREATE DATABASE $db"
	(
		set -a; . "$work/keys.env"; set +a
		export DATABASE_URL="postgres://postgres@/$db?host=$work&sslmode=disable" PORT=$port \
			LOG_LEVEL=warn COOKIE_SECURE=false IP_LOGIN_PER_MINUTE=0 IP_REGISTER_PER_MINUTE=0 \
			IP_REFRESH_PER_MINUTE=0 METRICS_ADDR=127.0.0.1:$mport GOMEMLIMIT=128000000B
		exec "$work/authd-$r" serve
	) >"$work/authd-$db.log" 2>&1 &
	local pid=$!
	for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
	"$work/authload" -url "http://127.0.0.1:$port" -seed-only -prefix ab -users 32 -c 32 >/dev/null 2>&1
	"$work/authload" -url "http://127.0.0.1:$port" -pid $pid -c 32 -d "${AB_DURATION:-8s}" -warmup 1s \
		-users 32 -prefix ab -seeded -scenario refresh >"$work/out-$db.txt" 2>&1
	kill $pid; wait $pid 2>/dev/null || true
	awk -v r=$r -v n=$2 '/^req\/s/{q=$2} /^authd /{c=$(NF-1)} END{printf "%s %s %.1f req/s, authd %.2f cores, %.0f µs of authd CPU per refresh\n", r, n, q, c, c/q*1e6}' "$work/out-$db.txt"
}

for n in $(seq "$rounds"); do
	# Alternate which goes first.
	if [ $((n % 2)) = 1 ]; then run a $n; run b $n; else run b $n; run a $n; fi
done | tee "$work/runs.txt"
for r in a b; do
	rev=$a; [ $r = b ] && rev=$b
	awk -v r=$r '$1==r{print $3}' "$work/runs.txt" | sort -n |
		awk -v rev="$rev" '{v[NR]=$1} END{printf "%s: median %.0f req/s over %d runs\n", rev, (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), NR}'
done

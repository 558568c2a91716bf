#!/usr/bin/env bash
# Load-tests authd end to end and writes docs/benchmarks.md (make bench).
#
#   bench/run.sh                       # 10 s per scenario, about 5 minutes in all
#   BENCH_DURATION=3s bench/run.sh     # a quick check
#
# It builds authd and authload, starts a throwaway PostgreSQL (Unix socket
# only, removed at exit) and authd on 127.0.0.1 with production settings,
# runs every authload scenario against it, then the token micro-benchmarks
# and, if installed, wrk. Everything talks over loopback and stops by itself.
#
# Settings (environment):
#   BENCH_DURATION  measured time per run (10s)
#   BENCH_WARMUP    unmeasured load before each run (2s)
#   BENCH_C         concurrency of each run (32)
#   BENCH_FLOOD_C   concurrency of the login flood in "me during login flood" (64)
#   BENCH_USERS     seeded users (200)
#   BENCH_OUT       the report (docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/pg.sh

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONC=${BENCH_C:-32}
FLOOD_C=${BENCH_FLOOD_C:-64}
USERS=${BENCH_USERS:-200}
OUT=${BENCH_OUT:-docs/benchmarks.md}
PREFIX=bench
BCRYPT_COST=12

bindir=$(pg_bindir) || {
	echo "bench: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
	exit 1
}
command -v curl >/dev/null || {
	echo "bench: curl is needed to wait for authd's /readyz" >&2
	exit 1
}

work=$(mktemp -d /tmp/authd-bench.XXXXXX)
authd_pid=""
pgdata="$work/pg/data"

stop_authd() {
	if [ -n "$authd_pid" ] && kill -0 "$authd_pid" 2>/dev/null; then
		kill -TERM "$authd_pid" 2>/dev/null || true
		wait "$authd_pid" 2>/dev/null || true
	fi
	authd_pid=""
}

cleanup() {
	stop_authd
	if [ -f "$pgdata/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*" >&2; }

# Anything else running on the machine takes CPU from authd; note it.
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- build ------------------------------------------------------------------
step "building authd and authload"
mkdir -p bin
go build -o bin/authd ./cmd/authd
(cd bench && go build -o ../bin/authload ./cmd/authload && go build -o "$work/benchreport" ./cmd/benchreport)

# --- PostgreSQL ---------------------------------------------------------------
# fsync and synchronous_commit stay on (the defaults): every write commit
# waits for the disk, as in production.
step "starting a throwaway PostgreSQL in $work/pg"
mkdir -p "$work/pg"
if [ "$(id -u)" = 0 ]; then
	chmod 711 "$work" # the postgres user must reach pg/; the rest stays private
	chown "$(pg_owner)" "$work/pg"
fi
as_pg "$bindir/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 --no-locale >"$work/initdb.log" 2>&1 || {
	cat "$work/initdb.log" >&2
	exit 1
}
as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$work/pg/postgres.log" -w -t 60 \
	-o "-k $work/pg -c listen_addresses='' -c shared_buffers=128MB -c max_connections=200" start >/dev/null || {
	cat "$work/pg/postgres.log" >&2
	exit 1
}
as_pg "$bindir/createdb" -h "$work/pg" -U postgres authd
database_url="postgres://postgres@/authd?host=$work/pg&sslmode=disable"

# --- authd ------------------------------------------------------------------
for alg in RS256 ES256; do
	(umask 077 && bin/authd keygen -alg "$alg" >"$work/keys-$alg.env")
done

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "bench: no free port found" >&2
	return 1
}

# start_authd ALG LIMITS: runs authd with production settings and waits for
# /readyz. ALG is the key type; LIMITS "off" turns the per-client rate
# limits off (all the load comes from one address), "on" keeps them at
# their defaults and trusts 127.0.0.1 as a proxy, so that authload -xff can
# give every virtual client its own address.
#
# COOKIE_SECURE=false: authload talks plain http. It reads Set-Cookie itself,
# but a client that keeps to the cookie rules (Go's cookiejar, for one)
# never sends a Secure cookie back over http, so with the production default
# the refresh flow would not work for a real client of this http URL. The
# setting only drops the Secure attribute; the work per request is the same.
start_authd() {
	local alg=$1 limits=$2 keys extra
	mapfile -t keys <"$work/keys-$alg.env"
	case $limits in
	off) extra=(IP_LOGIN_PER_MINUTE=0 IP_REGISTER_PER_MINUTE=0 IP_REFRESH_PER_MINUTE=0) ;;
	on) extra=(TRUSTED_PROXIES=127.0.0.1) ;;
	esac
	port=$(free_port)
	url="http://127.0.0.1:$port"
	# An empty environment and working directory: nothing of the caller's
	# (DATABASE_URL, an ./app.env) leaks in.
	(cd "$work" && exec env -i PATH="$PATH" "${keys[@]}" \
		DATABASE_URL="$database_url" LISTEN_HOST=127.0.0.1 PORT="$port" \
		BCRYPT_COST="$BCRYPT_COST" LOG_LEVEL=warn COOKIE_SECURE=false "${extra[@]}" \
		"$root/bin/authd" serve) >>"$work/authd.log" 2>&1 &
	authd_pid=$!
	local deadline=$((SECONDS + 60))
	until curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; do
		if ! kill -0 "$authd_pid" 2>/dev/null; then
			echo "bench: authd exited before it was ready:" >&2
			cat "$work/authd.log" >&2
			exit 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "bench: authd not ready after 60s" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "authd ($alg keys, per-client limits $limits) pid $authd_pid on $url" >&2
	commands+=("# authd: $alg keys, per-client limits $limits: ${extra[*]}")
}

# --- runs -------------------------------------------------------------------
results="$work/results.jsonl"
raw="$work/raw.txt"
commands=() # as shown in the report
: >"$results"
: >"$raw"

# load LABEL ARGS...: one authload run with the common flags.
load() {
	local label=$1
	shift
	local common=(-c "$CONC" -d "$DURATION" -warmup "$WARMUP" -users "$USERS" -prefix "$PREFIX" -seeded)
	commands+=("bin/authload -url http://127.0.0.1:\$PORT -pid \$AUTHD_PID ${common[*]} -json -label '$label' $*")
	step "$label"
	bin/authload -url "$url" -pid "$authd_pid" "${common[@]}" -json -label "$label" "$@" | tee "$work/out.txt"
	grep '^{' "$work/out.txt" >>"$results"
	grep -v '^{' "$work/out.txt" >>"$raw"
	echo >>"$raw"
}

step "authd with RS256 keys, per-client limits off"
start_authd RS256 off

step "seeding $USERS users (not timed)"
commands+=("bin/authload -url http://127.0.0.1:\$PORT -seed-only -prefix $PREFIX -users $USERS -c $CONC")
bin/authload -url "$url" -seed-only -prefix "$PREFIX" -users "$USERS" -c "$CONC"

load health -scenario health
load me -scenario me

wrk_out="" wrk_rps=""
if command -v wrk >/dev/null; then
	step "wrk against /api/users/me"
	token=$(curl -fsS -X POST "$url/api/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"${PREFIX}0@example.com\",\"password\":\"benchmark-password-1\"}" |
		sed -E 's/.*"access_token":"([^"]+)".*/\1/')
	commands+=("wrk -t2 -c$CONC -d$DURATION --latency -H 'Authorization: Bearer <token>' http://127.0.0.1:\$PORT/api/users/me")
	wrk_out=$(wrk -t2 -c"$CONC" -d"$DURATION" --latency -H "Authorization: Bearer $token" "$url/api/users/me")
	echo "$wrk_out"
	wrk_rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$wrk_out")
	unset token
else
	echo "bench: wrk is not installed; skipping it (apt-get install wrk)" >&2
fi

load "refresh" -scenario refresh
load login -scenario login
load register -scenario register
load mixed -scenario mixed
load "me during login flood" -scenario me -during login -during-c "$FLOOD_C"
stop_authd

step "authd with RS256 keys, per-client limits on (production defaults)"
start_authd RS256 on
load "login, one address, limits on" -scenario login
load "me during login flood, limits on, -xff" -scenario me -during login -during-c "$FLOOD_C" -xff
stop_authd

step "authd with ES256 keys, per-client limits off"
start_authd ES256 off
load "refresh (ES256)" -scenario refresh
stop_authd
log_lines=$(wc -l <"$work/authd.log")
log_summary=$( (grep -o '"level":"[A-Z]*","msg":"[^"]*"' "$work/authd.log" || true) | sort | uniq -c | sort -rn | head -n 10)
log_errors=$( (grep '"level":"ERROR"' "$work/authd.log" || true) | (grep -o '"error":"[^"]*"' || true) | sort | uniq -c | sort -rn | head -n 5)

step "token micro-benchmarks"
commands+=("go test -run '^\$' -bench . -benchmem ./internal/token/")
tokbench=$(go test -run '^$' -bench . -benchmem ./internal/token/ 2>&1)
echo "$tokbench"

# --- report -----------------------------------------------------------------
step "writing $OUT"
wrk_flag=()
if [ -n "$wrk_rps" ]; then
	wrk_flag=(-wrk "me=$wrk_rps")
fi
table=$("$work/benchreport" "${wrk_flag[@]}" "$results")

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
pg_version=$("$bindir/postgres" --version)
commit=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
wrk_version="not installed"
if command -v wrk >/dev/null; then
	wrk_version=$( (wrk -v 2>&1 || true) | head -n 1)
fi

mkdir -p "$(dirname "$OUT")"
{
	cat <<EOF
# Benchmarks

Generated by \`bench/run.sh\` (\`make bench\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), authd at \`$commit\`.
Figures from another machine, or from a run with other settings, are not comparable: re-run
\`bench/run.sh\` to get your own.

## Machine

| | |
|---|---|
| CPU | $cpu_model |
| cores (nproc) | $(nproc) |
| memory | $mem |
| kernel | $(uname -sr) |
| Go | $(go version | awk '{print $3, $4}') |
| PostgreSQL | $pg_version |
| wrk | $wrk_version |

Load generator, authd and PostgreSQL all share these $(nproc) cores: every CPU second authload
spends (the *authload CPU* column) is one authd did not get. The figures are what one small
machine does, not authd's ceiling. *machine busy* is the CPU the whole machine used during each
measured window (\`/proc/stat\`); well above *authd CPU* + *authload CPU* + what PostgreSQL needs,
it means something else was running and the figures are low. Load average when the benchmark
started: $load_at_start.

## Settings

- authd built with \`go build -o bin/authd ./cmd/authd\`, listening on 127.0.0.1 only.
- \`BCRYPT_COST=$BCRYPT_COST\` (the production default); hashing limits at their defaults:
  \`HASH_CONCURRENCY\` = GOMAXPROCS ($(nproc) here), \`HASH_QUEUE=64\`, \`HASH_WAIT=2s\`; \`DB_MAX_CONNS=16\`.
- Keys from \`authd keygen\`: **RS256** (RSA 2048) for every run but one; **ES256** (ECDSA P-256)
  for *refresh (ES256)*, on a restarted authd with the same database.
- Per-client rate limits (\`IP_LOGIN_PER_MINUTE\`, \`IP_REGISTER_PER_MINUTE\`, \`IP_REFRESH_PER_MINUTE\`)
  are **off** for every run not marked *limits on*: all the load comes from one address, and with
  them on those runs would measure the limiter (30 logins a minute) rather than the service.
  The runs marked *limits on* use the production defaults, on an authd started with
  \`TRUSTED_PROXIES=127.0.0.1\`: *login, one address* is one client sending logins back to back;
  with *-xff* every virtual client (each seeded user in setup, each worker) sends its own
  \`X-Forwarded-For\` address from 198.18.0.0/15, so the flood is $FLOOD_C different clients.
- \`LOG_LEVEL=warn\`: at the default \`info\` authd writes one JSON line per request, and at these
  rates writing them would be a good part of what is measured; \`warn\` keeps only 5xx answers and
  problems: $log_lines lines over all the runs, by level and message:

  \`\`\`
$(sed 's/^/  /' <<<"$log_summary")
  \`\`\`

  The errors among them:

  \`\`\`
$(sed 's/^/  /' <<<"${log_errors:-   none}")
  \`\`\`

- \`COOKIE_SECURE=false\`: the benchmark talks plain http. authload reads \`Set-Cookie\` itself, but a
  client that keeps to the cookie rules (Go's cookiejar, for one) never sends a \`Secure\` cookie
  back over http, so with the production default the cookie-based refresh flow would not work for
  a real client of this URL. It only drops the cookie's \`Secure\` attribute; the work is the same.
- PostgreSQL $pg_version: a throwaway cluster, Unix socket only, \`fsync\` and
  \`synchronous_commit\` on (the defaults: every write commit waits for the disk, as in production),
  \`shared_buffers=128MB\`, \`max_connections=200\`.
- authload: a closed loop of \`-c\` workers, each sending its next request when the previous one
  answered, over keep-alive connections; ${WARMUP} of warm-up not counted, then ${DURATION} measured.
  Latency is over every answered request (any status), exact percentiles (nearest rank).
  $USERS users were registered once, untimed (\`-seed-only\`); each run logs in, untimed, the users
  it needs (\`-seeded\`).

What each run exercises:

- **health**: \`GET /healthz\`: the HTTP stack and middleware, no database.
- **me**: \`GET /api/users/me\` with a random user's Bearer token: one signature check and one
  PostgreSQL query (session joined to user).
- **refresh**: \`POST /api/auth/refresh\`: each worker owns one user's refresh-token chain and sends
  the token from the previous answer's \`Set-Cookie\`, so every request is a real rotation: a
  signature check, one \`UPDATE ... RETURNING\` (a commit, so a WAL flush) and two new signed tokens.
  A 403 would mean a broken chain (counted as an error, the worker logs in again).
- **login** / **register**: bcrypt at cost $BCRYPT_COST, at most $(nproc) at once; requests wait for a
  slot at most 2 s (64 may wait), then get 503 *server is busy*. These runs measure that limit.
- **mixed**: per request 80 % me, 10 % refresh (the worker's own chain), 5 % login, 4 % health,
  1 % register. In a closed loop a slow request holds its worker: the 6 % of requests that need
  bcrypt take most of the workers' time, so they bound the throughput of the whole blend.
- **me during login flood**: the *me* run while $FLOOD_C more workers send logins: what bcrypt
  does to everyone else. The flood's own figures are in the second table. With *limits on, -xff*
  the flood comes from $FLOOD_C addresses, each allowed a burst of 10 logins and then one every 2 s.

## Results

$table

## Commands

\`PORT\` and \`AUTHD_PID\` are the port and PID of the authd that \`bench/run.sh\` started.

\`\`\`sh
EOF
	printf '%s\n' "${commands[@]}"
	cat <<EOF
\`\`\`

## Token signing and verification

\`go test -run '^\$' -bench . -benchmem ./internal/token/\` (authd stopped):

\`\`\`
$tokbench
\`\`\`
EOF
	if [ -n "$wrk_out" ]; then
		cat <<EOF

## wrk

The same request as the *me* run, from a second, independent load generator (one user's token
rather than random ones):

\`\`\`
$wrk_out
\`\`\`
EOF
	fi
	cat <<EOF

## authload output

<details><summary>Everything authload printed, run by run</summary>

\`\`\`
$(cat "$raw")
\`\`\`

</details>
EOF
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT" >&2

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
#   BENCH_REPEAT    runs of each target scenario; the report shows the median (3)
#   BENCH_BASE      users and sessions bulk-loaded before any run, so that the database
#                   is not empty and new sessions land on pages with room, as in a
#                   service in use (10000)
#   BENCH_SCALE     users and sessions bulk-loaded for the scale runs; 0 skips them (1000000)
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
REPEAT=${BENCH_REPEAT:-3}
SCALE=${BENCH_SCALE:-1000000}
BASE=${BENCH_BASE:-10000}
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
(cd bench && go build -o ../bin/authload ./cmd/authload && go build -o "$work/benchreport" ./cmd/benchreport &&
	go build -o "$work/profsplit" ./cmd/profsplit && go build -o "$work/scaleseed" ./cmd/scaleseed)
mkdir -p "$work/prof"

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
for alg in RS256 ES256 EdDSA; do
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
	mport=$(free_port)
	url="http://127.0.0.1:$port"
	# Profiles come from the private metrics listener (PPROF=true); the
	# runs that are profiled say so.
	extra+=(METRICS_ADDR="127.0.0.1:$mport" PPROF=true)
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
	commands+=("# authd: $alg keys, per-client limits $limits: ${extra[*]/$mport/\$MPORT}")
}

# --- runs -------------------------------------------------------------------
results="$work/results.jsonl"
raw="$work/raw.txt"
commands=() # as shown in the report
profiles=() # LABEL|FILE|REQUESTS, for the CPU breakdown
wrk_flags=()
wrk_out=""
: >"$results"
: >"$raw"

# load LABEL ARGS...: one authload run with the common flags. With
# PROFILE=1 in its environment, authd's CPU is profiled over the
# measured window.
load() {
	local label=$1
	shift
	local common=(-c "$CONC" -d "$DURATION" -warmup "$WARMUP" -users "$USERS" -prefix "$PREFIX" -seeded)
	local prof=() file=""
	if [ "${PROFILE:-0}" = 1 ]; then
		file="$work/prof/$(tr -c 'a-zA-Z0-9\n' _ <<<"$label").pprof"
		prof=(-cpuprofile-url "http://127.0.0.1:$mport/debug/pprof/profile" -cpuprofile "$file")
	fi
	commands+=("bin/authload -url http://127.0.0.1:\$PORT -pid \$AUTHD_PID ${common[*]} -json -label '$label' $*${file:+ -cpuprofile-url http://127.0.0.1:\$MPORT/debug/pprof/profile -cpuprofile $(basename "$file")}")
	step "$label"
	bin/authload -url "$url" -pid "$authd_pid" "${common[@]}" -json -label "$label" "${prof[@]}" "$@" | tee "$work/out.txt"
	grep '^{' "$work/out.txt" >>"$results"
	grep -v '^{' "$work/out.txt" >>"$raw"
	echo >>"$raw"
	if [ -n "$file" ] && [ -s "$file" ]; then
		profiles+=("$label|$file|$(grep '^{' "$work/out.txt" | grep -o '"requests":[0-9]*' | head -n 1 | cut -d: -f2)")
	fi
}

# repeat LABEL ARGS...: BENCH_REPEAT runs of load; the last is profiled.
repeat() {
	local i
	for i in $(seq "$REPEAT"); do
		PROFILE=$([ "$i" = "$REPEAT" ] && echo 1 || echo 0) load "$@"
	done
}

# wrk_me: wrk against /api/users/me with one user's token.
wrk_me() {
	command -v wrk >/dev/null || return 0
	local token out
	token=$(curl -fsS -X POST "$url/api/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"${PREFIX}0@example.com\",\"password\":\"benchmark-password-1\"}" |
		sed -E 's/.*"access_token":"([^"]+)".*/\1/')
	step "wrk against /api/users/me"
	out=$(wrk -t2 -c"$CONC" -d"$DURATION" --latency -H "Authorization: Bearer $token" "$url/api/users/me")
	echo "$out"
	wrk_flags+=(-wrk "me=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")")
	wrk_out+="$out"$'\n\n'
}

# measure_startup: restarts authd five times (schema migrated) and takes
# the median time from starting the process to /readyz answering 200.
startup_ms=""
measure_startup() {
	local alg=$1 keys times=() t0 t1 i
	mapfile -t keys <"$work/keys-$alg.env"
	for i in 1 2 3 4 5; do
		stop_authd
		port=$(free_port)
		t0=$(date +%s%N)
		(cd "$work" && exec env -i PATH="$PATH" "${keys[@]}" DATABASE_URL="$database_url" LISTEN_HOST=127.0.0.1 \
			PORT="$port" BCRYPT_COST="$BCRYPT_COST" LOG_LEVEL=warn "$root/bin/authd" serve) >>"$work/authd.log" 2>&1 &
		authd_pid=$!
		until curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
			kill -0 "$authd_pid" 2>/dev/null || { echo "bench: authd exited during the start-up check" >&2; exit 1; }
			sleep 0.002
		done
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000000)))
	done
	stop_authd
	startup_ms=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
	echo "start-up to ready: ${times[*]} ms; median $startup_ms ms" >&2
	commands+=("# start-up: five restarts of authd serve, ms from exec to /readyz 200: ${times[*]}")
}

step "authd with RS256 keys, per-client limits off"
start_authd RS256 off

if [ "$BASE" -gt 0 ]; then
	step "bulk-loading $BASE users and $BASE sessions (the database of a service in use)"
	commands+=("scaleseed -database-url \$DATABASE_URL -prefix base -users $BASE -sessions $BASE")
	"$work/scaleseed" -database-url "$database_url" -prefix base -users "$BASE" -sessions "$BASE"
fi

step "seeding $USERS users (not timed)"
commands+=("bin/authload -url http://127.0.0.1:\$PORT -seed-only -prefix $PREFIX -users $USERS -c $CONC")
bin/authload -url "$url" -seed-only -prefix "$PREFIX" -users "$USERS" -c "$CONC"

load health -scenario health
for i in $(seq "$REPEAT"); do
	PROFILE=$([ "$i" = "$REPEAT" ] && echo 1 || echo 0) load me -scenario me
	wrk_me
done
commands+=("wrk -t2 -c$CONC -d$DURATION --latency -H 'Authorization: Bearer <token>' http://127.0.0.1:\$PORT/api/users/me   # after each me run")
repeat refresh -scenario refresh
repeat login -scenario login
load register -scenario register
PROFILE=1 load mixed -scenario mixed
repeat "me during login flood" -scenario me -during login -during-c "$FLOOD_C"
stop_authd

step "start-up time (schema already migrated)"
measure_startup RS256

step "authd with RS256 keys, per-client limits on (production defaults)"
start_authd RS256 on
load "login, one address, limits on" -scenario login
load "me during login flood, limits on, -xff" -scenario me -during login -during-c "$FLOOD_C" -xff
stop_authd

for alg in ES256 EdDSA; do
	step "authd with $alg keys, per-client limits off"
	start_authd "$alg" off
	repeat "refresh ($alg)" -scenario refresh
	stop_authd
done

explain_out=""
if [ "$SCALE" -gt 0 ]; then
	step "bulk-loading $SCALE users and $SCALE sessions (COPY)"
	commands+=("scaleseed -database-url \$DATABASE_URL -users $SCALE -sessions $SCALE")
	"$work/scaleseed" -database-url "$database_url" -users "$SCALE" -sessions "$SCALE" 2>&1 | tee "$work/scaleseed.txt"
	start_authd RS256 off
	repeat "me (1M)" -scenario me
	repeat "refresh (1M)" -scenario refresh
	repeat "login (1M)" -scenario login
	stop_authd
	start_authd EdDSA off
	repeat "refresh (EdDSA) (1M)" -scenario refresh
	stop_authd
	commands+=("scaleseed -database-url \$DATABASE_URL -explain")
	explain_out=$("$work/scaleseed" -database-url "$database_url" -explain 2>"$work/verdicts.txt")
	cat "$work/verdicts.txt" >&2
fi
log_lines=$(wc -l <"$work/authd.log")
log_summary=$( (grep -o '"level":"[A-Z]*","msg":"[^"]*"' "$work/authd.log" || true) | sort | uniq -c | sort -rn | head -n 10)
log_errors=$( (grep '"level":"ERROR"' "$work/authd.log" || true) | (grep -o '"error":"[^"]*"' || true) | sort | uniq -c | sort -rn | head -n 5)

step "token and bcrypt micro-benchmarks"
commands+=("go test -run '^\$' -bench . -benchmem -count 3 ./internal/token/")
tokbench=$(go test -run '^$' -bench . -benchmem -count 3 ./internal/token/ 2>&1)
echo "$tokbench"
commands+=("go test -run '^\$' -bench 'Compare/cost=$BCRYPT_COST\$' -benchtime 8x -count 3 ./internal/password/")
pwbench=$(go test -run '^$' -bench "Compare/cost=$BCRYPT_COST\$" -benchtime 8x -count 3 ./internal/password/ 2>&1)
echo "$pwbench"

# median_ns NAME OUTPUT: the median ns/op of the benchmark lines NAME-N.
median_ns() {
	awk -v name="$1" '$1 ~ "^"name"-[0-9]+$" {print $3}' <<<"$2" | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'
}
rsa_sign_us=$(awk '{printf "%.1f", $1/1000}' <<<"$(median_ns 'BenchmarkSign/RS256' "$tokbench")")
rsa_parallel_us=$(awk '{printf "%.1f", $1/1000}' <<<"$(median_ns 'BenchmarkSignParallel/RS256' "$tokbench")")
bcrypt_ms=$(awk '{printf "%.1f", $1/1000000}' <<<"$(median_ns "BenchmarkCompare/cost=$BCRYPT_COST" "$pwbench")")

step "CPU profiles: where the time goes"
breakdown=""
for p in "${profiles[@]}"; do
	IFS='|' read -r label file requests <<<"$p"
	breakdown+=$("$work/profsplit" -requests "${requests:-0}" -label "$label" "$file")$'\n\n'
done
echo "$breakdown"

# --- report -----------------------------------------------------------------
step "writing $OUT"
table=$("$work/benchreport" "${wrk_flags[@]}" -cores "$(nproc)" -rsa-sign-us "$rsa_sign_us" \
	-rsa-parallel-us "$rsa_parallel_us" -bcrypt-ms "$bcrypt_ms" -startup-ms "$startup_ms" "$results")

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
\`bench/run.sh\` to get your own. [performance.md](performance.md) explains the figures: where the
time goes per request, what was changed to get here, and what bounds each target.

Runs marked *(median of N runs)* were repeated $REPEAT times; the table shows the run with the
median throughput and the range over all of them. The machine is shared: the same run varies by
about ±15 % from one minute to the next, so compare figures measured in this run with each other.

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
  \`HASH_CONCURRENCY\` = GOMAXPROCS ($(nproc) here), \`HASH_QUEUE=64\`, \`HASH_WAIT=2s\`,
  \`HASH_NICE=10\`; \`DB_MAX_CONNS=16\`.
- Keys from \`authd keygen\`: **RS256** (RSA 2048) for every run but two; **ES256** (ECDSA P-256)
  and **EdDSA** (Ed25519) for *refresh (ES256)* and *refresh (EdDSA)*, on a restarted authd with
  the same database.
- \`METRICS_ADDR=127.0.0.1:\$MPORT PPROF=true\`: the last run of each repeated scenario (and
  *mixed*) is profiled over its measured window (\`authload -cpuprofile\`); sampling costs about
  1 % of a core.
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
  Before any run, \`scaleseed\` bulk-loaded $BASE users and $BASE sessions (prefix \`base\`), so
  that the database is that of a service in use: with an empty one, the sessions each run logs in
  all land on the same one or two heap pages and every refresh waits for the others' page lock.
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

## Where the time goes

authd's CPU over the measured window of each profiled run, split by component with
\`bench/cmd/profsplit\`: every sample goes to the innermost frame it recognises (a \`write\`
system call under pgx is *database*, under net/http *HTTP server*; memory allocation goes to the
code that allocated). *µs per request* is the component's CPU divided by the requests answered in
the window. PostgreSQL's own CPU and authload's are not in these tables (see *machine busy* above).

$breakdown
EOF
	if [ -n "$explain_out" ]; then
		cat <<EOF
## Scale: 1,000,000 users and 1,000,000 sessions

After the runs above, \`scaleseed\` bulk-loaded $SCALE users and $SCALE sessions with COPY into
the same database (a realistic mix: most sessions active, some idled out, a few revoked), then ran
\`VACUUM ANALYZE\`; the *(1M)* runs repeat *me*, *refresh* and *login* on it, and the Scale
table above compares them with the small-database runs of this same benchmark.

\`\`\`
$(cat "$work/scaleseed.txt")
\`\`\`

Plans of the queries authd runs per request, on that database (\`scaleseed -explain\`: the SQL
sqlc generated, run under \`EXPLAIN (ANALYZE, BUFFERS)\` in a transaction that is rolled back):

\`\`\`
$(cat "$work/verdicts.txt")
\`\`\`

<details><summary>The plans</summary>

$explain_out

</details>

EOF
	fi
	cat <<EOF
## Commands

\`PORT\` and \`AUTHD_PID\` are the port and PID of the authd that \`bench/run.sh\` started.

\`\`\`sh
EOF
	printf '%s\n' "${commands[@]}"
	cat <<EOF
\`\`\`

## Token signing and verification, bcrypt

\`go test -run '^\$' -bench . -benchmem -count 3 ./internal/token/\` (authd stopped). *SignParallel*
signs on every core at once: its ns/op is wall time per signature with both busy.

\`\`\`
$tokbench
\`\`\`

\`go test -run '^\$' -bench 'Compare/cost=$BCRYPT_COST\$' -benchtime 8x -count 3 ./internal/password/\`:

\`\`\`
$pwbench
\`\`\`
EOF
	if [ -n "$wrk_out" ]; then
		cat <<EOF

## wrk

The same request as the *me* run, from a second, independent load generator (one user's token
rather than random ones), right after each *me* run:

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

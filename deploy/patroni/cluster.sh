#!/usr/bin/env bash
# Two PostgreSQL nodes with streaming replication, managed by Patroni with
# etcd, all on this machine's loopback: the failover recipe of
# docs/operations.md ("Failover"), for trying it out. Debian:
#   apt-get install -y patroni etcd-server
#
#   deploy/patroni/cluster.sh start    start etcd and both nodes, create the database,
#                                       print the DATABASE_URL for authd
#   deploy/patroni/cluster.sh status   the members, their roles and lag (patronictl list)
#   deploy/patroni/cluster.sh url      print the DATABASE_URL again
#   deploy/patroni/cluster.sh stop     stop everything (the data stays in the directory)
#
# Settings (environment): PATRONI_DIR (default .patroni in the current
# directory), PATRONI_PORT (default 25432: node1's PostgreSQL; node2's is
# one more, the REST APIs are 28008 and 28009 more, etcd 2379 and 2380 more
# than PATRONI_PORT - 25432), PG_BIN (default /usr/lib/postgresql/15/bin),
# AUTHD_DB (default authd).
# As root, PostgreSQL, Patroni and etcd run as the postgres user.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${PATRONI_DIR:-$PWD/.patroni}
base=${PATRONI_PORT:-25432}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
db=${AUTHD_DB:-authd}
off=$((base - 25432))
etcd_port=$((2379 + off)) etcd_peer=$((2380 + off))
pg_port=("" "$base" "$((base + 1))")
rest_port=("" "$((8008 + off))" "$((8009 + off))")

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# spawn PIDFILE LOG COMMAND...: runs COMMAND in a session of its own (as
# postgres when root), detached from this shell; PIDFILE gets its process id.
spawn() {
	local pidfile=$1 log=$2
	shift 2
	rm -f "$pidfile"
	as_pg setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >"$log" 2>&1 </dev/null &
	wait_for 5 "$pidfile" test -s "$pidfile"
}

die() { echo "cluster.sh: $*" >&2; exit 1; }

url() {
	echo "postgres://postgres@127.0.0.1:${pg_port[1]},127.0.0.1:${pg_port[2]}/$db?target_session_attrs=read-write&sslmode=disable&connect_timeout=2"
}

# running PIDFILE: the process of PIDFILE is alive.
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# rest N PATH: the HTTP status of node N's Patroni REST API at PATH (000: no answer).
rest() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${rest_port[$1]}$2" || true; }

wait_for() { # wait_for SECONDS WHAT COMMAND...
	local limit=$1 what=$2 i
	shift 2
	for ((i = 0; i < limit * 5; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	die "no $what after ${limit}s; logs in $dir"
}

leader() { # prints the number of the node that is primary
	local n
	for n in 1 2; do [ "$(rest "$n" /primary)" = 200 ] && { echo "$n"; return 0; }; done
	return 1
}
has_leader() { leader >/dev/null; }
has_sync() { [ "$(rest 1 /synchronous)" = 200 ] || [ "$(rest 2 /synchronous)" = 200 ]; }

start() {
	command -v patroni >/dev/null || die "patroni is not installed (apt-get install -y patroni etcd-server)"
	command -v etcd >/dev/null || die "etcd is not installed (apt-get install -y etcd-server)"
	[ -x "$pg_bin/postgres" ] || die "no PostgreSQL server in $pg_bin (set PG_BIN)"
	mkdir -p "$dir/etcd"
	chmod 700 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir" "$dir/etcd"

	if ! running "$dir/etcd.pid"; then
		spawn "$dir/etcd.pid" "$dir/etcd/etcd.log" etcd --name authd-etcd --data-dir "$dir/etcd/data" \
			--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
			--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
			--initial-cluster "authd-etcd=http://127.0.0.1:$etcd_peer"
	fi
	wait_for 30 "etcd" curl -fs "http://127.0.0.1:$etcd_port/health" -o /dev/null

	local n
	for n in 1 2; do
		mkdir -p "$dir/node$n"
		[ "$(id -u)" = 0 ] && chown postgres: "$dir/node$n"
		chmod 700 "$dir/node$n"
		sed -e "s|@NAME@|node$n|g" -e "s|@REST_PORT@|${rest_port[$n]}|g" -e "s|@ETCD_PORT@|$etcd_port|g" \
			-e "s|@PG_PORT@|${pg_port[$n]}|g" -e "s|@DIR@|$dir/node$n|g" -e "s|@BIN_DIR@|$pg_bin|g" \
			"$here/node.yml.in" >"$dir/node$n/patroni.yml"
		if ! running "$dir/node$n.pid"; then
			spawn "$dir/node$n.pid" "$dir/node$n/patroni.log" patroni "$dir/node$n/patroni.yml"
		fi
	done
	wait_for 90 "leader" has_leader
	local l
	l=$(leader)
	as_pg "$pg_bin/psql" -X -q -h 127.0.0.1 -p "${pg_port[$l]}" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "SELECT 1 FROM pg_database WHERE datname = '$db'" -t | grep -q 1 ||
		as_pg "$pg_bin/psql" -X -q -h 127.0.0.1 -p "${pg_port[$l]}" -U postgres -d postgres -c "CREATE DATABASE \"$db\""
	wait_for 90 "synchronous standby" has_sync
	echo "leader: node$l; both nodes up, the other one is the synchronous standby"
	echo "DATABASE_URL=$(url)"
}

stop() {
	local n f
	for n in 1 2; do
		f="$dir/node$n.pid"
		# SIGTERM: Patroni stops its PostgreSQL and exits.
		running "$f" && kill -TERM "$(cat "$f")"
	done
	for n in 1 2; do
		f="$dir/node$n.pid"
		for _ in $(seq 150); do running "$f" || break; sleep 0.2; done
		running "$f" && { echo "node$n: Patroni still running; killing it" >&2; kill -KILL "$(cat "$f")"; }
		# A PostgreSQL whose Patroni was killed keeps running: stop it too.
		if [ -f "$dir/node$n/data/postmaster.pid" ]; then
			as_pg "$pg_bin/pg_ctl" stop -D "$dir/node$n/data" -m fast >/dev/null 2>&1 || true
		fi
		rm -f "$f"
	done
	f="$dir/etcd.pid"
	if running "$f"; then
		kill -TERM "$(cat "$f")"
		for _ in $(seq 50); do running "$f" || break; sleep 0.2; done
	fi
	rm -f "$f"
	echo "stopped; the data is in $dir (remove it to start afresh)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url) url ;;
status) PATRONI_CONFIGURATION= patronictl -c "$dir/node1/patroni.yml" list ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

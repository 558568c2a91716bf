#!/usr/bin/env bash
# Starts authd for local development on http://localhost:8000 (make run).
# Without DATABASE_URL it creates (once) and starts a PostgreSQL cluster in
# .dev/pg, and generates development keys (once) in .dev/keys.env.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg.sh

root=$(pwd)
dev="$root/.dev"
mkdir -p "$dev"

if [ -z "${DATABASE_URL:-}" ]; then
	bindir=$(pg_bindir) || {
		echo "PostgreSQL server binaries not found: install them (apt-get install postgresql) or set DATABASE_URL" >&2
		exit 1
	}
	pgdir="$dev/pg"
	sock="$pgdir"
	# A Unix socket path must stay under 107 bytes.
	if [ ${#sock} -gt 80 ]; then
		sock="/tmp/authd-dev-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
	fi
	mkdir -p "$pgdir" "$sock"
	owner=$(pg_owner)
	if [ "$(id -u)" = 0 ]; then
		chown "$owner" "$pgdir" "$sock"
		if ! as_pg test -x "$pgdir"; then
			echo "the $owner user cannot reach $pgdir; set DATABASE_URL instead" >&2
			exit 1
		fi
	fi
	if [ ! -f "$pgdir/data/PG_VERSION" ]; then
		echo "creating a PostgreSQL cluster in $pgdir/data"
		as_pg "$bindir/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --no-locale >"$pgdir/initdb.log" 2>&1 || {
			cat "$pgdir/initdb.log" >&2
			exit 1
		}
	fi
	if ! as_pg "$bindir/pg_ctl" -D "$pgdir/data" status >/dev/null 2>&1; then
		echo "starting PostgreSQL (socket in $sock, log in $pgdir/postgres.log)"
		as_pg "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 60 \
			-o "-k $sock -c listen_addresses=''" start >/dev/null
	fi
	if ! as_pg "$bindir/psql" -h "$sock" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'authd'" | grep -q 1; then
		as_pg "$bindir/createdb" -h "$sock" -U postgres authd
	fi
	export DATABASE_URL="postgres://postgres@/authd?host=$sock&sslmode=disable"
	echo "database: $DATABASE_URL (stop it with: make db-stop)"
fi

mkdir -p bin
go build -o bin/authd ./cmd/authd

if [ -z "${ACCESS_TOKEN_PRIVATE_KEY:-}" ]; then
	if [ ! -s "$dev/keys.env" ]; then
		echo "generating development keys in .dev/keys.env"
		(umask 077 && bin/authd keygen -alg "${KEY_ALG:-RS256}" >"$dev/keys.env.tmp" && mv "$dev/keys.env.tmp" "$dev/keys.env")
	fi
	set -a
	. "$dev/keys.env"
	set +a
fi

# Development settings; anything already in the environment wins.
export PORT="${PORT:-8000}"
export COOKIE_SECURE="${COOKIE_SECURE:-false}"
export LOG_FORMAT="${LOG_FORMAT:-text}"
export CLIENT_ORIGIN="${CLIENT_ORIGIN:-http://localhost:3000}"

echo "authd on http://localhost:$PORT (Ctrl-C stops it)"
exec bin/authd serve "$@"

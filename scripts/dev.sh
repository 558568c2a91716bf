#!/usr/bin/env bash
# Starts authd for local development on http://localhost:8000 (make run).
# Without DATABASE_URL it creates (once) and starts a PostgreSQL cluster in
# .dev/pg (scripts/devdb), and generates development keys (once) in .dev/keys.env.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p bin .dev
if [ -z "${DATABASE_URL:-}" ]; then
	go build -o bin/devdb ./scripts/devdb
	DATABASE_URL=$(bin/devdb start)
	export DATABASE_URL
fi

go build -o bin/authd ./cmd/authd

if [ -z "${ACCESS_TOKEN_PRIVATE_KEY:-}" ]; then
	if [ ! -s .dev/keys.env ]; then
		echo "generating development keys in .dev/keys.env"
		(umask 077 && bin/authd keygen -alg "${KEY_ALG:-RS256}" >.dev/keys.env.tmp && mv .dev/keys.env.tmp .dev/keys.env)
	fi
	set -a
	. .dev/keys.env
	set +a
fi

# Development settings; anything already in the environment wins.
export PORT="${PORT:-8000}"
export COOKIE_SECURE="${COOKIE_SECURE:-false}"
export LOG_FORMAT="${LOG_FORMAT:-text}"
export CLIENT_ORIGIN="${CLIENT_ORIGIN:-http://localhost:3000}"

echo "authd on http://localhost:$PORT (Ctrl-C stops it)"
exec bin/authd serve "$@"

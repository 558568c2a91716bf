#!/usr/bin/env bash
# Starts authd for local development on http://localhost:8000 (make run).
# Without DATABASE_URL it creates (once) and starts a PostgreSQL cluster in
# .dev/pg (scripts/devdb), and generates development keys (once) in .dev/keys.env
# and an MFA encryption key (once) in .dev/mfa.env.
# Without MAIL_TRANSPORT it catches mail with Mailpit (PATH or .dev/bin; make
# mailpit installs it) on 127.0.0.1, reusing one already running and stopping
# the one it started when authd stops; without Mailpit, mails go to the log.
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

# A development MFA encryption key (once), unless one is given.
if [ -z "${MFA_ENCRYPTION_KEYS:-}" ]; then
	if [ ! -s .dev/mfa.env ]; then
		echo "generating a development MFA encryption key in .dev/mfa.env"
		(umask 077 && bin/authd keygen -mfa >.dev/mfa.env.tmp && mv .dev/mfa.env.tmp .dev/mfa.env)
	fi
	set -a
	. .dev/mfa.env
	set +a
fi

# Development settings; anything already in the environment wins.
export PORT="${PORT:-8000}"
export COOKIE_SECURE="${COOKIE_SECURE:-false}"
export LOG_FORMAT="${LOG_FORMAT:-text}"
export CLIENT_ORIGIN="${CLIENT_ORIGIN:-http://localhost:3000}"

# Mail: Mailpit if there is one, else the log (development only).
MAILPIT_SMTP_PORT="${MAILPIT_SMTP_PORT:-1025}"
MAILPIT_UI_PORT="${MAILPIT_UI_PORT:-8025}"
mailpit_pid=""
stop_mailpit() {
	if [ -n "$mailpit_pid" ]; then
		kill "$mailpit_pid" 2>/dev/null || true
		wait "$mailpit_pid" 2>/dev/null || true
	fi
}
trap stop_mailpit EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
mailpit_answers() { curl -fsS -m 1 "http://127.0.0.1:$MAILPIT_UI_PORT/api/v1/info" >/dev/null 2>&1; }
if [ -z "${MAIL_TRANSPORT:-}" ]; then
	mailpit_bin="$(command -v mailpit || true)"
	if [ -z "$mailpit_bin" ] && [ -x .dev/bin/mailpit ]; then
		mailpit_bin=.dev/bin/mailpit
	fi
	mailpit=""
	if mailpit_answers && port_open "$MAILPIT_SMTP_PORT"; then
		mailpit="reused"
	elif [ -n "$mailpit_bin" ]; then
		"$mailpit_bin" --smtp "127.0.0.1:$MAILPIT_SMTP_PORT" --listen "127.0.0.1:$MAILPIT_UI_PORT" \
			--disable-version-check >.dev/mailpit.log 2>&1 &
		mailpit_pid=$!
		for _ in $(seq 100); do
			if port_open "$MAILPIT_SMTP_PORT" && port_open "$MAILPIT_UI_PORT"; then
				mailpit="started"
				break
			fi
			if ! kill -0 "$mailpit_pid" 2>/dev/null; then
				break
			fi
			sleep 0.1
		done
		if [ -z "$mailpit" ]; then
			echo "mailpit did not start (see .dev/mailpit.log); mails go to the log" >&2
			stop_mailpit
			mailpit_pid=""
		fi
	fi
	if [ -n "$mailpit" ]; then
		export MAIL_TRANSPORT=smtp
		export SMTP_HOST="${SMTP_HOST:-127.0.0.1}"
		export SMTP_PORT="${SMTP_PORT:-$MAILPIT_SMTP_PORT}"
		export SMTP_TLS="${SMTP_TLS:-none}"
		echo "mail: Mailpit ($mailpit), inbox at http://127.0.0.1:$MAILPIT_UI_PORT"
	else
		export MAIL_TRANSPORT=log
		echo "mail: written to the log (development only; make mailpit installs Mailpit for a web inbox)"
	fi
fi
export EMAIL_FROM="${EMAIL_FROM:-authd@localhost}"

echo "authd on http://localhost:$PORT (Ctrl-C stops it)"
bin/authd serve "$@" &
authd_pid=$!
# Ctrl-C reaches authd by itself (same process group); pass on TERM and HUP.
trap 'kill -TERM "$authd_pid" 2>/dev/null || true' TERM HUP
trap 'true' INT
status=0
wait "$authd_pid" || status=$?
while kill -0 "$authd_pid" 2>/dev/null; do # wait returns early when a trapped signal arrives
	status=0
	wait "$authd_pid" || status=$?
done
exit "$status"

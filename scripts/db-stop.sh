#!/usr/bin/env bash
# Stops the development PostgreSQL cluster started by make run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg.sh
[ -f .dev/pg/data/PG_VERSION ] || { echo "no development cluster"; exit 0; }
bindir=$(pg_bindir)
as_pg "$bindir/pg_ctl" -D .dev/pg/data -m fast stop || true

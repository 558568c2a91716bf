#!/usr/bin/env bash
# The old name of make bench: bench/cmd/benchrun does the work (settings in
# bench/README.md, BENCH_* in the environment).
set -euo pipefail
cd "$(dirname "$0")/.."
exec make bench

#!/usr/bin/env bash
# faults.sh: the reliability suite's fault-injection part (tests/src/chaos): processes
# killed and replaced, a tenant server restarted and flooded, the control database's
# LISTEN connections cut, all under load; then the invariants are checked.
#
#   bash scripts/lib/reliability/faults.sh short   the system test (seed 1, six rounds: each
#                                                  fault once), as scripts/test runs it
#   bash scripts/lib/reliability/faults.sh long    the `chaos` binary (debug build): seeds
#                                                  CHAOS_SEED.. (1), CHAOS_SEEDS of them (5),
#                                                  CHAOS_ROUNDS rounds each (12)
#
# Logs go to stderr; the table row (| Faults | ... |) to stdout. Exits non-zero when an
# invariant broke (the log names the seed that broke it, to replay).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
LOG_PREFIX="reliability/faults"
# shellcheck source=scripts/lib/common.sh
. "$ROOT/scripts/lib/common.sh"
cd "$ROOT"

mode=${1:-short}
output=$(mktemp)
trap 'rm -f "$output"' EXIT
status=0
case $mode in
short)
	log "system test chaos:: (seed ${CHAOS_SEED:-1}, ${CHAOS_ROUNDS:-6} rounds)"
	cargo test --workspace --test system -- chaos:: --nocapture 2>&1 | tee "$output" >&2 ||
		status=$?
	;;
long)
	seed=${CHAOS_SEED:-1} seeds=${CHAOS_SEEDS:-5} rounds=${CHAOS_ROUNDS:-12}
	log "chaos binary (debug build): seeds $seed.. ($seeds), $rounds rounds each"
	# Workspace-wide, as every build here is (a `-p` build re-resolves features).
	cargo build --workspace --bins
	"${CARGO_TARGET_DIR:-target}/debug/chaos" --seed "$seed" --seeds "$seeds" \
		--rounds "$rounds" 2>&1 | tee "$output" >&2 || status=$?
	;;
*) die "usage: faults.sh short|long" ;;
esac
rows=$(grep '^| Faults |' "$output" || true)
if [[ -z $rows ]]; then
	echo "| Faults | the chaos run did not finish (see the log) | - | ❌ |"
	exit 1
fi
echo "$rows"
exit "$status"

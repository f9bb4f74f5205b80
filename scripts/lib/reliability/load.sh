#!/usr/bin/env bash
# The load part of the reliability suite: the tenant runtime, in its own process, at twice
# its capacity measured in the same run, across many tenants of which 5 % are noisy
# (tests/src/overload.rs). Prints its README table row on stdout; exits non-zero when a
# behavioural fact broke (a 429 without Retry-After, a 5xx, a noisy tenant not readmitted).
#
#   bash scripts/lib/reliability/load.sh short   the system test load:: (20 tenants, seconds)
#   bash scripts/lib/reliability/load.sh long    1,000 tenants, 10 min soak, release build
#
# Long mode's size and build: LOAD_TENANTS (1000), LOAD_SOAK_SECS (600), LOAD_PHASE_SECS
# (20), LOAD_PROFILE (release; `debug` skips the ~17 min release build of the tests crate,
# and the row says so).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
LOG_PREFIX="reliability/load"
# shellcheck source=scripts/lib/common.sh
. "$ROOT/scripts/lib/common.sh"
cd "$ROOT"

mode=${1:-short}
output=$(mktemp)
trap 'rm -f "$output"' EXIT

status=0
case $mode in
short)
	log "system test load:: (20 tenants, a few seconds per phase)"
	cargo test --workspace --test system -- load:: --nocapture >"$output" 2> >(cat >&2) || status=$?
	;;
long)
	tenants=${LOAD_TENANTS:-1000}
	soak=${LOAD_SOAK_SECS:-600}
	phase=${LOAD_PHASE_SECS:-20}
	profile=${LOAD_PROFILE:-release}
	build=(cargo build --workspace --bins)
	out_dir=debug
	if [[ $profile == release ]]; then
		build+=(--release)
		out_dir=release
	fi
	# Workspace-wide, as every build here is (a `-p` build re-resolves features).
	log "building the benchmark: ${build[*]}"
	"${build[@]}"
	log "overload $tenants tenants, ${soak} s soak, ${phase} s phases ($profile build)"
	"${CARGO_TARGET_DIR:-target}/$out_dir/overload" "$tenants" "$soak" "$phase" >"$output" || status=$?
	;;
*) die "usage: load.sh short|long" ;;
esac

cat "$output" >&2
rows=$(grep '^| Load |' "$output" || true)
if [[ -z $rows ]]; then
	echo "| Load | $mode run | no figures: the run failed before its report (see the log) | ❌ |"
	exit 1
fi
echo "$rows"
exit "$status"

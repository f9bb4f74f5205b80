#!/usr/bin/env bash
# The load part of the reliability suite: the tenant runtime, in its own process, at twice
# its capacity measured in the same run, across many tenants of which 5 % are noisy
# (tests/src/overload.rs). Prints its README table row on stdout; exits non-zero when a
# behavioural fact broke (a 429 without Retry-After, a 5xx, a noisy tenant not readmitted).
#
#   bash scripts/lib/reliability/load.sh short   the system test load:: (20 tenants, seconds)
#   bash scripts/lib/reliability/load.sh long    1,000 tenants, 10 min soak, release build
#
# Long mode runs against two private servers (scripts/pg-cluster; the primary one is
# stopped at the end). Its size and build: LOAD_TENANTS (1000), LOAD_SOAK_SECS (600), LOAD_PHASE_SECS
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
	# A private primary server (the second one always is): the local server's connection
	# slots are shared with whatever else runs on the machine, and a neighbour filling
	# them would show up here as 503s that say nothing about the runtime.
	cluster="${TEST_PG_DIR:-${TMPDIR:-/tmp}/erp-test-pg-${USER:-$(id -un)}}/load-primary"
	TEST_DATABASE_URL=$(PG_FSYNC=off PG_SYNCHRONOUS_COMMIT=off PG_FULL_PAGE_WRITES=off scripts/pg-cluster start "$cluster")
	export TEST_DATABASE_URL
	trap 'rm -f "$output"; scripts/pg-cluster stop "$cluster" >&2 || true' EXIT
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

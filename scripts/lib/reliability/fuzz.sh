#!/usr/bin/env bash
# scripts/lib/reliability/fuzz.sh short|long: the reliability suite's fuzzing part.
#
#   short  the stable harness (`cargo test --workspace --lib -- fuzzing::harness`): each
#          parser's property over its committed corpus (fuzz/corpus/<target>/) and seeded
#          random and mutated inputs; one row per target. What CI runs (scripts/test runs
#          the same tests inside `cargo test --workspace`).
#   long   each cargo-fuzz target (fuzz/fuzz_targets/) for FUZZ_SECONDS (default 120),
#          coverage-guided under AddressSanitizer on nightly (cargo-fuzz is installed when
#          missing); without nightly, the stable harness with FUZZ_LONG_ITERATIONS
#          (default 200000) inputs per target, and the row says so. Then schemathesis'
#          stateful phase against both APIs (scripts/schemathesis, stateful only, with
#          SCHEMATHESIS_MAX_EXAMPLES default 50). FUZZ_TARGET_DIR (default fuzz/target) is
#          where the nightly build goes.
#
# Rows on stdout (| Part | What was tried | Figure | Result |), logs on stderr; exits
# non-zero when a property broke (a crashing input is kept under fuzz/artifacts/<target>/:
# add it to fuzz/corpus/<target>/ as crash-<name> with the fix).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
LOG_PREFIX="reliability/fuzz"
# shellcheck source=scripts/lib/common.sh
. "$ROOT/scripts/lib/common.sh"
cd "$ROOT"

MODE=${1:-short}
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
FUZZ_LONG_ITERATIONS=${FUZZ_LONG_ITERATIONS:-200000}
# The nightly, sanitized build apart from the stable one.
FUZZ_TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}
TARGETS=(slug email tenant_resolution csv_import stripe_signature)
PASS="✅ pass"
FAIL="❌ FAIL"

# row WHAT FIGURE RESULT
row() { printf '| Fuzzing | %s | %s | %s |\n' "$1" "$2" "$3"; }

# harness ITERATIONS LABEL: the stable harness, one row per target from its summary lines
# ("fuzz target NAME: N inputs (...), seed S, 0 crashes").
harness() {
	local iterations=$1 label=$2 log status=0 target line
	log=$(mktemp)
	log "stable harness, $iterations generated inputs per target"
	# One thread: the summary lines stay whole.
	FUZZ_ITERATIONS=$iterations cargo test --workspace --lib --quiet -- fuzzing::harness \
		--nocapture --test-threads=1 >"$log" 2>&1 || status=$?
	for target in "${TARGETS[@]}"; do
		line=$(grep -o "fuzz target $target: .*" "$log" || true)
		if [[ -n $line ]]; then
			row "$target: $label, seed $(sed -E 's/.*seed ([0-9]+).*/\1/' <<<"$line")" \
				"$(sed -E 's/.*: ([0-9]+) inputs.*/\1/' <<<"$line") inputs, 0 crashes" "$PASS"
		else
			row "$target: $label" "broke (see the log)" "$FAIL"
			status=1
		fi
	done
	if ((status != 0)); then
		grep -E "panicked|property broke|FAILED|error" "$log" | head -n 20 >&2 || true
	fi
	rm -f "$log"
	return "$status"
}

have_nightly() { rustup toolchain list 2>/dev/null | grep -q '^nightly'; }

ensure_cargo_fuzz() {
	if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
		log "installing cargo-fuzz"
		cargo install --locked cargo-fuzz >&2
	fi
}

# libfuzzer TARGET: runs it for FUZZ_SECONDS from its committed corpus (new inputs go to a
# scratch directory, so the committed one stays small).
libfuzzer() {
	local target=$1 scratch log status=0 runs
	scratch=$(mktemp -d)
	log=$(mktemp)
	log "libFuzzer: $target for $FUZZ_SECONDS s"
	(cd fuzz && CARGO_TARGET_DIR=$FUZZ_TARGET_DIR cargo +nightly fuzz run "$target" "$scratch" "corpus/$target" -- \
		-max_total_time="$FUZZ_SECONDS" -print_final_stats=1) >"$log" 2>&1 || status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if ((status == 0)); then
		row "$target: libFuzzer, ${FUZZ_SECONDS} s, AddressSanitizer" "${runs:-?} inputs, 0 crashes" "$PASS"
	else
		tail -n 40 "$log" >&2
		row "$target: libFuzzer, ${FUZZ_SECONDS} s, AddressSanitizer" \
			"crashed after ${runs:-?} inputs (fuzz/artifacts/$target/)" "$FAIL"
	fi
	rm -rf "$scratch" "$log"
	return "$status"
}

# stateful_schemathesis: scripts/schemathesis, stateful phase only; the figure is what
# schemathesis reports per document: scenarios run and the links between operations they
# followed ("API Links: N covered / M selected", M counting the links it inferred).
stateful_schemathesis() {
	local log status=0 scenarios links cases
	log=$(mktemp)
	log "schemathesis stateful phase against both APIs"
	SCHEMATHESIS_PHASES=stateful SCHEMATHESIS_MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-50} \
		scripts/schemathesis >"$log" 2>&1 || status=$?
	scenarios=$(sed -n 's/^ *Scenarios: *\([0-9]*\).*/\1/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
	links=$(sed -n 's/^ *API Links: *\([0-9]*\) covered \/ \([0-9]*\) selected.*/\1 of \2/p' "$log" | paste -sd, | sed 's/,/ and /')
	cases=$(sed -n 's/^ *\([0-9]*\) generated,.*/\1/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
	local what="schemathesis stateful: both APIs (runtime, control plane), chains along OpenAPI links"
	if ((status == 0)); then
		row "$what" "${scenarios:-0} scenarios, ${cases:-0} requests, links followed: ${links:-none}; 0 failures" "$PASS"
	else
		tail -n 80 "$log" >&2
		row "$what" "failures after ${scenarios:-?} scenarios (see the log)" "$FAIL"
	fi
	rm -f "$log"
	return "$status"
}

status=0
case $MODE in
short)
	harness 20000 "stable harness (corpus + seeded random/mutated)" || status=1
	;;
long)
	if have_nightly; then
		ensure_cargo_fuzz
		for target in "${TARGETS[@]}"; do
			libfuzzer "$target" || status=1
		done
	else
		warn "no nightly toolchain: the stable harness stands in for libFuzzer"
		harness "$FUZZ_LONG_ITERATIONS" "stable harness, no nightly for libFuzzer" || status=1
	fi
	stateful_schemathesis || status=1
	;;
*) die "usage: $0 short|long" ;;
esac
exit "$status"

#!/usr/bin/env bash
# scripts/lib/reliability/abuse.sh: the reliability table's Abuse rows. Runs the abuse
# system tests (tests/tests/system/abuse_*.rs: the cross-tenant matrix over both APIs and
# both web interfaces, JWT attacks, CSRF and session fixation, hostile bodies, header
# smuggling on tenant resolution, slow clients) and turns the `ABUSE key=value` lines they
# print into rows: | Part | What was tried | Figure | Result |.
#
#   bash scripts/lib/reliability/abuse.sh short   what CI runs (the same tests scripts/test runs)
#   bash scripts/lib/reliability/abuse.sh long    the same, with 200 slow clients instead of 50
#
# Exits non-zero when a test failed or a figure shows a refusal missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
LOG_PREFIX="abuse"
# shellcheck source=scripts/lib/common.sh
. "$ROOT/scripts/lib/common.sh"
cd "$ROOT"

mode=${1:-short}
case $mode in
short) export ABUSE_SLOW_CLIENTS=${ABUSE_SLOW_CLIENTS:-50} ;;
long) export ABUSE_SLOW_CLIENTS=${ABUSE_SLOW_CLIENTS:-200} ;;
*) die "usage: abuse.sh short|long" ;;
esac

output=$(mktemp)
trap 'rm -f "$output"' EXIT
log "cargo test --workspace --test system -- abuse_ ($mode, $ABUSE_SLOW_CLIENTS slow clients)"
passed=true
if ! cargo test --workspace --test system -- abuse_ --nocapture >"$output" 2>&1; then
	passed=false
	warn "the abuse tests failed; their output follows"
	grep -v '^ABUSE ' "$output" | tail -n 80 >&2 || true
fi

# figure KEY : the value the tests printed as `ABUSE KEY=value` (empty when missing).
figure() {
	grep -o "^ABUSE $1=.*" "$output" | tail -n 1 | cut -d= -f2- || true
}

failed=false
# row WHAT FIGURE HELD : one table row; HELD is true when the row's invariant held.
row() {
	local result="✅"
	if ! $passed || [[ $3 != true ]]; then
		result="❌"
		failed=true
	fi
	printf '| Abuse | %s | %s | %s |\n' "$1" "$2" "$result"
}

# same A B : true when both are set and equal.
same() { [[ -n $1 && $1 == "$2" ]] && echo true || echo false; }

api_routes=$(figure matrix_api_routes)
api_pairs=$(figure matrix_api_pairs)
api_refused=$(figure matrix_api_refused)
api_leaked=$(figure matrix_api_leaked)
row "cross-tenant matrix, both APIs: $api_routes routes from the OpenAPI documents x (A's token by header, by host, an admin's token; a company's token on the admin API)" \
	"$api_refused of $api_pairs (route, attack) pairs refused, $api_leaked leaked" \
	"$(same "$api_refused" "$api_pairs")"

page_routes=$(figure matrix_page_routes)
page_pairs=$(figure matrix_page_pairs)
page_refused=$(figure matrix_page_refused)
page_leaked=$(figure matrix_page_leaked)
row "cross-tenant matrix, both web interfaces: $page_routes pages from the routers x (A's session on B, a portal session on the ERP, an ERP session on the portal)" \
	"$page_refused of $page_pairs (page, session) pairs sent to sign in or refused, $page_leaked leaked" \
	"$(same "$page_refused" "$page_pairs")"

jwt_attacks=$(figure jwt_attacks)
jwt_refused=$(figure jwt_refused)
row "JWT attacks: alg none, HS512/RS256/ES256 with the key, wrong or no audience, expired, tampered tid/sub/roles/exp, garbage, signed roles, disabled and deleted users, suspended company" \
	"$jwt_refused of $jwt_attacks refused with problem+json and a stable code" \
	"$(same "$jwt_refused" "$jwt_attacks")"

csrf_attempts=$(figure csrf_attempts)
csrf_refused=$(figure csrf_refused)
fixation_checks=$(figure fixation_checks)
fixation_held=$(figure fixation_held)
csrf_ok=$(same "$csrf_refused" "$csrf_attempts")
fixation_ok=$(same "$fixation_held" "$fixation_checks")
both=false
if [[ $csrf_ok == true && $fixation_ok == true ]]; then both=true; fi
row "CSRF (no, forged, another session's token, in the field or the X-CSRF-Token header) and session fixation (made-up or attacker's own session planted before sign-in; the portal's pending two-factor session), both web interfaces" \
	"$csrf_refused of $csrf_attempts forged forms refused; $fixation_held of $fixation_checks fixation checks held" \
	"$both"

body_attacks=$(figure body_attacks)
body_refused=$(figure body_refused)
body_served=$(figure body_served_after)
body_ok=false
if [[ $(same "$body_refused" "$body_attacks") == true && $body_served == true ]]; then body_ok=true; fi
row "hostile JSON bodies (10k-deep arrays and objects, 20 MB with and without a length, invalid UTF-8, wrong type, truncated, empty, NUL) on 5 POST routes of both APIs, and a NUL in both web sign-in forms" \
	"$body_refused of $body_attacks got 4xx problem+json; both services kept serving" \
	"$body_ok"

smuggle_attempts=$(figure smuggle_attempts)
smuggle_refused=$(figure smuggle_refused)
smuggle_controls=$(figure smuggle_controls)
row "header smuggling on tenant resolution: Host vs X-Tenant, X-Forwarded-Host, Forwarded, two Host, two X-Tenant, absolute target, user info, odd hosts (raw TCP)" \
	"$smuggle_refused of $smuggle_attempts refused; $smuggle_controls odd-but-valid spellings still served" \
	"$(same "$smuggle_refused" "$smuggle_attempts")"

slow=$(figure slow_clients)
slow_kept_alive=$(figure slow_kept_alive)
slow_closed=$(figure slow_closed)
slow_timeout=$(figure slow_timeout_s)
slow_latest=$(figure slow_latest_close_ms)
normal_sent=$(figure normal_sent)
normal_served=$(figure normal_served)
normal_slowest=$(figure normal_slowest_ms)
slow_ok=false
if [[ $(same "$slow_closed" "$slow") == true && $(same "$normal_served" "$normal_sent") == true ]]; then slow_ok=true; fi
row "slow clients: $slow connections sending headers at 1 byte/s, $slow_kept_alive of them after a first whole request on the same kept-alive connection (request timeout ${slow_timeout} s)" \
	"$slow_closed closed, the last after $slow_latest ms; $normal_served of $normal_sent ordinary requests served meanwhile (slowest $normal_slowest ms)" \
	"$slow_ok"

if ! $passed || $failed; then
	exit 1
fi

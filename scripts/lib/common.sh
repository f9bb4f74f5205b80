# shellcheck shell=bash
# Small helpers shared by the scripts in scripts/. Source it; don't execute it.
#
#   SCRIPT_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
#   . "$SCRIPT_DIR/lib/common.sh"
#
# Everything human-readable goes to stderr, so stdout stays free for the
# machine-readable result of a script.

# Prefix for messages; override before sourcing (or after) if you like.
: "${LOG_PREFIX:=${0##*/}}"

log() { printf '%s: %s\n' "$LOG_PREFIX" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$LOG_PREFIX" "$*" >&2; }

# die MESSAGE... : print an error and exit 1.
die() {
	printf '%s: error: %s\n' "$LOG_PREFIX" "$*" >&2
	exit 1
}

# have CMD : true if CMD is an executable on PATH (or a function/builtin).
have() { command -v "$1" >/dev/null 2>&1; }

# is_root : true if running with effective uid 0.
is_root() { [[ $(id -u) == 0 ]]; }

# shq STRING : quote STRING for safe use inside a /bin/sh command line.
shq() {
	local s=$1
	printf "'%s'" "${s//\'/\'\\\'\'}"
}

# now_ms : milliseconds since the epoch (for timing messages).
now_ms() {
	local t
	t=$(date +%s%N)
	printf '%s\n' "$((t / 1000000))"
}

# shellcheck shell=bash
# install_moto: makes moto's standalone S3 server (`moto_server`, pinned below) available to
# the object-storage tests (tests/tests/system/backups_s3.rs) and exports its path as
# TEST_MOTO_SERVER. It lives in a venv beside the build (<target dir>/moto-<version>, where
# the tests also look for it), so CI's cached target directory keeps it between runs.
# Source scripts/lib/common.sh first. Never fatal: without moto those tests skip, saying why.

readonly MOTO_VERSION=5.2.6

install_moto() {
	local target_dir venv
	target_dir=$(cargo metadata --no-deps --format-version 1 |
		sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
	venv=${MOTO_VENV:-$target_dir/moto-$MOTO_VERSION}
	if [[ ! -x $venv/bin/moto_server ]]; then
		log "installing moto $MOTO_VERSION (S3 server for the backup tests) into $venv"
		rm -rf "$venv"
		if ! python3 -m venv "$venv" >/dev/null 2>&1; then
			if is_root; then
				DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
				rm -rf "$venv"
				python3 -m venv "$venv"
			else
				warn "python3-venv missing: the S3 backup tests will skip"
				return 0
			fi
		fi
		if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"; then
			warn "moto did not install: the S3 backup tests will skip"
			rm -rf "$venv"
			return 0
		fi
	fi
	export TEST_MOTO_SERVER=$venv/bin/moto_server
}

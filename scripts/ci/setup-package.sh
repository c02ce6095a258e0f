#!/usr/bin/env bash
# Install a Debian package a test suite runs as a real process (redis-server, tinyproxy), without
# its service: the tests start their own on free loopback ports and nothing here listens.
# Usage: setup-package.sh PACKAGE [COMMAND]  (COMMAND defaults to PACKAGE). Idempotent: with the
# command present it only checks. Installing needs root.
set -euo pipefail

package=$1
command=${2:-$1}
log() { printf '[setup-%s] %s\n' "$package" "$*" >&2; }

if command -v "$command" >/dev/null 2>&1; then
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    log "$command is missing and installing it needs root: apt-get install $package"
    exit 1
fi
log "installing $package (Debian package)"
export DEBIAN_FRONTEND=noninteractive
# Only the package itself is needed: policy-rc.d keeps the install from starting the service.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi
cleanup() { if [[ $created_policy == 1 ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq >/dev/null || log "apt-get update failed; trying the install with the lists there are"
apt-get install -y -qq --no-install-recommends "$package" >/dev/null
# Should a service manager have started it anyway, stop it: the tests start their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$package" 2>/dev/null; then
    systemctl disable --now "$package" >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
    service "$package" stop >/dev/null 2>&1 || true
fi
command -v "$command" >/dev/null
log "$package installed"

#!/usr/bin/env bash
# Install Debian's redis-server for the shared-state tests (tests/fixtures/redis_server.py starts
# its own servers on free loopback ports; nothing here listens). Idempotent: with redis-server
# present it only checks. Needs root to install; the packaged service, if the install started it,
# is stopped and kept from starting again (the tests never use it).
set -euo pipefail

log() { printf '[setup-redis] %s\n' "$*" >&2; }

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    log "redis-server is missing and installing it needs root: apt-get install redis-server"
    exit 1
fi
log "installing redis-server (Debian package)"
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
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# Should a service manager have started it anyway, stop it: the tests start their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
    service redis-server stop >/dev/null 2>&1 || true
fi
command -v redis-server >/dev/null
log "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') installed"

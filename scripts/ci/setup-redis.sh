#!/usr/bin/env bash
# Install Debian's redis-server for the shared-state tests (tests/fixtures/redis_server.py starts
# its own servers on free loopback ports). Idempotent; needs root to install.
set -euo pipefail
exec bash "$(dirname "$0")/setup-package.sh" redis-server

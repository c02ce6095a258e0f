#!/usr/bin/env bash
# Install Debian's tinyproxy, the real egress proxy of tests/proxy/test_egress_tinyproxy.py (it
# starts its own on a free loopback port). Idempotent; needs root to install.
set -euo pipefail
exec bash "$(dirname "$0")/setup-package.sh" tinyproxy

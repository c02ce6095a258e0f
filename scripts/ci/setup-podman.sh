#!/usr/bin/env bash
# Make podman usable on a Debian CI machine without Docker and without a container registry:
#   1. install podman + buildah + runc (+ helpers) from the distribution,
#   2. write containers.conf / storage.conf under a work dir (runc and cgroupfs: crun fails on this
#      cgroup layout; a finite nofile ulimit: the default 1048576 is refused),
#   3. build a Python base image locally with debootstrap (cached as a tar outside the clone) and
#      `podman import` it, so Dockerfiles build with --build-arg BASE_IMAGE=<it>.
# Idempotent: a second run only checks. Prints the environment to use podman with on stdout
# (also written to $CI_DIR/podman.env), e.g.  set -a; . /var/lib/llm-proxy-ci/podman.env; set +a
# Needs root. Env: LLM_PROXY_CI_DIR (config, storage), LLM_PROXY_CI_CACHE (base tar),
# LLM_PROXY_BASE_IMAGE (name of the imported base image).
set -euo pipefail

CI_DIR=${LLM_PROXY_CI_DIR:-/var/lib/llm-proxy-ci}
CACHE_DIR=${LLM_PROXY_CI_CACHE:-/var/cache/llm-proxy-ci}
BASE_IMAGE=${LLM_PROXY_BASE_IMAGE:-localhost/pybase:bookworm}
SUITE=bookworm
# catatonit: the pause process of the infra container `podman kube play` starts in every pod.
# The CNI network backend with its dnsname plugin: containers on one network find each other by
# name. (netavark was tried: on these machines its containers could not resolve outside names, so
# pip inside an image build failed.)
PACKAGES=(podman buildah runc fuse-overlayfs slirp4netns uidmap debootstrap
          golang-github-containernetworking-plugin-dnsname
          catatonit)

log() { printf '[setup-podman] %s\n' "$*" >&2; }

if [[ $EUID -ne 0 ]]; then
    log "must run as root (podman here runs rootful; debootstrap needs root)"
    exit 1
fi

# --- 1. packages -------------------------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
fi

# --- 2. configuration ----------------------------------------------------------------------------
mkdir -p "$CI_DIR"/{storage,run,tmp} "$CACHE_DIR"
cat >"$CI_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$CI_DIR/events.log"
tmp_dir = "$CI_DIR/tmp"

[network]
network_backend = "cni"
EOF
cat >"$CI_DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$CI_DIR/storage"
runroot = "$CI_DIR/run"
EOF
cat >"$CI_DIR/podman.env" <<EOF
CONTAINERS_CONF=$CI_DIR/containers.conf
CONTAINERS_STORAGE_CONF=$CI_DIR/storage.conf
LLM_PROXY_BASE_IMAGE=$BASE_IMAGE
TMPDIR=$CI_DIR/tmp
EOF
set -a
# shellcheck source=/dev/null
. "$CI_DIR/podman.env"
set +a

# --- 3. base image -------------------------------------------------------------------------------
# The machine's own Debian mirror (the only one reachable), from the deb822 sources.
mirror() {
    local uri
    uri=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v -- '-security' | head -n1 || true)
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
    fi
    printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

if ! podman image exists "$BASE_IMAGE"; then
    tarball="$CACHE_DIR/pybase-$SUITE.tar"
    if [[ ! -s $tarball ]]; then
        rootfs=$(mktemp -d "$CI_DIR/tmp/rootfs.XXXXXX")
        trap 'rm -rf "$rootfs"' EXIT
        log "debootstrap $SUITE from $(mirror) (about a minute)"
        debootstrap --variant=minbase \
            --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
            "$SUITE" "$rootfs" "$(mirror)" >&2
        # The image is a Python runtime, not a Debian system to keep clean: pip may install.
        rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$tarball.part" .
        mv "$tarball.part" "$tarball"
        rm -rf "$rootfs"
        trap - EXIT
    fi
    log "importing $tarball as $BASE_IMAGE"
    podman import --change 'CMD ["python3"]' "$tarball" "$BASE_IMAGE" >&2
fi

# The storage persists between runs (its layer cache makes warm builds fast); drop dangling
# layers of builds older than three days so it does not grow without bound.
podman image prune --force --filter until=72h >/dev/null

podman run --rm "$BASE_IMAGE" python3 -c 'import ssl, venv, sys; print(sys.version.split()[0])' >/dev/null
log "ready: base image $BASE_IMAGE"
cat "$CI_DIR/podman.env"

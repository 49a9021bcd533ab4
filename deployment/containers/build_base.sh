#!/usr/bin/env bash
# Make the base image the pipeline Dockerfiles build FROM (their ARG BASE_IMAGE) available.
#
# Where a registry is reachable, pull python:3.11-slim-bookworm (the Dockerfiles' default).
# Where it is not (the development and CI machines: no Docker Hub), debootstrap a minimal
# Debian bookworm root with python3 3.11 (the project's minor version), venv support and
# the CA certificates this machine trusts, and `podman import` it under $BASE_IMAGE.
#
#   build_base.sh            print the base image to use; build it if missing
#   build_base.sh --force    rebuild the local base image
#
# Output (stdout, last line): the image reference to pass as --build-arg BASE_IMAGE=...
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export CONTAINERS_CONF="$ROOT/deployment/containers/containers.conf"
REGISTRY_BASE="${REGISTRY_BASE_IMAGE:-docker.io/library/python:3.11-slim-bookworm}"
LOCAL_BASE="${LOCAL_BASE_IMAGE:-localhost/driver-ranking-base:bookworm-py311}"
SUITE=bookworm
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { echo "[build_base] $*" >&2; }

if [ "$FORCE" -eq 0 ]; then
    if podman image exists "$LOCAL_BASE"; then
        log "local base image present: $LOCAL_BASE"
        echo "$LOCAL_BASE"
        exit 0
    fi
    if podman image exists "$REGISTRY_BASE"; then
        echo "$REGISTRY_BASE"
        exit 0
    fi
    if timeout 20 podman pull -q "$REGISTRY_BASE" >/dev/null 2>&1; then
        log "pulled $REGISTRY_BASE"
        echo "$REGISTRY_BASE"
        exit 0
    fi
    log "no registry reachable for $REGISTRY_BASE: building $LOCAL_BASE with debootstrap"
fi

# The Debian mirror this machine's apt already uses for $SUITE (deb822 or one-line sources;
# other repositories and the security archive are skipped). No fallback: a mirror this machine
# does not use may well be unreachable from it.
mirror() {
    local uri
    uri=$(awk -v suite="$SUITE" 'BEGIN { RS = "" }
        $0 ~ ("Suites:[^\n]*[ \t]" suite "([ \t\n]|$)") && $0 !~ /security/ {
            if (match($0, /URIs:[ \t]*[^ \t\n]+/)) {
                uri = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", uri); print uri; exit
            }
        }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk -v suite="$SUITE" '$1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite && $i !~ /security/) { print $i; exit }
        }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    fi
    echo "$uri"
}

MIRROR=$(mirror)
if [ -z "$MIRROR" ]; then
    echo "[build_base] no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d: add the machine's mirror there, or pass BASE_IMAGE=<image> to build_images.sh" >&2
    exit 1
fi

if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

WORK=$(mktemp -d /var/tmp/driver-ranking-base.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
log "debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }

# Trust what the build host trusts (e.g. an egress proxy's CA) so that builds reach PyPI.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1
fi
# apt inside images uses the same mirror; keep the image small.
echo "deb $MIRROR $SUITE main" >"$ROOTFS/etc/apt/sources.list"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
    "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log

tar -C "$ROOTFS" -c . | podman import --quiet \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "debootstrap $SUITE minbase + python3 from $MIRROR" \
    - "$LOCAL_BASE" >/dev/null
log "imported $LOCAL_BASE ($(podman image inspect --format '{{.Size}}' "$LOCAL_BASE") bytes)"
echo "$LOCAL_BASE"

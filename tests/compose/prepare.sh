#!/usr/bin/env bash
# Prepares this machine to run `bench run --runtime compose` on podman, test
# infrastructure only (the product stays engine-neutral). No registry can be reached
# here, so no image can be pulled: the base images compose.yaml and services/Dockerfile
# name are built locally from Debian bookworm and tagged with those names. Idempotent,
# and cached on the machine: the minbase tarball and the images are built once.
#
#   BENCH_COMPOSE_CACHE   where the tarball and podman-compose live
#                         (default /var/cache/cache-invalidation-bench)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${BENCH_COMPOSE_CACHE:-/var/cache/cache-invalidation-bench}
MIRROR=${BENCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MINBASE=localhost/bench-minbase:bookworm
PODMAN_COMPOSE_VERSION=1.6.0

say() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
mkdir -p "$CACHE" 2>/dev/null || as_root mkdir -p "$CACHE"

# podman 4.3 and what it needs here: catatonit for compose.yaml's `init: true`,
# debootstrap for the base image.
missing=$(for p in podman catatonit debootstrap; do dpkg -s "$p" > /dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
    say "installing $missing"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing > /dev/null
fi

# Podman's default rlimits (nofile 1048576) exceed this machine's hard limit, and it
# may not raise them (no CAP_SYS_RESOURCE): every container would fail to start.
conf=/etc/containers/containers.conf
nofile=$(ulimit -Hn)
if ! grep -qs "cache-invalidation-bench" "$conf"; then
    say "podman: default_ulimits nofile=$nofile in $conf"
    as_root tee -a "$conf" > /dev/null <<CONF
# cache-invalidation-bench (tests/compose/prepare.sh): limits this machine can grant
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
CONF
fi

# aardvark-dns 1.4 (bookworm) drops a query now and then while containers come and go:
# glibc's default 5 s timeout, tried on aardvark and then on the host's resolver, made a
# lookup of `redis` take 10 s, and with it a replica's connection to Redis or PostgreSQL,
# or verify's first GET (4 runs of 12 of the libraries' compose test failed verify). A
# lost query costs 1 s with these options. Goes into the [containers] table above.
dns_options='dns_options = ["timeout:1", "attempts:5"]'
if ! grep -qs "^dns_options" "$conf"; then
    say "podman: $dns_options in $conf"
    as_root sed -i "s/^default_ulimits = .*/&\n$dns_options/" "$conf"
fi

# Debian's podman-compose 1.0.3 cannot run compose.yaml (no --profile); 1.6.0 can, with
# the gaps the docker shim (tests/compose/bin/docker) covers.
venv=$CACHE/podman-compose
if ! "$venv/bin/podman-compose" version 2>/dev/null | grep -q "$PODMAN_COMPOSE_VERSION"; then
    say "podman-compose $PODMAN_COMPOSE_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION" 2>&1 | grep -v "^WARNING: Location" >&2 || true
fi

# crun 1.8 refuses a machine whose cgroups are mounted in hybrid mode (v1 controllers
# and a cgroup2 tree holding one, as here: "cgroups in hybrid mode not supported"); runc
# runs there. Probed on the minbase image below, and podman set to runc only if need be.
use_runc_if_crun_cannot() {
    if podman run --rm "$MINBASE" true 2>/dev/null; then
        return
    fi
    if ! dpkg -s runc > /dev/null 2>&1; then
        say "installing runc (crun cannot run containers on this machine's cgroups)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q runc > /dev/null
    fi
    if ! grep -qs '^runtime = "runc"' "$conf"; then
        say "podman: runtime runc in $conf"
        as_root tee -a "$conf" > /dev/null <<CONF
# cache-invalidation-bench (tests/compose/prepare.sh): crun cannot run on hybrid cgroups
[engine]
runtime = "runc"
CONF
    fi
    podman run --rm "$MINBASE" true
}

if ! podman image exists "$MINBASE"; then
    tarball=$CACHE/bookworm-minbase.tar
    if [ ! -s "$tarball" ]; then
        say "debootstrap --variant=minbase bookworm (about a minute)"
        root=$(mktemp -d)
        as_root debootstrap --variant=minbase bookworm "$root" "$MIRROR" > "$CACHE/debootstrap.log"
        as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        as_root tar -C "$root" -cf "$tarball.part" .
        mv "$tarball.part" "$tarball"
        as_root rm -rf "$root"
    fi
    say "podman import $MINBASE"
    podman import -q "$tarball" "$MINBASE" > /dev/null
fi
use_runc_if_crun_cannot

build() {  # build NAME FILE: a stand-in, unless it is there already
    if ! podman image exists "$1"; then
        say "building $1 (stand-in: $2)"
        context=$(mktemp -d)
        cp "$HERE"/images/* "$context"/
        cp /etc/ssl/certs/ca-certificates.crt "$context"/
        podman build -q -t "$1" -f "$context/$2" "$context" > /dev/null
        rm -rf "$context"
    fi
}
build docker.io/library/python:3.11-slim python.Containerfile
build docker.io/library/redis:7-alpine redis.Containerfile
build docker.io/library/postgres:16-alpine postgres.Containerfile
say "podman ready: $(podman --version), podman-compose $PODMAN_COMPOSE_VERSION"

#!/usr/bin/env bash
# A Debian sid root for the test environment on the newest Home Assistant.
#
# The newest Home Assistant needs Python 3.14, which this kind of machine does not have;
# Debian sid ships it. The root is made by `debootstrap --variant=minbase` inside the
# repository (default `.sid/`, git-ignored), and the tests run in it through chroot, with
# the repository bind-mounted at /repo.
#
#   tools/sid-root.sh build ROOT PACKAGE_LIST   make ROOT if missing, install the listed
#                                                Debian packages (idempotent)
#   tools/sid-root.sh run ROOT COMMAND...        run COMMAND (a bash command line) in ROOT,
#                                                from /repo
#
# `run` mounts nothing in the host's view: it works in a private mount namespace and a new
# PID namespace (unshare), so its mounts (/proc, /dev, /sys, /repo, the host's local package
# folders, a fresh /run and /tmp) vanish, and every process the tests started is killed,
# when the command ends, whether it passed, failed or was interrupted. An EXIT trap also
# unmounts them in order, so nothing is left mounted even inside the namespace.
#
# The host's pip configuration (those that exist of /etc/pip.conf, /etc/xdg/pip/, the user's
# and $PIP_CONFIG_FILE, and the PIP_* environment), its local package folders (read-only, where
# they exist) and its CA bundle are carried into the root on every run, so pip works there as
# on the host.
set -euo pipefail

MIRROR=${SID_MIRROR:-http://deb.debian.org/debian}
# Local package folders the host's pip configuration may name (find-links, extra indexes).
LOCAL_PACKAGE_DIRS=(/opt/wheels /opt/pypi /opt/pypi-more)
# pip's configuration files, and what they name (/etc/xdg/pip holds a constraints file).
PIP_CONFIG_PATHS=(/etc/pip.conf /etc/xdg/pip "$HOME/.config/pip" "$HOME/.pip" ${PIP_CONFIG_FILE:+"$PIP_CONFIG_FILE"})
CA_BUNDLE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}

die() {
    echo "sid-root: $*" >&2
    exit 1
}

# Refuse to delete a root while anything is mounted below it (rm would follow a bind mount).
assert_nothing_mounted() {
    local root
    root=$(realpath -m "$1")
    if findmnt -rn -o TARGET | grep -q -- "^${root}\(/\|$\)"; then
        die "something is mounted under $root; not touching it"
    fi
}

build() {
    local root=$1 package_list=$2
    [[ -f $package_list ]] || die "no package list $package_list"
    [[ $(id -u) == 0 ]] || die "building the sid root needs root (debootstrap, chroot)"
    if [[ ! -f $root/.debootstrapped ]]; then
        if ! command -v debootstrap >/dev/null; then
            echo "sid-root: installing debootstrap"
            apt-get update -q
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap debian-archive-keyring
        fi
        assert_nothing_mounted "$root"
        rm -rf --one-file-system "$root"
        mkdir -p "$root"
        echo "sid-root: debootstrap --variant=minbase sid $root $MIRROR"
        # debootstrap mounts /proc and /sys in the target while it works: keep those
        # mounts in a private namespace, so an interrupted build leaves none behind.
        unshare --mount --propagation private \
            debootstrap --variant=minbase sid "$root" "$MIRROR"
        # The mirror may serve a frozen snapshot whose Release file has expired; the host's
        # apt is configured the same way.
        printf 'Acquire::Check-Valid-Until "false";\n' >"$root/etc/apt/apt.conf.d/99maze-test"
        touch "$root/.debootstrapped"
    fi
    local packages
    packages=$(grep -v '^\s*#' "$package_list" | xargs)
    echo "sid-root: apt-get install $packages"
    in_root "$root" "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages && apt-get clean"
}

# Run a bash command line in the root, from /repo (the repository).
in_root() {
    local root repo
    root=$(realpath "$1")
    repo=$(realpath "${REPO:-$PWD}")
    shift
    [[ -x $root/bin/bash ]] || die "$root is not a built root (run the build first)"
    # Configuration is copied on every run: cheap, and it follows the host's.
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    cp /etc/hosts "$root/etc/hosts"
    local path target
    for path in "${PIP_CONFIG_PATHS[@]}"; do
        [[ -e $path ]] || continue
        target=$root$path
        if [[ $path == "$HOME"/* ]]; then
            target=$root/root/${path#"$HOME"/}
        fi
        mkdir -p "$(dirname "$target")"
        rm -rf "$target"
        cp -r "$path" "$target"
    done
    if [[ -f $CA_BUNDLE ]]; then
        mkdir -p "$root$(dirname "$CA_BUNDLE")"
        cp "$CA_BUNDLE" "$root$CA_BUNDLE"
    fi
    # The environment inside: a clean one, plus the host's pip and CA settings and CI.
    local -a environment=(HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}"
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
    local name
    while IFS= read -r name; do
        environment+=("$name=${!name}")
    done < <(compgen -e | grep -E '^(PIP_[A-Z_]+|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|CI)$' || true)

    exec unshare --mount --propagation private --pid --fork --kill-child \
        bash -c "$INSIDE" inside "$root" "$repo" "$*" "${environment[@]}" \
        "${LOCAL_PACKAGE_DIRS[@]/#/--local=}"
}

# What runs in the new namespaces (bash -c "$INSIDE" inside ROOT REPO COMMAND ENV... --local=DIR...).
read -r -d '' INSIDE <<'INSIDE' || true
set -euo pipefail
root=$1 repo=$2 command=$3
shift 3
environment=() local_dirs=()
for arg in "$@"; do
    case $arg in --local=*) local_dirs+=("${arg#--local=}") ;; *) environment+=("$arg") ;; esac
done
mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" || true
    done
}
trap cleanup EXIT
mount_on() {  # mount_on TARGET mount-arguments...: mount once, remembered for cleanup
    local target=$1
    shift
    mkdir -p "$target"
    if ! mountpoint -q "$target"; then
        mount "$@" "$target"
        mounted+=("$target")
    fi
}
# The root bound onto itself: in the chroot "/" is then a mount point, which `ip netns`
# needs (it makes "/" a slave mount before entering a namespace).
if ! mountpoint -q "$root"; then
    mount --bind "$root" "$root"
    mounted+=("$root")
fi
mount_on "$root/proc" -t proc proc
mount_on "$root/dev" --rbind /dev
mount_on "$root/sys" --rbind /sys
mount_on "$root/run" -t tmpfs tmpfs
mount_on "$root/tmp" -t tmpfs tmpfs
mount_on "$root/repo" --bind "$repo"
for dir in "${local_dirs[@]}"; do
    if [[ -d $dir ]]; then
        mount_on "$root$dir" --bind -o ro "$dir"
    fi
done
# A status is returned, not exec'd, so the trap runs.
status=0
chroot "$root" /usr/bin/env -i "${environment[@]}" /bin/bash -c "cd /repo && $command" || status=$?
exit "$status"
INSIDE

case ${1:-} in
build)
    [[ $# == 3 ]] || die "usage: $0 build ROOT PACKAGE_LIST"
    build "$2" "$3"
    ;;
run)
    [[ $# -ge 3 ]] || die "usage: $0 run ROOT COMMAND..."
    root=$2
    shift 2
    in_root "$root" "$*"
    ;;
*)
    die "usage: $0 build ROOT PACKAGE_LIST | run ROOT COMMAND..."
    ;;
esac

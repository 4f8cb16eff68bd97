#!/bin/bash
# Build the Sohoa root file system with mmdebstrap from Debian's own archive.
#
#   ARCH=arm64|amd64 image-build/build-rootfs.sh OUTDIR
#
# OUTDIR/rootfs/ is the tree, OUTDIR/manifest.lock the package and wheel versions it holds,
# OUTDIR/lock.diff its difference to image-build/lock/$ARCH.lock (the last release). The
# kiosk is this checkout's wheel, installed as a release under /opt/sohoa/releases/<version>.
# Downloads (.debs, wheels) are cached under $CACHE_DIR so a second build is offline-fast.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/config.sh"
OUT=${1:?usage: build-rootfs.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
: "${PYTHON:=python3}"
LOCK="$HERE/lock/$ARCH.lock"
START=$(date +%s)

# mmdebstrap runs the hooks in foreign-architecture chroots through qemu-user-static.
if [ "$ARCH" != "$(dpkg --print-architecture)" ]; then
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e "/proc/sys/fs/binfmt_misc/qemu-$( [ "$ARCH" = arm64 ] && echo aarch64 || echo x86_64)" ] \
    || update-binfmts --enable >/dev/null
fi

# 1. The kiosk as a wheel, and every dependency as a binary wheel for the target (no compiler
#    in the image). Versions come from the lock file when it lists them.
WHEELS="$CACHE_DIR/wheels/$ARCH"
mkdir -p "$WHEELS" "$CACHE_DIR/debs/$ARCH" "$OUT/wheel"
rm -f "$OUT"/wheel/*.whl
# Built from a copy of the checkout's own files (tracked or new, not ignored): setuptools
# would otherwise walk build/ and var/, where image trees with /proc mounted can lie.
SRC=$(mktemp -d "${TMPDIR:-/tmp}/sohoa-src.XXXXXX")
git -C "$REPO" ls-files -z --cached --others --exclude-standard \
  | (cd "$REPO" && tar --null --no-recursion -T - -cf -) | tar -C "$SRC" -xf -
"$PYTHON" -m pip wheel -q --no-deps -w "$OUT/wheel" "$SRC" >/dev/null
rm -rf "$SRC"
WHEEL=$(ls "$OUT"/wheel/sohoa-*.whl)
VERSION=$(basename "$WHEEL" | cut -d- -f2)
CONSTRAINTS="$OUT/constraints.txt"
if [ -f "$LOCK" ]; then sed -n 's/^python \(.*\) \(.*\)$/\1==\2/p' "$LOCK" >"$CONSTRAINTS"; else : >"$CONSTRAINTS"; fi
case "$ARCH" in
  arm64) PLAT="manylinux_2_36_aarch64 manylinux_2_28_aarch64 manylinux2014_aarch64" ;;
  amd64) PLAT="manylinux_2_36_x86_64 manylinux_2_28_x86_64 manylinux2014_x86_64" ;;
esac
# Only PyPI (and the wheels already cached): the build host's own pip configuration is not an
# input of the image. pip's failure fails the build here, with pip's reason (pipefail), rather
# than as a missing wheel inside the chroot; only grep's "nothing left to print" is ignored.
PIP_CONFIG_FILE=/dev/null "$PYTHON" -m pip download -q --only-binary=:all: \
  $(for p in $PLAT; do printf -- '--platform %s ' "$p"; done) \
  --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
  --find-links "$WHEELS" -c "$CONSTRAINTS" -d "$WHEELS" "$WHEEL" 2>&1 \
  | { grep -v '^WARNING: Location' || true; }
cp "$WHEEL" "$WHEELS/"

# 2. The package list: common + architecture.
LISTS="$HERE/packages/common.txt $HERE/packages/$ARCH.txt"
[ "$ARCH" != amd64 ] || [ "${TWIN_KERNEL:-0}" = 0 ] || LISTS="$LISTS $HERE/packages/amd64-kernel.txt"
PKGS=$(cat $LISTS | sed 's/#.*//' | xargs | tr ' ' ',')

# 3. mmdebstrap. Hooks (image-build/hooks/) get the rootfs as $1 and these variables.
export SOHOA_IMAGE_DIR="$HERE" SOHOA_WHEELS="$WHEELS" SOHOA_WHEEL_NAME=$(basename "$WHEEL") \
  SOHOA_VERSION="$VERSION" SOHOA_DEB_CACHE="$CACHE_DIR/debs/$ARCH" ARCH
rm -rf "$OUT/rootfs"
# A failed build keeps what it downloaded: link the .debs back into the cache on any exit.
save_debs() {
  for deb in "$OUT"/rootfs/var/cache/apt/archives/*.deb; do
    [ -e "$deb" ] && { [ -e "$SOHOA_DEB_CACHE/$(basename "$deb")" ] || ln "$deb" "$SOHOA_DEB_CACHE/"; }
  done 2>/dev/null || true
}
trap save_debs EXIT
# Documentation, manual pages and message catalogues are not installed (smaller image,
# fewer triggers); copyright files are kept. eatmydata: dpkg skips fsync during the build.
mmdebstrap --mode=root --variant=apt --architectures="$ARCH" \
  --components="$(echo $COMPONENTS | tr ' ' ',')" \
  --aptopt='APT::Install-Recommends "false"' --aptopt='Acquire::Retries "3"' \
  --include="$PKGS" \
  --skip=essential/unlink --skip=cleanup/apt/cache \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/vi/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --hook-dir="$HERE/hooks" --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
  "$SUITE" "$OUT/rootfs" \
  "deb $MIRROR $SUITE $COMPONENTS" \
  "deb $MIRROR $SUITE-updates $COMPONENTS" \
  "deb $SECURITY_MIRROR $SUITE-security $COMPONENTS" 2>&1 \
  | while IFS= read -r line; do printf '%(%H:%M:%S)T %s\n' -1 "$line"; done
[ "${PIPESTATUS[0]}" = 0 ] || { echo "mmdebstrap failed" >&2; exit 1; }

# apt's binary caches are rebuilt after our cleanup hook (mmdebstrap's own last steps) and
# differ from build to build; a read-only root has no use for them (apt rebuilds in memory).
rm -f "$OUT"/rootfs/var/cache/apt/*.bin

# Reproducible file tree: nothing newer than the release date (after every hook has run).
find "$OUT/rootfs" -xdev -newermt "@$SOURCE_DATE_EPOCH" -print0 \
  | xargs -0r touch --no-dereference --date="@$SOURCE_DATE_EPOCH"

# 4. Manifest of what went in, and its difference to the last release's lock file.
"$PYTHON" "$HERE/treehash.py" manifest "$OUT/rootfs" >"$OUT/manifest.lock"
if [ -f "$LOCK" ]; then
  diff -u --label "lock/$ARCH.lock (last release)" --label "this build" "$LOCK" "$OUT/manifest.lock" >"$OUT/lock.diff" || true
else
  echo "no lock file $LOCK yet: this build's manifest becomes it (make image-lock)" >"$OUT/lock.diff"
fi
if [ -s "$OUT/lock.diff" ]; then
  echo "== package set differs from lock/$ARCH.lock (see $OUT/lock.diff):"
  grep -E '^[-+][a-z]' "$OUT/lock.diff" | head -40 || cat "$OUT/lock.diff"
  [ "${LOCK_STRICT:-0}" = 0 ] || { echo "LOCK_STRICT=1: refusing a build that differs from the lock" >&2; exit 3; }
else
  echo "== package set identical to lock/$ARCH.lock"
fi
echo "== rootfs $ARCH $VERSION built in $(( $(date +%s) - START )) s: $(du -sh "$OUT/rootfs" | cut -f1)"
# The file-tree hash (what two reproducible builds share) costs a read of the whole tree.
if [ "${TREE_HASH:-0}" = 1 ]; then
  "$PYTHON" "$HERE/treehash.py" hash "$OUT/rootfs" >"$OUT/tree.sha256"
  echo "== tree $(head -1 "$OUT/tree.sha256")"
fi

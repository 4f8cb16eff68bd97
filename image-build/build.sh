#!/bin/bash
# `make image`: the whole Pi image (or the x86-64 twin) from this checkout, in one go.
#   ARCH=arm64|amd64 image-build/build.sh OUTDIR
# -> OUTDIR/rootfs/, manifest.lock, lock.diff, rootfs.ext4, sohoa-$ARCH.img, partitions.sfdisk,
#    sohoa-$ARCH.raucb (signed with RAUC_CERT/RAUC_KEY, a throw-away key when unset).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: build.sh OUTDIR}
: "${ARCH:=arm64}"
export ARCH
START=$(date +%s)
mkdir -p "$OUT"
if [ -z "${RAUC_CERT:-}" ]; then
  "$HERE/dev-keys.sh" "$OUT/dev-keys" release
  RAUC_CERT="$OUT/dev-keys/release.cert.pem"; RAUC_KEY="$OUT/dev-keys/release.key.pem"
  echo "WARNING: RAUC_CERT not set: the image trusts a throw-away development key" >&2
fi
export RAUC_KEYRING=${RAUC_KEYRING:-$RAUC_CERT}
TREE_HASH=1 "$HERE/build-rootfs.sh" "$OUT"
T1=$(date +%s)
"$HERE/mkimage.sh" "$OUT"
T2=$(date +%s)
"$HERE/mkbundle.sh" "$OUT/rootfs.ext4" "$RAUC_CERT" "$RAUC_KEY" "$OUT/sohoa-$ARCH.raucb" "$ARCH"
END=$(date +%s)
echo "== make image ($ARCH): rootfs $((T1 - START)) s, disk image $((T2 - T1)) s, bundle $((END - T2)) s, total $((END - START)) s"

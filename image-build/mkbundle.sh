#!/bin/bash
# Turn a built root file system image into a signed RAUC bundle (the OS update the agent
# installs into the other slot; see the update issue's release flow).
#
#   image-build/mkbundle.sh ROOTFS_EXT4 CERT KEY OUT.raucb [ARCH] [VERSION]
#
# Format `plain` (a signed squashfs) works everywhere; `verity` needs device-mapper on the
# building and the installing machine: BUNDLE_FORMAT=verity to choose it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOTFS=${1:?usage: mkbundle.sh ROOTFS_EXT4 CERT KEY OUT.raucb [ARCH] [VERSION]}
CERT=${2:?cert}; KEY=${3:?key}; OUTB=${4:?output}
ARCH=${5:-${ARCH:-arm64}}
. "$HERE/config.sh"
VERSION=${6:-$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y.%m.%d)}
: "${BUNDLE_FORMAT:=plain}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sohoa-bundle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ln "$ROOTFS" "$WORK/rootfs.ext4" 2>/dev/null || cp "$ROOTFS" "$WORK/rootfs.ext4"
cat >"$WORK/manifest.raucm" <<MANIFEST
[update]
compatible=$RAUC_COMPATIBLE
version=$VERSION
build=$SOURCE_DATE_EPOCH

[bundle]
format=$BUNDLE_FORMAT

[image.rootfs]
filename=rootfs.ext4
MANIFEST
rm -f "$OUTB"
rauc bundle --cert="$CERT" --key="$KEY" \
  --mksquashfs-args="-comp zstd -Xcompression-level ${BUNDLE_ZSTD_LEVEL:-3}" \
  "$WORK" "$OUTB"
echo "== bundle $OUTB ($RAUC_COMPATIBLE $VERSION, $BUNDLE_FORMAT): $(du -h "$OUTB" | cut -f1)"

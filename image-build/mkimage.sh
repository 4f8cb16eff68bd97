#!/bin/bash
# Turn a built root file system into the flashable disk image with genimage: no loop device,
# no mount (this machine's kernel cannot mount vfat; mke2fs -d and mtools need neither).
#
#   ARCH=arm64|amd64 image-build/mkimage.sh OUTDIR       (OUTDIR/rootfs from build-rootfs.sh)
#
# Writes OUTDIR/rootfs.ext4 (also the payload of RAUC bundles), OUTDIR/sohoa-<arch>.img
# (boot FAT, root A, root B, data; every UUID pinned in config.sh) and OUTDIR/partitions.sfdisk.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/config.sh"
OUT=$(cd "${1:?usage: mkimage.sh OUTDIR}" && pwd)
R="$OUT/rootfs"
[ -d "$R/etc" ] || { echo "no root file system in $R: run build-rootfs.sh first" >&2; exit 2; }
START=$(date +%s)
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
rm -rf "$OUT/genimage" && mkdir -p "$OUT/genimage"/{input,tmp,boot,data}

# Root slot file system: read-only at run time, so no reserved blocks.
rm -f "$OUT/rootfs.ext4"
mke2fs -q -F -t ext4 -L sohoa-root -U "$ROOT_FS_UUID" -E "hash_seed=$ROOT_HASH_SEED,root_owner=0:0" \
  -m 0 -i 16384 -d "$R" "$OUT/rootfs.ext4" "$ROOT_SIZE"
ln -f "$OUT/rootfs.ext4" "$OUT/genimage/input/rootfs.ext4"
# Data partition: empty, laid out by sohoa-data-layout.service at boot, grown at first boot.
mke2fs -q -F -t ext4 -L sohoa-data -U "$DATA_FS_UUID" -E "hash_seed=$DATA_HASH_SEED,root_owner=0:0" \
  -d "$OUT/genimage/data" "$OUT/genimage/input/data.ext4" "$DATA_SIZE"
# Boot partition content: the Pi firmware, device trees, U-Boot and its script/environment
# (on the x86-64 twin only a note: it boots from its own bootloader).
if [ -n "$(ls -A "$R/boot/firmware" 2>/dev/null)" ]; then
  cp -a "$R/boot/firmware/." "$OUT/genimage/boot/"
else
  echo "Sohoa $ARCH twin: no Raspberry Pi firmware on this image." >"$OUT/genimage/boot/README.TXT"
  touch --date="@$SOURCE_DATE_EPOCH" "$OUT/genimage/boot/README.TXT"
fi

IMG="sohoa-$ARCH.img"
cat >"$OUT/genimage/genimage.cfg" <<CFG
image boot.vfat {
  vfat {
    label = "SOHOA-BOOT"
    extraargs = "-F 32 -i $BOOT_VOLUME_ID"
  }
  size = $BOOT_SIZE
}

image $IMG {
  hdimage {
    partition-table-type = "mbr"
    disk-signature = $DISK_SIGNATURE
    align = 4M
  }
  partition boot {
    partition-type = 0x0C
    bootable = true
    image = "boot.vfat"
  }
  partition rootA {
    partition-type = 0x83
    image = "rootfs.ext4"
    size = $ROOT_SIZE
  }
  partition rootB {
    partition-type = 0x83
    image = "rootfs.ext4"
    size = $ROOT_SIZE
  }
  partition data {
    partition-type = 0x83
    image = "data.ext4"
    size = $DATA_SIZE
  }
}
CFG
genimage --config "$OUT/genimage/genimage.cfg" --rootpath "$OUT/genimage/boot" \
  --tmppath "$OUT/genimage/tmp" --inputpath "$OUT/genimage/input" --outputpath "$OUT/genimage/input"
mv -f "$OUT/genimage/input/$IMG" "$OUT/$IMG"
sfdisk -d "$OUT/$IMG" >"$OUT/partitions.sfdisk"
rm -rf "$OUT/genimage/tmp" "$OUT/genimage/input"
echo "== $OUT/$IMG: $(du -h --apparent-size "$OUT/$IMG" | cut -f1) ($(du -h "$OUT/$IMG" | cut -f1) allocated), root file system $(du -h "$OUT/rootfs.ext4" | cut -f1) allocated, in $(( $(date +%s) - START )) s"
cat "$OUT/partitions.sfdisk"

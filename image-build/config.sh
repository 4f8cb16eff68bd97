# Sohoa OS image: every pinned value of the recipe, in one place (sourced by the scripts).
# Change a UUID here and nowhere else: fstab, the kernel command line, U-Boot's boot script,
# RAUC's system.conf and genimage's layout are all written from these values.

: "${ARCH:=arm64}"                       # arm64 = Raspberry Pi 4; amd64 = the CI twin
: "${SUITE:=bookworm}"
: "${MIRROR:=http://deb.debian.org/debian}"
: "${SECURITY_MIRROR:=http://deb.debian.org/debian-security}"
: "${COMPONENTS:=main non-free-firmware}"
: "${SOURCE_DATE_EPOCH:=1764547200}"     # 2025-12-01 00:00 UTC: the release's date
: "${IMAGE_HOSTNAME:=sohoa-kiosk}"
: "${CACHE_DIR:=/var/cache/sohoa-image}" # downloaded .debs and wheels, kept between builds
export SOURCE_DATE_EPOCH

# MBR disk signature: the partitions' PARTUUIDs are <signature>-01 .. -04.
DISK_SIGNATURE=0x50484f41
PARTUUID_BOOT=50484f41-01
PARTUUID_ROOT_A=50484f41-02
PARTUUID_ROOT_B=50484f41-03
PARTUUID_DATA=50484f41-04
# File-system identifiers (both root slots start from the same root file system).
BOOT_VOLUME_ID=5048B007
ROOT_FS_UUID=5048f41a-0000-4000-8000-0000000000a0
ROOT_HASH_SEED=5048f41a-0000-4000-8000-0000000000a1
DATA_FS_UUID=5048f41a-0000-4000-8000-0000000000d0
DATA_HASH_SEED=5048f41a-0000-4000-8000-0000000000d1

# Partition sizes of the flashable image (the data partition grows to the card at first boot).
: "${BOOT_SIZE:=256M}"
: "${ROOT_SIZE:=3G}"
: "${DATA_SIZE:=512M}"

# Kernel command line common to every slot (the slot's root=PARTUUID=... ro is added by the
# boot script). Hardening that costs the kiosk nothing: no slab merging, shuffled page
# allocator, randomised kernel stack offset, no kernel messages on the clerk's screen.
CMDLINE_COMMON="rootwait fsck.repair=yes net.ifnames=0 quiet loglevel=3 vt.global_cursor_default=0 slab_nomerge page_alloc.shuffle=1 randomize_kstack_offset=on"

case "$ARCH" in
  arm64) RAUC_COMPATIBLE=sohoa-kiosk-rpi4; CONSOLES="console=serial0,115200 console=tty3" ;;
  amd64) RAUC_COMPATIBLE=sohoa-kiosk-amd64; CONSOLES="console=ttyS0,115200 console=tty3" ;;
  *) echo "ARCH must be arm64 or amd64, not $ARCH" >&2; exit 2 ;;
esac

# The kiosk UI on loopback (sohoa.toml's [ui] port; the screen and Chromium's policy point here).
: "${UI_PORT:=8080}"
UI_URL="http://127.0.0.1:${UI_PORT}/"

# Hardware of the kiosk configuration written to /etc/sohoa/sohoa.toml.
case "$ARCH" in
  arm64) PEDAL_BACKEND=gpio; LEDS_BACKEND=gpio ;;
  amd64) PEDAL_BACKEND=hid; LEDS_BACKEND=none ;;
esac

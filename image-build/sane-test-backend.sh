#!/bin/sh
# Enable SANE's own `test` backend (used by the scanner tests and by `sohoa scan
# --scanner test:0` demos). Debian ships it disabled in /etc/sane.d/dll.conf.
# Idempotent; on a production image the test backend stays disabled.
set -e
CONF=/etc/sane.d/dll.conf
[ -f "$CONF" ] || exit 0
if grep -Eq '^[[:space:]]*test[[:space:]]*$' "$CONF"; then
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if grep -Eq '^#[[:space:]]*test[[:space:]]*$' "$CONF"; then
    $SUDO sed -i -E 's/^#[[:space:]]*test[[:space:]]*$/test/' "$CONF"
else
    echo test | $SUDO tee -a "$CONF" >/dev/null
fi

#!/bin/sh
# A throw-away release signing key and certificate for RAUC bundles (development and CI
# only). A provincial IT office builds with its own: RAUC_CERT / RAUC_KEY / RAUC_KEYRING.
#   image-build/dev-keys.sh DIR [NAME]   -> DIR/NAME.cert.pem, DIR/NAME.key.pem
set -eu
DIR=${1:?usage: dev-keys.sh DIR [NAME]}
NAME=${2:-release}
mkdir -p "$DIR"
[ -s "$DIR/$NAME.cert.pem" ] && [ -s "$DIR/$NAME.key.pem" ] && exit 0
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/O=Sohoa development/CN=Sohoa $NAME key (NOT FOR PRODUCTION)" \
  -keyout "$DIR/$NAME.key.pem" -out "$DIR/$NAME.cert.pem" 2>/dev/null
chmod 0644 "$DIR/$NAME.cert.pem"
echo "made throw-away key $DIR/$NAME.key.pem (not for production)"

# Sourced by the hooks: render a *.in template with the pinned values of config.sh.
render() { # template destination
  sed -e "s#@UI_URL@#${UI_URL}#g" -e "s#@UI_PORT@#${UI_PORT}#g" \
      -e "s#@PARTUUID_BOOT@#${PARTUUID_BOOT}#g" -e "s#@PARTUUID_ROOT_A@#${PARTUUID_ROOT_A}#g" \
      -e "s#@PARTUUID_ROOT_B@#${PARTUUID_ROOT_B}#g" -e "s#@PARTUUID_DATA@#${PARTUUID_DATA}#g" \
      -e "s#@RAUC_COMPATIBLE@#${RAUC_COMPATIBLE}#g" -e "s#@CMDLINE_COMMON@#${CMDLINE_COMMON}#g" \
      -e "s#@CONSOLES@#${CONSOLES}#g" -e "s#@IMAGE_HOSTNAME@#${IMAGE_HOSTNAME}#g" \
      -e "s#@PEDAL_BACKEND@#${PEDAL_BACKEND}#g" -e "s#@LEDS_BACKEND@#${LEDS_BACKEND}#g" \
      "$1" >"$2"
  chmod --reference="$1" "$2"
}
# Copy a tree of files into the root (owned by root), rendering *.in templates on the way.
install_tree() { # source-dir destination-dir
  (cd "$1" && find . -type d) | while read -r d; do mkdir -p "$2/$d"; done
  (cd "$1" && find . -type f -o -type l) | while read -r f; do
    case "$f" in
      *.in) render "$1/$f" "$2/${f%.in}" ;;
      *) cp -d --no-preserve=ownership "$1/$f" "$2/$f" ;;
    esac
  done
}

#!/usr/bin/env bash
# Installs the system packages WebGPU-on-CPU needs, idempotently:
# Debian's Chromium (SwiftShader WebGPU for browser tests), the Vulkan loader
# Dawn dlopens, and Mesa >= 25 lavapipe from bookworm-backports (bookworm's
# Mesa 22 lavapipe is rejected by Dawn).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=''
if [ "$(id -u)" != 0 ]; then SUDO='sudo'; fi

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
dpkg -s libvulkan1 >/dev/null 2>&1 || need+=(libvulkan1)
lvp_ok=0
if [ -f /usr/share/vulkan/icd.d/lvp_icd.json ]; then
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)
  major=${v%%.*}; major=${major#*:}
  [ "${major:-0}" -ge 25 ] && lvp_ok=1
fi

if [ ${#need[@]} -eq 0 ] && [ $lvp_ok = 1 ]; then
  echo "system packages: already installed"
  exit 0
fi

if . /etc/os-release && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  list=/etc/apt/sources.list.d/bookworm-backports.list
  [ -f $list ] || echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee $list >/dev/null
  $SUDO apt-get update -qq
  [ ${#need[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
  [ $lvp_ok = 1 ] || $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
else
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" mesa-vulkan-drivers
fi

#!/usr/bin/env bash
# Installs the system packages lrdif needs on Debian 12 (bookworm):
# - a Vulkan driver new enough for Dawn: Mesa lavapipe from bookworm-backports (bookworm's 22.3 is rejected).
# Optional extra: python3-torch (only to regenerate golden fixtures; CI does not need it).
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/lrdif-backports.list >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
$SUDO apt-get install -y -qq libvulkan1 >/dev/null
if [ "${1:-}" = "--with-torch" ]; then
  $SUDO apt-get install -y -qq python3-torch >/dev/null
fi
echo "system packages ready: $(ls /usr/share/vulkan/icd.d/ 2>/dev/null | tr '\n' ' ')"

#!/usr/bin/env bash
# Installs the system packages lrdif needs on Debian 12 (bookworm):
# - a Vulkan driver new enough for Dawn: Mesa lavapipe from bookworm-backports (bookworm's 22.3 is rejected),
#   and the Vulkan loader.
# - Debian's chromium, for the web app's browser tests (test/browser/, WebGPU on SwiftShader).
# - xz-utils and python3, to build the GPU kit and to check it in CI (.ci/gpu-kit.sh).
# Optional extra: python3-torch (only to regenerate golden fixtures; CI does not need it): --with-torch.
# Idempotent; when everything is already there it touches nothing (no apt-get update), so reruns are fast.
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
WITH_TORCH=0; [ "${1:-}" = "--with-torch" ] && WITH_TORCH=1

installed_version() { { dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null || true; } | sed -n 's/^ii *//p'; }

have_backports_lavapipe() {
  local v; v="$(installed_version mesa-vulkan-drivers)"
  # backports builds carry ~bpo12; any Mesa ≥ 23 from elsewhere is new enough too
  [ -n "$v" ] || return 1
  compgen -G '/usr/share/vulkan/icd.d/lvp_icd*.json' >/dev/null || return 1
  [[ "$v" == *bpo12* ]] || dpkg --compare-versions "$v" ge 23 || return 1
  [ -n "$(installed_version libvulkan1)" ]
}

have_chromium() { [ -n "$(installed_version chromium)" ] && [ -x /usr/bin/chromium ]; }

have_kit_tools() { command -v xz >/dev/null && [ -x /usr/bin/python3 ]; }

if have_backports_lavapipe && have_chromium && have_kit_tools && { [ $WITH_TORCH -eq 0 ] || [ -n "$(installed_version python3-torch)" ]; }; then
  echo "system packages already there: mesa-vulkan-drivers $(installed_version mesa-vulkan-drivers), chromium $(installed_version chromium); skipping apt"
  exit 0
fi

if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/lrdif-backports.list >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
$SUDO apt-get install -y -qq libvulkan1 >/dev/null
have_chromium || $SUDO apt-get install -y -qq chromium >/dev/null
have_kit_tools || $SUDO apt-get install -y -qq xz-utils python3 >/dev/null
if [ $WITH_TORCH -eq 1 ]; then
  $SUDO apt-get install -y -qq python3-torch python3-numpy >/dev/null
fi
echo "system packages ready: mesa-vulkan-drivers $(installed_version mesa-vulkan-drivers), chromium $(installed_version chromium); ICDs: $(ls /usr/share/vulkan/icd.d/ 2>/dev/null | tr '\n' ' ')"

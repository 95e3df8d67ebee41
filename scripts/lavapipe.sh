#!/bin/sh
# Mesa's lavapipe (Vulkan on the CPU) from Debian bookworm-backports, so that the WebGPU path runs on a machine
# without a GPU (npm run test:webgpu). WebGPU (Dawn) refuses bookworm's own Mesa 22.3 ("Vulkan
# shaderUniform*ArrayDynamicIndexing required"); Mesa 25 from backports is accepted.
# Exit 0: lavapipe is installed (or already was). Exit 1, with the reason: it cannot be installed here.
set -u
if [ "$(id -u)" != "0" ]; then
  echo "lavapipe: not installed (needs root for apt-get)"
  exit 1
fi
case "$(cat /etc/debian_version 2>/dev/null)" in
  12.*) ;;
  *)
    echo "lavapipe: not installed (this script knows Debian 12 (bookworm) only)"
    exit 1
    ;;
esac
installed=$(dpkg-query -W -f '${Version}' mesa-vulkan-drivers 2>/dev/null || true)
case "$installed" in
  *bpo12*) exit 0 ;;
esac
echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/sae-diff-backports.list
if ! apt-get update -qq > /tmp/sae-diff-lavapipe.log 2>&1 ||
  ! apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >> /tmp/sae-diff-lavapipe.log 2>&1; then
  echo "lavapipe: apt-get failed (see /tmp/sae-diff-lavapipe.log):"
  tail -n 5 /tmp/sae-diff-lavapipe.log
  exit 1
fi
echo "lavapipe: mesa-vulkan-drivers $(dpkg-query -W -f '${Version}' mesa-vulkan-drivers) installed"

#!/usr/bin/env bash
# Installs everything nfemu and upviz need to build, test and demo, from
# Debian 12 packages only. Safe to run again: does nothing when all is there.
set -euo pipefail

packages=(
  # toolchain and test frameworks
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev            # libFuzzer targets
  # nfemu
  libfmt-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libpcap-dev
  # the kernel oracle: namespaces, iptables-legacy, conntrack, captures
  iproute2 iptables ipset nfacct conntrack tcpdump python3   # python3: packet senders of the kernel checks
  time                                # bench/nfemu/bench-replay.sh: peak memory (/usr/bin/time -v)
  ethtool procps                      # nfemu verify: offloads off (final checksums in captures), sysctl
  # upviz
  libapt-pkg-dev zlib1g-dev libbz2-dev liblzma-dev liblz4-dev
  libcairo2-dev libpango1.0-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  fonts-noto-core fonts-noto-cjk fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 2; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Installs what runyard needs to build, test and run its examples on Debian 12.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

PACKAGES=(
  cmake ninja-build g++ pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libarchive-dev libspdlog-dev libboost1.81-dev libboost-filesystem1.81-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libsqlite3-dev nettle-dev
  libgtest-dev libgmock-dev libsystemd-dev
  # Packaging and operating: .deb files, unit checks, parsing /metrics in tests.
  dpkg-dev fakeroot systemd python3-prometheus-client
  python3 python3-numpy python3-venv python3-pip procps bubblewrap
  # Real training examples and tests: PyTorch (CPU) from Debian.
  python3-torch
  # The in-run API: log_image(plot=plt) in tests and the PyTorch example.
  python3-matplotlib
  # MPI runs (issue 16): mpirun and orted on every node, mpi4py for the e2e allreduce.
  openmpi-bin python3-mpi4py
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: recommends would pull libboost1.74-dev, which conflicts with 1.81.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

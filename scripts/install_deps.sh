#!/usr/bin/env bash
# Installs the Debian 12 packages that TokenService's build, tests and demo
# need, and nothing when they are all there already. Run as root (or with
# sudo available). Usage: scripts/install_deps.sh
set -euo pipefail

PACKAGES=(
  bazel-bootstrap          # Bazel 4.2.3
  g++                      # C++17 compiler (and its ASan/UBSan/TSan run-times)
  clang                    # clang 14, for the libFuzzer harnesses (fuzz/)
  libclang-rt-14-dev       # libFuzzer and clang's sanitizer run-times
  libgrpc++-dev            # gRPC 1.51 (with reflection)
  protobuf-compiler-grpc   # grpc_cpp_plugin
  protobuf-compiler        # protoc 3.21
  libprotobuf-dev          # protobuf runtime and well-known types
  grpc-proto               # grpc.health.v1 and grpc.reflection .proto files
  libabsl-dev              # Abseil 20220623
  libcurl4-openssl-dev     # HTTP transport to myPOS
  libssl-dev               # SHA-256 fingerprints, TLS
  libcpp-httplib-dev       # the fake myPOS server
  libgtest-dev             # GoogleTest 1.12
  libgmock-dev             # GoogleMock
  ca-certificates          # verifying myPOS over TLS
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "${package}" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("${package}")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then sudo=(sudo); fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

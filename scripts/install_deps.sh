#!/usr/bin/env bash
# Installs the Debian 12 packages that TokenService's build, tests and demo
# need, and nothing when they are all there already. Run as root (or with
# sudo available).
#
#   scripts/install_deps.sh               build, tests and demo
#   scripts/install_deps.sh --build-only  only what building needs (the
#                                         container image's build stage)
set -euo pipefail

build_only=0
case "${1:-}" in
  "") ;;
  --build-only) build_only=1 ;;
  *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

PACKAGES=(
  bazel-bootstrap          # Bazel 4.2.3
  g++                      # C++17 compiler (and its ASan/UBSan/TSan run-times)
  clang                    # clang 14, for the libFuzzer harnesses (fuzz/)
  clang-format-14          # the format check (scripts/check_format.sh)
  libclang-rt-14-dev       # libFuzzer and clang's sanitizer run-times
  libgrpc++-dev            # gRPC 1.51 (with reflection)
  protobuf-compiler-grpc   # grpc_cpp_plugin
  protobuf-compiler        # protoc 3.21
  libprotobuf-dev          # protobuf runtime and well-known types
  grpc-proto               # grpc.health.v1 and grpc.reflection .proto files
  golang-github-gogo-googleapis-dev  # google/rpc/status.proto, error_details.proto
  golang-etcd-server-dev   # etcd's v3 API .proto files (fleet mode's client,
                           # //proto:etcd_cc_grpc compiles them from there)
  golang-github-gogo-protobuf-dev  # the gogoproto options they import
  libabsl-dev              # Abseil 20220623
  libcurl4-openssl-dev     # HTTP transport to myPOS
  libssl-dev               # SHA-256 fingerprints, TLS
  libcpp-httplib-dev       # the fake myPOS server
  prometheus-cpp-dev       # the /metrics registry and text format (core)
  libgtest-dev             # GoogleTest 1.12
  libgmock-dev             # GoogleMock
  libbenchmark-dev         # Google Benchmark (bench/)
  ca-certificates          # verifying myPOS over TLS
  openssl                  # throwaway certificates for the client TLS tests
)

# The manifest test (tests/deploy/: kubectl renders the kustomizations, node
# validates them), the Node client tests (tests/node/) and promtool (the
# /metrics exposition and the alert rules, tests/deploy/). Each counts as
# present when its command is, whichever package brought it: Debian's nodejs
# (18) and npm (9), or a Node already on the machine (whose own npm would
# conflict with Debian's npm package).
TEST_TOOLS=(
  kubernetes-client:kubectl
  nodejs:node
  npm:npm
  prometheus:promtool
  etcd-server:etcd
)


missing=()
need_package() {
  if ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$1")
  fi
}
for package in "${PACKAGES[@]}"; do need_package "${package}"; done
if ((!build_only)); then
  for tool in "${TEST_TOOLS[@]}"; do
    if ! command -v "${tool#*:}" >/dev/null; then missing+=("${tool%%:*}"); fi
  done
fi

if ((${#missing[@]} == 0)); then
  echo "install_deps: all packages are installed"
  exit 0
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then sudo=(sudo); fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Writes throwaway PEM files for the TLS tests into $1: ca.pem, server.pem
# and server.key (127.0.0.1 and localhost), client.pem and client.key
# (CN test-client), and other_ca.pem (a CA that signed neither).
set -euo pipefail
out="$1"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${out}"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME CN
  key "${work}/$1.key"
  openssl req -x509 -new -key "${work}/$1.key" -out "${work}/$1.pem" -days 3650 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
leaf() {  # leaf NAME CN SERIAL EXTENSIONS
  key "${work}/$1.key"
  openssl req -new -key "${work}/$1.key" -out "${work}/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '%s\n' "$4" >"${work}/$1.ext"
  openssl x509 -req -in "${work}/$1.csr" -CA "${work}/ca.pem" -CAkey "${work}/ca.key" \
    -set_serial "$3" -days 3650 -extfile "${work}/$1.ext" -out "${work}/$1.pem" 2>/dev/null
}
ca ca test-ca
ca other_ca other-test-ca
leaf server localhost 2 "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client test-client 3 "extendedKeyUsage=clientAuth"
for f in ca.pem other_ca.pem server.pem server.key client.pem client.key; do
  cp "${work}/${f}" "${out}/${f}"
done

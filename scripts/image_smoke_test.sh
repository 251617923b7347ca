#!/usr/bin/env bash
# Builds the container image from deploy/Containerfile and runs it: the
# image's token_server, as the image's non-root user, with its credentials
# and flags mounted where the Kubernetes manifests put them, against the fake
# myPOS on 127.0.0.1; tokenctl gets a token through it. Prints
# "image_smoke_test: PASS" last, or a line starting with "FAIL:" and exits 1.
#
# No registry and no container engine is needed: Debian's buildah builds and
# runs the image with --isolation chroot, and when no debian:bookworm-slim
# image is stored yet, a minimal bookworm made with debootstrap stands in for
# it. Run as root (scripts/test.sh runs it; TOKENSERVICE_SKIP_IMAGE=1 skips it
# there).
#
# Environment:
#   TOKENSERVICE_IMAGE       image to build and run (default tokenservice:ci)
#   TOKENSERVICE_ROOTFS_DIR  where debootstrap's bookworm is kept between runs
#                            (default /var/cache/tokenservice/bookworm-minbase)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${TOKENSERVICE_IMAGE:-tokenservice:ci}"
ROOTFS_DIR="${TOKENSERVICE_ROOTFS_DIR:-/var/cache/tokenservice/bookworm-minbase}"
BASE_IMAGE="docker.io/library/debian:bookworm-slim"
MIRROR="http://deb.debian.org/debian"
IMAGE_UID=65532
SECRET="smoke-secret-$$-${RANDOM}"
export BUILDAH_ISOLATION=chroot

TMP="$(mktemp -d -t tokenservice-image-smoke.XXXXXX)"
containers=()
pids=()
spid=
keep_tmp=0

log() { echo "image_smoke_test: $*"; }
fail() {
  echo "FAIL: image_smoke_test: $*" >&2
  keep_tmp=1
  exit 1
}
cleanup() {
  if [[ -n "${spid:-}" ]]; then kill "${spid}" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
  for ctr in "${containers[@]}"; do buildah rm "${ctr}" >/dev/null 2>&1 || true; done
  if ((keep_tmp)); then
    echo "image_smoke_test: logs kept in ${TMP}" >&2
  else
    rm -rf "${TMP}"
  fi
}
trap cleanup EXIT

# --- 1. tools -------------------------------------------------------------
install_tools() {
  local missing=() package
  for package in buildah debootstrap; do
    dpkg-query -W -f='${Status}' "${package}" 2>/dev/null |
      grep -q "install ok installed" || missing+=("${package}")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
[[ "$(id -u)" == 0 ]] || fail "run as root (buildah and debootstrap need it)"
install_tools || fail "could not install buildah and debootstrap"

# --- 2. the base image ----------------------------------------------------
# Our stand-in for debian:bookworm-slim: debootstrap's minbase, trimmed the
# way the official slim image is (no docs, man pages or locales; apt lists
# emptied) and with the official image's apt sources, security included.
make_base_image() {
  if [[ ! -f "${ROOTFS_DIR}/etc/debian_version" ]]; then
    log "debootstrap --variant=minbase bookworm into ${ROOTFS_DIR}"
    rm -rf "${ROOTFS_DIR}.tmp"
    mkdir -p "$(dirname "${ROOTFS_DIR}")"
    debootstrap --variant=minbase bookworm "${ROOTFS_DIR}.tmp" "${MIRROR}" \
      >"${TMP}/debootstrap.log" 2>&1 ||
      { tail -n 20 "${TMP}/debootstrap.log" >&2; fail "debootstrap failed"; }
    mv "${ROOTFS_DIR}.tmp" "${ROOTFS_DIR}"
  fi
  log "importing ${ROOTFS_DIR} as ${BASE_IMAGE}"
  local ctr mnt
  ctr="$(buildah from scratch)"
  containers+=("${ctr}")
  mnt="$(buildah mount "${ctr}")"
  cp -a "${ROOTFS_DIR}/." "${mnt}/"
  rm -rf "${mnt}"/var/lib/apt/lists/* "${mnt}"/var/cache/apt/*.bin \
    "${mnt}"/usr/share/man/* "${mnt}"/usr/share/locale/* \
    "${mnt}"/usr/share/info/* "${mnt}/etc/apt/sources.list"
  find "${mnt}/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  cat >"${mnt}/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  cat >"${mnt}/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR}-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  buildah umount "${ctr}" >/dev/null
  buildah config --cmd bash \
    --label "org.opencontainers.image.description=debian:bookworm-slim stand-in made by scripts/image_smoke_test.sh from debootstrap --variant=minbase" \
    "${ctr}"
  buildah commit --quiet "${ctr}" "${BASE_IMAGE}" >/dev/null
}
start=${SECONDS}
if ! buildah inspect --type image "${BASE_IMAGE}" >/dev/null 2>&1; then
  make_base_image
fi
log "base image ${BASE_IMAGE} ready ($((SECONDS - start))s)"

# --- 3. build -------------------------------------------------------------
start=${SECONDS}
log "buildah bud -f deploy/Containerfile -t ${IMAGE} (log: ${TMP}/build.log)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
version="$(sed -n 's/.*kVersion\[\] = "\(.*\)";/\1/p' base/version.h)"
if ! buildah bud --isolation chroot --pull=never --layers --force-rm \
    --build-arg REVISION="${revision}" --build-arg VERSION="${version}" \
    -f deploy/Containerfile -t "${IMAGE}" . >"${TMP}/build.log" 2>&1; then
  tail -n 40 "${TMP}/build.log" >&2
  fail "the image did not build"
fi
build_seconds=$((SECONDS - start))
log "built ${IMAGE} in ${build_seconds}s"

# --- 4. the image's configuration -----------------------------------------
user="$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "${IMAGE}")"
entrypoint="$(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "${IMAGE}")"
[[ "${user}" == "${IMAGE_UID}:${IMAGE_UID}" ]] || fail "USER is \"${user}\", want ${IMAGE_UID}:${IMAGE_UID}"
[[ "${entrypoint}" == "[/usr/local/bin/token_server]" ]] ||
  fail "ENTRYPOINT is ${entrypoint}, want [/usr/local/bin/token_server]"
log "USER ${user}, ENTRYPOINT ${entrypoint}"
for label in title description version revision base.name; do
  value="$(buildah inspect --type image \
    --format "{{index .OCIv1.Config.Labels \"org.opencontainers.image.${label}\"}}" "${IMAGE}")"
  [[ -n "${value}" && "${value}" != "<no value>" ]] ||
    fail "no org.opencontainers.image.${label} label"
done
label_revision="$(buildah inspect --type image \
  --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.revision"}}' "${IMAGE}")"
[[ "${label_revision}" == "${revision}" ]] ||
  fail "org.opencontainers.image.revision is ${label_revision}, want ${revision}"
# The size docs/operations.md quotes: the uncompressed layers, as
# `buildah images` shows them.
log "image size $(buildah images --format '{{.Size}}' "${IMAGE}" | head -n 1)," \
  "OCI labels present (revision ${label_revision})"

ctr="$(buildah from --pull=never "${IMAGE}")"
containers+=("${ctr}")
in_image() { buildah run --isolation chroot "${ctr}" -- "$@"; }
in_image sh -c 'ldd /usr/local/bin/token_server /usr/local/bin/tokenctl' >"${TMP}/ldd.txt" ||
  fail "ldd failed in the image"
if grep -q "not found" "${TMP}/ldd.txt"; then
  grep "not found" "${TMP}/ldd.txt" >&2
  fail "the image lacks shared libraries"
fi
in_image test -s /etc/ssl/certs/ca-certificates.crt || fail "no CA bundle in the image"
# shellcheck disable=SC2016  # expanded by the image's shell
in_image sh -c 'for t in bazel g++ gcc protoc java; do
  if command -v "$t"; then exit 1; fi; done' || fail "build tools in the runtime image"
log "runtime image: every library present, CA bundle present, no build tools"
reported="$(in_image /usr/local/bin/token_server --version)" ||
  fail "token_server --version failed in the image"
[[ "${reported}" == "token_server ${version} (commit ${revision})" ]] ||
  fail "token_server --version says \"${reported}\", want version ${version}, commit ${revision}"
log "${reported}"

# --- 5. run it against the fake myPOS -------------------------------------
bazel build //fake_mypos //client:tokenctl >"${TMP}/bazel.log" 2>&1 ||
  { tail -n 20 "${TMP}/bazel.log" >&2; fail "bazel build of the fake and tokenctl failed"; }
BIN="$(bazel info bazel-bin 2>/dev/null)"

wait_for_file() {  # path, pid that must stay alive
  for _ in $(seq 300); do
    [[ -s "$1" ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

"${BIN}/fake_mypos/fake_mypos" --port_file="${TMP}/fake.port" \
  --client_id=smoke-client --client_secret="${SECRET}" >"${TMP}/fake.log" 2>&1 &
pids+=($!)
wait_for_file "${TMP}/fake.port" "$!" || fail "the fake myPOS did not start"
FAKE="http://127.0.0.1:$(cat "${TMP}/fake.port")"

# As the Deployment mounts them: the Secret's files readable by the group,
# the ConfigMap's flag file, read-only. The secrets go to /run/secrets/mypos,
# which the server reads as /var/run/secrets/mypos (a symlink in the image):
# buildah 1.28's chroot isolation would resolve /var/run on the host.
mkdir -p "${TMP}/secrets" "${TMP}/run"
printf 'smoke-client\n' >"${TMP}/secrets/client_id"
printf '%s\n' "${SECRET}" >"${TMP}/secrets/client_secret"
chgrp -R "${IMAGE_UID}" "${TMP}/secrets"
chmod 0750 "${TMP}/secrets"
chmod 0440 "${TMP}/secrets"/*
chown "${IMAGE_UID}:${IMAGE_UID}" "${TMP}/run"

buildah run --isolation chroot \
  -v "${TMP}/secrets:/run/secrets/mypos:ro" \
  -v "${PWD}/deploy/base/token_server.flags:/etc/tokenservice/token_server.flags:ro" \
  -v "${TMP}/run:/run/smoke" \
  "${ctr}" -- /usr/local/bin/token_server \
  --flagfile=/etc/tokenservice/token_server.flags \
  --listen=127.0.0.1:0 --port_file=/run/smoke/port \
  --client_id_file=/var/run/secrets/mypos/client_id \
  --client_secret_file=/var/run/secrets/mypos/client_secret \
  --token_url="${FAKE}/oauth/token" --revoke_url="${FAKE}/oauth/revoke" \
  >"${TMP}/server.log" 2>&1 &
run_pid=$!
pids+=("${run_pid}")
if ! wait_for_file "${TMP}/run/port" "${run_pid}"; then
  cat "${TMP}/server.log" >&2
  fail "the image's token_server did not start"
fi
TARGET="127.0.0.1:$(cat "${TMP}/run/port")"

# The server process (buildah runs it in the host's PID namespace) among the
# descendants of `buildah run`.
server_pid() {
  local parents=("$1") found=1 stat pid ppid
  while ((found)); do
    found=0
    for stat in /proc/[0-9]*/stat; do
      pid="${stat#/proc/}"; pid="${pid%/stat}"
      ppid="$(sed 's/.*) //' "${stat}" 2>/dev/null | cut -d' ' -f2)" || continue
      if [[ " ${parents[*]} " == *" ${ppid} "* && " ${parents[*]} " != *" ${pid} "* ]]; then
        parents+=("${pid}")
        found=1
        if [[ "$(cat "/proc/${pid}/comm" 2>/dev/null)" == token_server ]]; then
          echo "${pid}"
          return 0
        fi
      fi
    done
  done
  return 1
}
spid="$(server_pid "${run_pid}")" || fail "cannot find the token_server process"
uids="$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/${spid}/status")"
gids="$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/${spid}/status")"
caps="$(awk '/^CapEff:/ {print $2}' "/proc/${spid}/status")"
want="${IMAGE_UID} ${IMAGE_UID} ${IMAGE_UID} ${IMAGE_UID}"
[[ "${uids}" == "${want}" ]] || fail "token_server runs with uids ${uids}, want ${want}"
[[ "${gids}" == "${want}" ]] || fail "token_server runs with gids ${gids}, want ${want}"
[[ "${caps}" =~ ^0+$ ]] || fail "token_server has capabilities ${caps}"
log "token_server (pid ${spid}) serves ${TARGET} as uid/gid ${IMAGE_UID}, no capabilities"

ctl() { "${BIN}/client/tokenctl" --target="${TARGET}" "$@"; }
ctl health | grep -qx "status: SERVING" || fail "health is not SERVING"
ctl health --service=mypos.token.v1.TokenService | grep -qx "status: SERVING" ||
  fail "mypos.token.v1.TokenService is not SERVING"
ctl --json issue --scopes=webhooks >"${TMP}/first.json" || fail "issue failed"
ctl --json issue --scopes=webhooks >"${TMP}/second.json" || fail "second issue failed"
token="$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "${TMP}/first.json")"
fp="$(sed -n 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/p' "${TMP}/first.json")"
[[ -n "${token}" && -n "${fp}" ]] || fail "issue returned no token"
grep -q '"cached":true' "${TMP}/second.json" || fail "the second issue was not cached"
log "issued a token from the fake myPOS through the image (fingerprint ${fp}), then from its cache"
ctl revoke --fingerprint="${fp}" | grep -qx "was_cached: true" || fail "revoke failed"
log "revoked it"

# The image's own tokenctl, from a second container of the image.
ctr2="$(buildah from --pull=never "${IMAGE}")"
containers+=("${ctr2}")
buildah run --isolation chroot "${ctr2}" -- /usr/local/bin/tokenctl \
  --target="${TARGET}" health | grep -qx "status: SERVING" ||
  fail "the image's tokenctl cannot check health"
log "the image's tokenctl works"

# --- 6. SIGTERM drains and exits 0 ----------------------------------------
kill -TERM "${spid}"
set +e
wait "${run_pid}"
code=$?
set -e
[[ ${code} == 0 ]] || { cat "${TMP}/server.log" >&2; fail "token_server exited ${code} after SIGTERM"; }
grep -q '"event":"server_stopped"' "${TMP}/server.log" || fail "no server_stopped log line"
if grep -qF -e "${SECRET}" -e "${token}" "${TMP}/server.log"; then
  fail "a secret or token in the server's log"
fi
log "SIGTERM: drained and exited 0; no secret or token in its log"
log "PASS (image build ${build_seconds}s)"

#!/usr/bin/env bash
# Renders deploy/base and every deploy/overlays/*/ with `kubectl kustomize`,
# then checks every rendered object (and the Secret examples) against the
# Kubernetes API schema and the properties the deployment relies on
# (check_manifests.js), and proves that those checks catch broken manifests
# (check_manifests_mutation_test.js).
#
# kubectl and node come from the PATH; the npm packages from `npm ci` in this
# folder of the source tree (package-lock.json is an input of this test, so a
# change to it reruns it).
set -euo pipefail

RUNFILES="${TEST_SRCDIR}/${TEST_WORKSPACE}"
HERE="${RUNFILES}/tests/deploy"
fail() { echo "FAIL: $*" >&2; exit 1; }

for tool in kubectl node; do
  command -v "${tool}" >/dev/null ||
    fail "${tool} is not on the PATH (bash scripts/install_deps.sh installs it)"
done
# node resolves packages next to the real (not the runfiles) script.
source_dir="$(dirname "$(readlink -f "${HERE}/package.json")")"
[[ -d "${source_dir}/node_modules/kubernetes-models" ]] ||
  fail "no ${source_dir}/node_modules: run npm ci --prefix tests/deploy" \
       "(bash scripts/test.sh does)"

# kustomize gets plain files, not the runfiles tree's symlinks.
work="${TEST_TMPDIR}/deploy"
cp -rL "${RUNFILES}/deploy" "${work}"
render() {
  if ! kubectl kustomize "${work}/$1" >"${TEST_TMPDIR}/$2.yaml" \
      2>"${TEST_TMPDIR}/$2.err"; then
    cat "${TEST_TMPDIR}/$2.err" >&2
    fail "kubectl kustomize deploy/$1 failed"
  fi
}
render base base
sets=("base=${TEST_TMPDIR}/base.yaml")
for dir in "${work}"/overlays/*/; do
  name="$(basename "${dir}")"
  render "overlays/${name}" "overlay-${name}"
  sets+=("overlays/${name}=${TEST_TMPDIR}/overlay-${name}.yaml")
done
echo "rendered with $(kubectl version --client 2>/dev/null | head -n 1)"

args=(
  --containerfile="${work}/Containerfile"
  --secret_example="${work}/base/secret.example.yaml"
)
# The overlays' Secret examples (overlays/fleet): checked, never rendered.
for example in "${work}"/overlays/*/*.example.yaml; do
  if [[ -e "${example}" ]]; then args+=("--example=${example}"); fi
done
args+=("${sets[@]}")
status=0
node "${HERE}/check_manifests.js" "${args[@]}" || status=1
node "${HERE}/check_manifests_mutation_test.js" "${args[@]}" || status=1
exit "${status}"

#!/usr/bin/env bash
# The alert rules of deploy/overlays/prometheus-operator/prometheusrule.yaml,
# checked by promtool: its spec.groups is extracted into a plain rule file,
# which `promtool check rules` must accept and `promtool test rules` must
# pass with alert_rules_test.yaml.
#
# promtool (Debian's prometheus package) and node come from the PATH; the
# yaml package from `npm ci` in this folder of the source tree.
set -euo pipefail

RUNFILES="${TEST_SRCDIR}/${TEST_WORKSPACE}"
HERE="${RUNFILES}/tests/deploy"
fail() { echo "FAIL: $*" >&2; exit 1; }

for tool in promtool node; do
  command -v "${tool}" >/dev/null ||
    fail "${tool} is not on the PATH (bash scripts/install_deps.sh installs it)"
done
source_dir="$(dirname "$(readlink -f "${HERE}/package.json")")"
[[ -d "${source_dir}/node_modules/yaml" ]] ||
  fail "no ${source_dir}/node_modules: run npm ci --prefix tests/deploy" \
       "(bash scripts/test.sh does)"

work="${TEST_TMPDIR}/rules"
mkdir -p "${work}"
cp "${HERE}/alert_rules_test.yaml" "${work}/"
node -e '
  const [modules, from, to] = process.argv.slice(1);
  const fs = require("fs");
  const YAML = require(`${modules}/yaml`);
  const rule = YAML.parse(fs.readFileSync(from, "utf8"));
  if (rule.kind !== "PrometheusRule" || !rule.spec || !rule.spec.groups) {
    throw new Error(`${from} is no PrometheusRule with spec.groups`);
  }
  fs.writeFileSync(to, YAML.stringify({groups: rule.spec.groups}));
' "${source_dir}/node_modules" \
  "${RUNFILES}/deploy/overlays/prometheus-operator/prometheusrule.yaml" \
  "${work}/tokenservice.rules.yaml"

echo "with $(promtool --version 2>&1 | head -n 1)"
promtool check rules "${work}/tokenservice.rules.yaml" ||
  fail "promtool check rules rejected the rules"
promtool test rules "${work}/alert_rules_test.yaml" ||
  fail "promtool test rules failed"

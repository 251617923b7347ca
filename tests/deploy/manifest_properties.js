'use strict';
// The properties TokenService's deployment relies on, checked on one set of
// rendered objects (a kustomization's output). Each check reports through
// `report(ok, what, detail)`. Used by check_manifests.js.

const READINESS_SERVICE = 'mypos.token.v1.TokenService';
const DEFAULT_SHUTDOWN_GRACE_S = 20;  // server/main.cc --shutdown_grace
const DEFAULT_DRAIN_DELAY_S = 5;  // server/main.cc --drain_delay
// What the kubelet must wait beyond --drain_delay + --shutdown_grace before
// it kills the container: when the grace ends the server answers the calls
// still open within 1 s (kAnswerMargin in server/token_server.h) and ends
// its requests to myPOS at once; the rest is headroom for the exit itself.
const SHUTDOWN_MARGIN_S = 10;
const EGRESS_ALLOWED = new Set(['53/UDP', '53/TCP', '443/TCP']);

// absl duration text ("20s", "1m30s", "500ms") in seconds; NaN otherwise.
function parseDuration(text) {
  const units = {h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9};
  const re = /(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)/gy;
  let total = 0;
  let end = 0;
  for (let m; (m = re.exec(text)) !== null; end = re.lastIndex) {
    total += Number(m[1]) * units[m[2]];
  }
  return end === text.length && end > 0 ? total : NaN;
}

// A Kubernetes quantity ("100m", "1", "64Mi", "1G") as a number.
function parseQuantity(text) {
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(text));
  if (!m) return NaN;
  const scale = {m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12,
                 Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40};
  return Number(m[1]) * (m[2] ? scale[m[2]] : 1);
}

// The runtime stage's USER and ENTRYPOINT from the Containerfile.
function imageConfig(containerfile) {
  const last = (re) => {
    const all = [...containerfile.matchAll(re)];
    return all.length ? all[all.length - 1][1].trim() : undefined;
  };
  // The runtime stage's LABELs: everything after the last FROM.
  const runtime = containerfile.slice(containerfile.lastIndexOf('\nFROM '));
  const labels = [...runtime.matchAll(/(org\.opencontainers\.image\.[a-z.]+)=/g)]
      .map((m) => m[1]);
  return {user: last(/^USER\s+(.*)$/gm), entrypoint: last(/^ENTRYPOINT\s+(.*)$/gm),
          labels};
}

// The OCI annotations the image carries (image-spec annotations.md).
const OCI_LABELS = ['title', 'description', 'version', 'revision', 'base.name']
    .map((l) => `org.opencontainers.image.${l}`);

function checkImage(image, report) {
  report(/^\d+(:\d+)?$/.test(image.user || '') && Number(image.user.split(':')[0]) > 0,
         'Containerfile: USER is a numeric non-root user', image.user);
  report(/^\["[^"]*\/token_server"\]$/.test(image.entrypoint || ''),
         'Containerfile: the entrypoint is token_server', image.entrypoint);
  const missing = OCI_LABELS.filter((l) => !(image.labels || []).includes(l));
  report(missing.length === 0, 'Containerfile: the image has the OCI labels',
         `missing ${missing.join(', ')}`);
}

// "HOST:PORT" (HOST may be "[::]") as {host, port}; null when malformed.
function hostPort(address) {
  const m = /^(.*):(\d+)$/.exec(address || '');
  return m ? {host: m[1], port: Number(m[2])} : null;
}

// A host the kubelet and Prometheus cannot reach from outside the pod.
function isLoopback(host) {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|::1)$/.test(host);
}

function selects(selector, labels) {
  const wanted = Object.entries((selector || {}).matchLabels || {});
  return wanted.length > 0 && wanted.every(([k, v]) => (labels || {})[k] === v);
}

// --name=value flags of a container: its args, with --flagfile expanded from
// the ConfigMap mounted at that path. Returns {flags: Map, problems: []}.
function containerFlags(pod, container, byKind) {
  const flags = new Map();
  const problems = [];
  const add = (arg, where) => {
    const m = /^--([a-z_]+)=(.*)$/.exec(arg.trim());
    if (!m) return;
    if (flags.has(m[1])) problems.push(`--${m[1]} set twice (${where})`);
    flags.set(m[1], m[2]);
  };
  for (const arg of container.args || []) {
    const file = /^--flagfile=(.*)$/.exec(arg);
    if (!file) { add(arg, 'args'); continue; }
    const mount = (container.volumeMounts || []).find(
        (vm) => file[1].startsWith(vm.mountPath + '/'));
    const volume = mount && (pod.volumes || []).find((v) => v.name === mount.name);
    const name = volume && volume.configMap && volume.configMap.name;
    const map = (byKind.ConfigMap || []).find((c) => c.metadata.name === name);
    const key = mount && file[1].slice(mount.mountPath.length + 1);
    if (!map || !(map.data || {})[key]) {
      problems.push(`--flagfile=${file[1]} is not a key of a rendered ConfigMap`);
      continue;
    }
    for (const line of map.data[key].split('\n')) {
      if (!line.trim().startsWith('#')) add(line, `${name}/${key}`);
    }
  }
  return {flags, problems};
}

function secretExample(objects, report) {
  const secret = objects.find((o) => o.kind === 'Secret');
  report(objects.length === 1 && !!secret,
         'secret.example.yaml holds one Secret');
  const values = Object.entries((secret && secret.stringData) || {});
  report(values.length > 0 && values.every(([, v]) => /^REPLACE_WITH_/.test(v)) &&
         !(secret && secret.data),
         'secret.example.yaml holds placeholders only');
  return {name: secret && secret.metadata.name,
          keys: values.map(([k]) => k)};
}

function checkDeployment(set, d, byKind, context, report) {
  const spec = d.spec || {};
  const pod = (spec.template || {}).spec || {};
  const podLabels = ((spec.template || {}).metadata || {}).labels;
  const c = (pod.containers || [])[0] || {};
  const check = (ok, what, detail) => report(ok, `${set}: Deployment ${what}`, detail);

  // The base runs two; an overlay may run more, never fewer.
  check(set === 'base' ? spec.replicas === 2 : spec.replicas >= 2,
        set === 'base' ? 'runs 2 replicas' : 'runs at least 2 replicas',
        `replicas: ${spec.replicas}`);
  check(selects(spec.selector, podLabels), 'selector matches its pod labels');
  check((pod.containers || []).length === 1, 'has one container');

  const port = (c.ports || []).find((p) => p.name === 'grpc');
  const grpcPort = port && port.containerPort;
  check(!!port && port.protocol !== 'UDP', 'container has a TCP port named grpc');
  const ready = (c.readinessProbe || {}).grpc;
  check(!!ready && ready.port === grpcPort && ready.service === READINESS_SERVICE,
        `readiness probe is gRPC health of ${READINESS_SERVICE} on the grpc port`,
        JSON.stringify(c.readinessProbe));
  const live = (c.livenessProbe || {}).grpc;
  check(!!live && live.port === grpcPort && !live.service,
        'liveness probe is gRPC health ("") on the grpc port',
        JSON.stringify(c.livenessProbe));

  const {flags, problems} = containerFlags(pod, c, byKind);
  check(problems.length === 0, 'flags resolve, each set once', problems.join('; '));
  // Every port the Deployment advertises must be one the server listens on,
  // on an address reachable from outside the pod.
  const listen = hostPort(flags.get('listen'));
  check(!!listen && listen.port === grpcPort, '--listen uses the grpc port',
        `--listen=${flags.get('listen')}, grpc containerPort ${grpcPort}`);
  check(!!listen && !isLoopback(listen.host),
        '--listen is reachable from outside the pod', `--listen=${flags.get('listen')}`);
  const metrics = (c.ports || []).find((p) => p.name === 'metrics');
  const metricsPort = metrics && metrics.containerPort;
  check(!!metrics && metrics.protocol !== 'UDP',
        'container has a TCP port named metrics');
  const admin = hostPort(flags.get('admin_listen'));
  check(!!admin && admin.port === metricsPort,
        '--admin_listen uses the metrics port (/metrics and /healthz are served)',
        `--admin_listen=${flags.get('admin_listen')}, metrics containerPort ${metricsPort}`);
  check(!!admin && !isLoopback(admin.host),
        '--admin_listen is reachable from outside the pod',
        `--admin_listen=${flags.get('admin_listen')}`);
  const annotations = ((spec.template || {}).metadata || {}).annotations || {};
  if (annotations['prometheus.io/port'] !== undefined) {
    check(Number(annotations['prometheus.io/port']) === metricsPort,
          'prometheus.io/port annotation names the metrics port',
          `prometheus.io/port ${annotations['prometheus.io/port']}, metrics containerPort ${metricsPort}`);
  }

  const r = c.resources || {};
  const both = ['cpu', 'memory'].every((k) =>
    (r.requests || {})[k] !== undefined && (r.limits || {})[k] !== undefined &&
    parseQuantity(r.requests[k]) <= parseQuantity(r.limits[k]));
  check(both, 'sets cpu and memory requests no larger than limits', JSON.stringify(r));

  const podSc = pod.securityContext || {};
  const sc = c.securityContext || {};
  const eff = (k) => (sc[k] !== undefined ? sc[k] : podSc[k]);
  const imageUid = Number(String(context.image.user || '').split(':')[0]);
  check(eff('runAsNonRoot') === true, 'runs with runAsNonRoot');
  check(Number.isInteger(imageUid) && imageUid > 0 && eff('runAsUser') === imageUid,
        `runs as the image's numeric non-root user`,
        `runAsUser ${eff('runAsUser')}, Containerfile USER ${context.image.user}`);
  check(sc.readOnlyRootFilesystem === true, 'has a read-only root filesystem');
  check(sc.allowPrivilegeEscalation === false && sc.privileged !== true,
        'forbids privilege escalation');
  const caps = sc.capabilities || {};
  check((caps.drop || []).includes('ALL') && (caps.add || []).length === 0,
        'drops all capabilities', JSON.stringify(caps));
  check((eff('seccompProfile') || {}).type === 'RuntimeDefault',
        'uses the RuntimeDefault seccomp profile');
  check(pod.automountServiceAccountToken === false,
        'mounts no service account token');
  const account = (byKind.ServiceAccount || []).find(
      (a) => a.metadata.name === pod.serviceAccountName);
  check(!!account && account.automountServiceAccountToken === false,
        'runs as a ServiceAccount of its own that mounts no token',
        `serviceAccountName ${pod.serviceAccountName}`);
  const spreadKeys = (pod.topologySpreadConstraints || [])
      .filter((t) => selects(t.labelSelector, podLabels))
      .map((t) => t.topologyKey);
  check(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']
            .every((k) => spreadKeys.includes(k)),
        'spreads its pods over zones and nodes', spreadKeys.join(', '));

  const seconds = (name, fallback) =>
    flags.has(name) ? parseDuration(flags.get(name)) : fallback;
  const drain = seconds('drain_delay', DEFAULT_DRAIN_DELAY_S);
  const grace = seconds('shutdown_grace', DEFAULT_SHUTDOWN_GRACE_S);
  check(pod.terminationGracePeriodSeconds >= drain + grace + SHUTDOWN_MARGIN_S,
        `termination grace is at least --drain_delay + --shutdown_grace + ` +
        `${SHUTDOWN_MARGIN_S}s`,
        `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < ` +
        `${drain}s + ${grace}s + ${SHUTDOWN_MARGIN_S}s`);
  // While it drains the pod is NOT_SERVING but still accepts: a load
  // balancer that follows the readiness probe rather than the endpoints
  // (which drop a terminating pod at once) sees it fail failureThreshold
  // times before the port closes.
  const rp = c.readinessProbe || {};
  check((rp.failureThreshold || 3) * (rp.periodSeconds || 10) <= drain,
        'readiness fails before the drain ends',
        `${rp.failureThreshold || 3} x ${rp.periodSeconds || 10}s > ` +
        `--drain_delay ${drain}s`);
  const lp = c.livenessProbe || {};
  check((lp.failureThreshold || 3) * (lp.periodSeconds || 10) >= drain + grace,
        'liveness tolerates a whole drain', JSON.stringify(lp));

  const secretVolume = (pod.volumes || []).find((v) => v.secret);
  const mount = secretVolume &&
      (c.volumeMounts || []).find((m) => m.name === secretVolume.name);
  const readsSecret = ['client_id_file', 'client_secret_file'].every((f) =>
    mount && flags.get(f) &&
    context.secret.keys.includes(flags.get(f).slice(mount.mountPath.length + 1)) &&
    flags.get(f).startsWith(mount.mountPath + '/'));
  check(readsSecret && secretVolume.secret.secretName === context.secret.name,
        'reads the credentials from the Secret volume of secret.example.yaml');
  const mode = secretVolume && secretVolume.secret.defaultMode;
  check(mode !== undefined && (mode & 0o007) === 0,
        'Secret volume files are not world-readable', `defaultMode ${mode}`);
  const envSecret = (c.env || []).some((e) => /SECRET/.test(e.name) && e.value);
  check(!envSecret, 'puts no secret in a plain env value');
  return {podLabels, grpcPort, metricsPort, replicas: spec.replicas};
}

function checkService(set, svc, dep, report) {
  const port = ((svc.spec || {}).ports || []).find((p) => p.name === 'grpc');
  report(!!port && (port.targetPort === 'grpc' || port.targetPort === dep.grpcPort),
         `${set}: Service has a port named grpc to the container's grpc port`);
  report(selects({matchLabels: (svc.spec || {}).selector}, dep.podLabels),
         `${set}: Service selects the Deployment's pods`);
}

function checkPdb(set, pdb, dep, report) {
  const spec = pdb.spec || {};
  report(selects(spec.selector, dep.podLabels),
         `${set}: PodDisruptionBudget selects the Deployment's pods`);
  report(spec.minAvailable >= 1 && spec.minAvailable < dep.replicas,
         `${set}: PodDisruptionBudget keeps one replica and allows drains`,
         `minAvailable ${spec.minAvailable}, replicas ${dep.replicas}`);
}

function checkNetworkPolicy(set, np, dep, report) {
  const spec = np.spec || {};
  const check = (ok, what, detail) => report(ok, `${set}: NetworkPolicy ${what}`, detail);
  check(selects(spec.podSelector, dep.podLabels), "selects the Deployment's pods");
  const types = spec.policyTypes || [];
  check(types.includes('Ingress') && types.includes('Egress'),
        'governs ingress and egress');
  const ingress = spec.ingress || [];
  const nonEmpty = (selector) => !!selector &&
      (Object.keys(selector.matchLabels || {}).length > 0 ||
       (selector.matchExpressions || []).length > 0);
  const labelled = (peer) => !peer.ipBlock && nonEmpty(peer.podSelector);
  const onPort = (rule, names) => (rule.ports || []).length > 0 &&
      rule.ports.every((p) => names.includes(p.port));
  const grpcRules = ingress.filter((r) => onPort(r, ['grpc', dep.grpcPort]));
  const metricsRules = ingress.filter((r) => onPort(r, ['metrics', dep.metricsPort]));
  check(ingress.length === grpcRules.length + metricsRules.length,
        'admits only the grpc and metrics ports', JSON.stringify(ingress));
  check(grpcRules.length > 0 && ingress.every((rule) =>
          (rule.from || []).length > 0 && rule.from.every(labelled)),
        'admits only labelled pods', JSON.stringify(ingress));
  // Prometheus, from one namespace: the metrics are unauthenticated.
  check(metricsRules.length > 0 && metricsRules.every((rule) =>
          rule.from.every((peer) => nonEmpty(peer.namespaceSelector))),
        'admits the metrics port from a Prometheus namespace only',
        JSON.stringify(metricsRules));
  const egress = (spec.egress || []).flatMap((rule) =>
    (rule.ports || [{port: 'any'}]).map((p) => `${p.port}/${p.protocol || 'TCP'}`));
  check(egress.length > 0 && egress.every((p) => EGRESS_ALLOWED.has(p)) &&
        [...EGRESS_ALLOWED].every((p) => egress.includes(p)),
        'lets out DNS (53 UDP and TCP) and HTTPS (443) only', egress.join(', '));
}

// A PodMonitor (overlays/prometheus-operator) must scrape the pods' /metrics
// on the port the server serves it.
function checkPodMonitor(set, pm, dep, report) {
  const spec = pm.spec || {};
  const check = (ok, what, detail) => report(ok, `${set}: PodMonitor ${what}`, detail);
  check(selects(spec.selector, dep.podLabels), "selects the Deployment's pods");
  const endpoints = spec.podMetricsEndpoints || [];
  check(endpoints.length > 0 && endpoints.every((e) =>
          e.port === 'metrics' && (e.path || '/metrics') === '/metrics'),
        'scrapes /metrics on the port named metrics', JSON.stringify(endpoints));
}

// Checks one rendered kustomization. `context` holds the image's config and
// the Secret example's name and keys.
function checkSet(set, objects, context, report) {
  const byKind = {};
  for (const o of objects) (byKind[o.kind] = byKind[o.kind] || []).push(o);
  for (const kind of ['Deployment', 'Service', 'ConfigMap',
                      'PodDisruptionBudget', 'NetworkPolicy', 'ServiceAccount']) {
    report((byKind[kind] || []).length === 1, `${set}: renders one ${kind}`);
  }
  report(!byKind.Secret, `${set}: renders no Secret (created out of band)`);
  if (!byKind.Deployment) return;
  const dep = checkDeployment(set, byKind.Deployment[0], byKind, context, report);
  for (const svc of byKind.Service || []) checkService(set, svc, dep, report);
  for (const pdb of byKind.PodDisruptionBudget || []) checkPdb(set, pdb, dep, report);
  for (const np of byKind.NetworkPolicy || []) checkNetworkPolicy(set, np, dep, report);
  for (const pm of byKind.PodMonitor || []) checkPodMonitor(set, pm, dep, report);
  const ns = (byKind.Namespace || [])[0];
  if (ns) {
    const namespaced = objects.filter((o) => o.kind !== 'Namespace');
    report(namespaced.every((o) => o.metadata.namespace === ns.metadata.name),
           `${set}: every object is in namespace ${ns.metadata.name}`);
    report((ns.metadata.labels || {})['pod-security.kubernetes.io/enforce'] ===
           'restricted', `${set}: the namespace enforces the restricted pod security standard`);
  }
}

module.exports = {checkImage, checkSet, imageConfig, parseDuration, parseQuantity,
                  secretExample};

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

// A NetworkPolicy peer that is pods of the policy's own namespace, chosen by
// labels (not an address block, not other namespaces).
function samePods(peer) {
  const s = peer.podSelector || {};
  return !peer.ipBlock && !peer.namespaceSelector &&
      (Object.keys(s.matchLabels || {}).length > 0 || (s.matchExpressions || []).length > 0);
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

  // The Secret volume --client_id_file is in (an overlay's patch may add
  // Secret volumes of its own, and kustomize puts them first).
  const mount = (c.volumeMounts || []).find((m) => flags.get('client_id_file') &&
      flags.get('client_id_file').startsWith(m.mountPath + '/'));
  const secretVolume = mount &&
      (pod.volumes || []).find((v) => v.name === mount.name && v.secret);
  const readsSecret = ['client_id_file', 'client_secret_file'].every((f) =>
    mount && flags.get(f) &&
    context.secret.keys.includes(flags.get(f).slice(mount.mountPath.length + 1)) &&
    flags.get(f).startsWith(mount.mountPath + '/'));
  check(readsSecret && !!secretVolume &&
        secretVolume.secret.secretName === context.secret.name,
        'reads the credentials from the Secret volume of secret.example.yaml');
  const modes = (pod.volumes || []).filter((v) => v.secret)
      .map((v) => v.secret.defaultMode);
  check(modes.length > 0 && modes.every((m) => m !== undefined && (m & 0o007) === 0),
        'Secret volume files are not world-readable', `defaultMode ${modes.join(', ')}`);
  const envSecret = (c.env || []).some((e) => /SECRET/.test(e.name) && e.value);
  check(!envSecret, 'puts no secret in a plain env value');
  return {podLabels, grpcPort, metricsPort, replicas: spec.replicas, flags, pod,
          container: c};
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

function checkNetworkPolicy(set, np, dep, fleet, report) {
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
  // Fleet mode: etcd's client port too, to etcd's member pods only.
  const toEtcd = (rule, p) => !!fleet && (rule.to || []).length > 0 &&
      rule.to.every((peer) => samePods(peer) &&
                              selects(peer.podSelector, fleet.memberLabels)) &&
      [fleet.clientPort, fleet.clientPortName].includes(p.port) &&
      (p.protocol || 'TCP') === 'TCP';
  const egress = (spec.egress || []).flatMap((rule) =>
    (rule.ports || [{port: 'any'}]).map((p) =>
      toEtcd(rule, p) ? 'etcd' : `${p.port}/${p.protocol || 'TCP'}`));
  check(egress.length > 0 &&
        egress.every((p) => EGRESS_ALLOWED.has(p) || p === 'etcd') &&
        [...EGRESS_ALLOWED].every((p) => egress.includes(p)),
        `lets out DNS (53 UDP and TCP) and HTTPS (443)` +
        `${fleet ? " and etcd's client port (to etcd's pods)" : ''} only`,
        egress.join(', '));
  if (fleet) {
    check(egress.includes('etcd'), "lets TokenService out to etcd's client port",
          egress.join(', '));
  }
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

// ---- Fleet mode (overlays/fleet): a Deployment with --etcd_endpoints, and
// etcd's objects, labelled app.kubernetes.io/name: etcd, in the same set.

const DEFAULT_ETCD_PREFIX = '/tokenservice/';  // server/config/fleet_config.cc

function isEtcd(object) {
  return ((object.metadata || {}).labels || {})['app.kubernetes.io/name'] === 'etcd';
}

// The overlays' Secret examples (*.example.yaml): Secrets only, every value a
// REPLACE_WITH_ placeholder but `active`, which names a key (--fleet_keys_dir).
// Returns Map(secret name -> its keys).
function overlayExamples(examples, report) {
  const keys = new Map();
  for (const {name, objects} of examples) {
    const secrets = objects.filter((o) => o.kind === 'Secret');
    report(secrets.length > 0 && secrets.length === objects.length,
           `${name} holds Secrets only`);
    const problems = [];
    for (const s of secrets) {
      const data = s.stringData || {};
      if (s.data || Object.keys(data).length === 0) {
        problems.push(`${s.metadata.name}: no stringData, or data`);
      }
      for (const [k, v] of Object.entries(data)) {
        const ok = k === 'active' ? v !== 'active' && data[v] !== undefined
                                  : /^REPLACE_WITH_/.test(v);
        if (!ok) problems.push(`${s.metadata.name}: ${k}`);
      }
      keys.set(s.metadata.name, Object.keys(data));
    }
    report(problems.length === 0,
           `${name} holds placeholders only (and \`active\` names one of its keys)`,
           problems.join('; '));
  }
  return keys;
}

// Why `file` is not a key of a read-only Secret volume of `pod` whose Secret
// has an example with that key; '' when it is.
function secretFileProblem(pod, container, file, examples) {
  if (!file) return 'not set';
  const mount = (container.volumeMounts || []).find(
      (m) => file.startsWith(m.mountPath + '/'));
  const volume = mount && (pod.volumes || []).find((v) => v.name === mount.name);
  if (!volume || !volume.secret) return `${file} is not in a Secret volume`;
  if (mount.readOnly !== true) return `${mount.mountPath} is not mounted read-only`;
  const keys = examples.get(volume.secret.secretName);
  const key = file.slice(mount.mountPath.length + 1);
  if (!keys) return `no example of the Secret ${volume.secret.secretName}`;
  if (!keys.includes(key)) {
    return `${key} is not a key of the Secret ${volume.secret.secretName}`;
  }
  return '';
}

// etcd's --name=value args (a bare --name is "true").
function etcdArgs(container) {
  const args = new Map();
  for (const arg of [...(container.command || []).slice(1), ...(container.args || [])]) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (m) args.set(m[1], m[2] === undefined ? 'true' : m[2]);
  }
  return args;
}

// "https://HOST:PORT,..." as [{scheme, host, port}] (null entries if malformed).
function urlList(text) {
  return (text || '').split(',').filter(Boolean).map((u) => {
    const m = /^(https?):\/\/(.+):(\d+)$/.exec(u);
    return m ? {scheme: m[1], host: m[2], port: Number(m[3])} : null;
  });
}

// A pod spec meets what the restricted Pod Security Standard asks, and more:
// read-only root filesystems and no service account token.
function restrictedProblems(pod) {
  const podSc = pod.securityContext || {};
  const problems = [];
  for (const c of [...(pod.initContainers || []), ...(pod.containers || [])]) {
    const sc = c.securityContext || {};
    const eff = (k) => (sc[k] !== undefined ? sc[k] : podSc[k]);
    const caps = sc.capabilities || {};
    if (eff('runAsNonRoot') !== true || eff('runAsUser') === 0) {
      problems.push(`${c.name}: may run as root`);
    }
    if (sc.allowPrivilegeEscalation !== false || sc.privileged === true) {
      problems.push(`${c.name}: privilege escalation`);
    }
    if (!(caps.drop || []).includes('ALL') || (caps.add || []).length > 0) {
      problems.push(`${c.name}: capabilities`);
    }
    if ((eff('seccompProfile') || {}).type !== 'RuntimeDefault') {
      problems.push(`${c.name}: seccomp`);
    }
    if (sc.readOnlyRootFilesystem !== true) {
      problems.push(`${c.name}: writable root filesystem`);
    }
  }
  if (pod.automountServiceAccountToken !== false) {
    problems.push('mounts a service account token');
  }
  return problems;
}

// The fleet's properties; returns what checkNetworkPolicy needs to admit
// TokenService's egress to etcd ({memberLabels, clientPort, clientPortName}),
// or null without an etcd StatefulSet.
function checkFleet(set, dep, etcd, context, report) {
  const check = (ok, what, detail) => report(ok, `${set}: fleet: ${what}`, detail);
  const of = (kind) => etcd.filter((o) => o.kind === kind);
  const statefulSets = of('StatefulSet');
  check(statefulSets.length === 1, 'renders one etcd StatefulSet');
  if (statefulSets.length !== 1) return null;
  const sts = statefulSets[0];
  const spec = sts.spec || {};
  const pod = (spec.template || {}).spec || {};
  const memberLabels = ((spec.template || {}).metadata || {}).labels || {};
  const c = (pod.containers || [])[0] || {};
  const args = etcdArgs(c);
  const portOf = (number) => (c.ports || []).find((p) => p.containerPort === number);
  const services = of('Service');

  // TLS, with client certificates, on both ports.
  const clientUrls = urlList(args.get('listen-client-urls'));
  const peerUrls = urlList(args.get('listen-peer-urls'));
  const tlsProblems = [];
  for (const [flag, list] of [['listen-client-urls', clientUrls],
                              ['listen-peer-urls', peerUrls]]) {
    if (list.length === 0 || !list.every((u) => u && u.scheme === 'https')) {
      tlsProblems.push(`--${flag}=${args.get(flag)}`);
    }
  }
  for (const flag of ['client-cert-auth', 'peer-client-cert-auth']) {
    if (args.get(flag) !== 'true') tlsProblems.push(`--${flag}=${args.get(flag)}`);
  }
  for (const flag of ['trusted-ca-file', 'cert-file', 'key-file', 'peer-trusted-ca-file',
                      'peer-cert-file', 'peer-key-file']) {
    const problem = secretFileProblem(pod, c, args.get(flag), context.examples);
    if (problem) tlsProblems.push(`--${flag}: ${problem}`);
  }
  check(tlsProblems.length === 0,
        'etcd serves clients and peers over TLS only, with client certificates',
        tlsProblems.join('; '));
  const onePort = (urls) => (urls.length === 1 && urls[0] ? urls[0].port : undefined);
  const clientPort = onePort(clientUrls);
  const clientPortName = (portOf(clientPort) || {}).name;
  const peerPort = onePort(peerUrls);
  const peerPortName = (portOf(peerPort) || {}).name;

  // Probes on /health, served on --listen-metrics-urls.
  const metrics = urlList(args.get('listen-metrics-urls'));
  const m = metrics.length === 1 ? metrics[0] : null;
  const metricsPort = m && !isLoopback(m.host) ? portOf(m.port) : undefined;
  const onHealth = (probe) => {
    const get = (probe || {}).httpGet;
    return !!get && !!metricsPort && get.path === '/health' &&
        [metricsPort.name, metricsPort.containerPort].includes(get.port) &&
        (get.scheme || 'HTTP') === m.scheme.toUpperCase();
  };
  check(onHealth(c.readinessProbe) && onHealth(c.livenessProbe),
        "etcd's readiness and liveness probes ask /health on --listen-metrics-urls",
        `--listen-metrics-urls=${args.get('listen-metrics-urls')}, readiness ` +
        `${JSON.stringify(c.readinessProbe)}, liveness ${JSON.stringify(c.livenessProbe)}`);

  // Members start together and find each other before they are ready.
  const headless = services.find((s) => s.metadata.name === spec.serviceName);
  const hs = (headless && headless.spec) || {};
  check(spec.podManagementPolicy === 'Parallel' && hs.clusterIP === 'None' &&
        hs.publishNotReadyAddresses === true &&
        selects({matchLabels: hs.selector}, memberLabels),
        'etcd members start together and resolve each other before they are ready',
        `podManagementPolicy ${spec.podManagementPolicy}, serviceName ${spec.serviceName}`);

  // An odd number of members, each in --initial-cluster under its pod name.
  const name = sts.metadata.name;
  const members = (args.get('initial-cluster') || '').split(',').filter(Boolean);
  const expected = Array.from({length: spec.replicas || 0}, (_, i) =>
    `${name}-${i}=https://${name}-${i}.${spec.serviceName}.`);
  const podName = (c.env || []).find((e) => e.name === 'POD_NAME');
  check(spec.replicas >= 3 && spec.replicas % 2 === 1 &&
        members.length === expected.length &&
        members.every((mem, i) => mem.startsWith(expected[i]) &&
                                  mem.endsWith(`:${peerPort}`)) &&
        args.get('name') === '$(POD_NAME)' && !!podName &&
        ((podName.valueFrom || {}).fieldRef || {}).fieldPath === 'metadata.name' &&
        (args.get('initial-advertise-peer-urls') || '').startsWith(
            `https://$(POD_NAME).${spec.serviceName}.`),
        'etcd runs an odd number (3 or more) of members, each in --initial-cluster',
        `replicas ${spec.replicas}, --initial-cluster=${args.get('initial-cluster')}`);

  // The data on a volume of its own.
  const claims = (spec.volumeClaimTemplates || []).map((v) => v.metadata.name);
  const dataDir = args.get('data-dir') || '';
  const dataMount = (c.volumeMounts || []).find((vm) => claims.includes(vm.name) &&
      !(pod.volumes || []).some((v) => v.name === vm.name) &&
      (dataDir === vm.mountPath || dataDir.startsWith(vm.mountPath + '/')));
  check(!!dataMount, "etcd's --data-dir is on a volumeClaimTemplate", `--data-dir=${dataDir}`);

  const stsProblems = restrictedProblems(pod);
  check(stsProblems.length === 0,
        'etcd runs as non-root, read-only, unprivileged, without a token',
        stsProblems.join('; '));
  const r = c.resources || {};
  check(['cpu', 'memory'].every((k) =>
          (r.requests || {})[k] !== undefined && (r.limits || {})[k] !== undefined &&
          parseQuantity(r.requests[k]) <= parseQuantity(r.limits[k])),
        'etcd sets cpu and memory requests no larger than limits', JSON.stringify(r));

  const pdbs = of('PodDisruptionBudget').filter((p) =>
    selects((p.spec || {}).selector, memberLabels));
  check(pdbs.length === 1 && pdbs[0].spec.maxUnavailable === 1 &&
        pdbs[0].spec.minAvailable === undefined,
        'a PodDisruptionBudget lets one etcd member go at a time (maxUnavailable 1)',
        JSON.stringify(pdbs.map((p) => p.spec)));

  // TokenService: --etcd_endpoints names the client Service and its port,
  // and the TLS files and keys come from read-only Secret volumes.
  const flags = dep.flags;
  const endpoints = (flags.get('etcd_endpoints') || '').split(',');
  const ep = endpoints.length === 1 ? hostPort(endpoints[0]) : null;
  const ns = sts.metadata.namespace;
  const svc = ep && services.find((s) => {
    const n = s.metadata.name;
    return [n, ...(ns ? [`${n}.${ns}.svc`, `${n}.${ns}.svc.cluster.local`] : [])]
        .includes(ep.host);
  });
  const svcPort = svc && ((svc.spec || {}).ports || []).find((p) => p.port === ep.port);
  check(!!svcPort && selects({matchLabels: svc.spec.selector}, memberLabels) &&
        svc.spec.clusterIP !== 'None' &&
        [clientPort, clientPortName].includes(svcPort.targetPort) && clientPort !== undefined,
        "--etcd_endpoints names etcd's client Service and its client port",
        `--etcd_endpoints=${flags.get('etcd_endpoints')}`);
  const fileProblems = ['etcd_ca_file', 'etcd_cert_file', 'etcd_key_file'].map((f) => {
    const problem = secretFileProblem(dep.pod, dep.container, flags.get(f), context.examples);
    return problem && `--${f}: ${problem}`;
  }).filter(Boolean);
  check(fileProblems.length === 0,
        'TokenService reads its etcd CA, certificate and key from read-only Secret volumes',
        fileProblems.join('; '));
  const keysDir = (flags.get('fleet_keys_dir') || '').replace(/\/$/, '');
  const keysMount = (dep.container.volumeMounts || []).find((vm) =>
    keysDir && vm.mountPath.replace(/\/$/, '') === keysDir && !vm.subPath);
  const keysVolume = keysMount &&
      (dep.pod.volumes || []).find((v) => v.name === keysMount.name && v.secret);
  check(!!keysVolume && keysMount.readOnly === true &&
        (context.examples.get(keysVolume.secret.secretName) || []).includes('active'),
        '--fleet_keys_dir is a read-only Secret volume, with `active` in its example',
        `--fleet_keys_dir=${flags.get('fleet_keys_dir')}`);

  // etcd's NetworkPolicy: TokenService to the client port, members to the
  // peer port, nothing else.
  const policies = of('NetworkPolicy').filter((np) =>
    selects((np.spec || {}).podSelector, memberLabels) &&
    ((np.spec || {}).policyTypes || []).includes('Ingress'));
  check(policies.length === 1, "a NetworkPolicy governs ingress to etcd's members");
  const jobLabels = of('Job').map((j) => ((j.spec.template || {}).metadata || {}).labels);
  const rules = policies.flatMap((np) => np.spec.ingress || []);
  const on = (rule, port, portName) => port !== undefined &&
      (rule.ports || []).some((p) => [port, portName].includes(p.port));
  const clientRules = rules.filter((rule) => on(rule, clientPort, clientPortName));
  const peerRules = rules.filter((rule) => on(rule, peerPort, peerPortName));
  check(clientRules.some((rule) => (rule.from || []).some((peer) =>
          samePods(peer) && selects(peer.podSelector, dep.podLabels))),
        "NetworkPolicy admits TokenService's pods to etcd's client port",
        JSON.stringify(clientRules));
  check(clientRules.every((rule) => (rule.from || []).length > 0 && rule.from.every(samePods)),
        "NetworkPolicy admits only labelled pods of its namespace to etcd's client port",
        JSON.stringify(clientRules));
  const memberOnly = (peer) => samePods(peer) &&
      selects(peer.podSelector, memberLabels) && !selects(peer.podSelector, dep.podLabels) &&
      jobLabels.every((labels) => !selects(peer.podSelector, labels));
  check(peerRules.length > 0 && peerRules.every((rule) =>
          (rule.from || []).length > 0 && rule.from.every(memberOnly)),
        "NetworkPolicy admits only etcd's members to its peer port",
        JSON.stringify(peerRules));
  check(rules.every((rule) => (rule.ports || []).length > 0 && rule.ports.every((p) =>
          [clientPort, clientPortName, peerPort, peerPortName].includes(p.port))),
        "NetworkPolicy admits etcd's client and peer ports only", JSON.stringify(rules));

  // etcd's RBAC: the Job grants TokenService's role --etcd_prefix, as a
  // prefix and nothing wider, and enables auth last.
  const prefix = flags.has('etcd_prefix') ? flags.get('etcd_prefix') : DEFAULT_ETCD_PREFIX;
  const jobs = of('Job');
  check(jobs.length === 1, 'renders one etcd RBAC Job');
  for (const job of jobs) {
    const jobPod = (job.spec.template || {}).spec || {};
    const steps = [...(jobPod.initContainers || []), ...(jobPod.containers || [])]
        .map((jc) => [...(jc.command || []).slice(1), ...(jc.args || [])]);
    const words = (step) => step.filter((w) => !w.startsWith('-'));
    const grants = steps.filter((s) => words(s)[0] === 'role' && words(s)[1] === 'grant-permission');
    const last = words(steps[steps.length - 1] || []).join(' ');
    check(grants.length > 0 && grants.every((s) =>
            words(s).length === 5 && words(s)[4] === prefix &&
            (s.includes('--prefix=true') || s.includes('--prefix'))) &&
          steps.some((s) => words(s).join(' ') === 'user grant-role root root') &&
          steps.every((s) => words(s).slice(0, 2).join(' ') !== 'user grant-role' ||
                             words(s)[3] !== 'root' || words(s)[2] === 'root') &&
          last === 'auth enable',
          `the RBAC Job grants --etcd_prefix (${prefix}) as a prefix, root to root ` +
          'only, then enables auth', JSON.stringify(steps));
    const jobProblems = restrictedProblems(jobPod);
    check(jobProblems.length === 0,
          'the RBAC Job runs as non-root, read-only, unprivileged, without a token',
          jobProblems.join('; '));
  }
  return {memberLabels, clientPort, clientPortName};
}

// Checks one rendered kustomization. `context` holds the image's config, the
// Secret example's name and keys, and the overlays' examples (name -> keys).
// etcd's objects (fleet mode) are checked apart from TokenService's.
function checkSet(set, objects, context, report) {
  const byKind = {};
  const etcd = objects.filter(isEtcd);
  for (const o of objects) {
    if (!isEtcd(o)) (byKind[o.kind] = byKind[o.kind] || []).push(o);
  }
  for (const kind of ['Deployment', 'Service', 'ConfigMap',
                      'PodDisruptionBudget', 'NetworkPolicy', 'ServiceAccount']) {
    report((byKind[kind] || []).length === 1, `${set}: renders one ${kind}`);
  }
  report(!objects.some((o) => o.kind === 'Secret'),
         `${set}: renders no Secret (created out of band)`);
  if (!byKind.Deployment) return;
  const dep = checkDeployment(set, byKind.Deployment[0], byKind, context, report);
  const fleet = dep.flags.has('etcd_endpoints') ?
      checkFleet(set, dep, etcd, context, report) : null;
  for (const svc of byKind.Service || []) checkService(set, svc, dep, report);
  for (const pdb of byKind.PodDisruptionBudget || []) checkPdb(set, pdb, dep, report);
  for (const np of byKind.NetworkPolicy || []) {
    checkNetworkPolicy(set, np, dep, fleet, report);
  }
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

module.exports = {checkImage, checkSet, imageConfig, overlayExamples, parseDuration,
                  parseQuantity, secretExample};

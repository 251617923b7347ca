'use strict';
// Proves that check_manifests.js catches broken manifests: each mutation
// below breaks one property of the rendered objects, and the checks must
// report at least one failure for it (and none for the unmutated input).
//
// Usage: the same arguments as check_manifests.js.

const {loadInputs, parseArgs, runChecks} = require('./check_manifests.js');

const find = (objects, kind) => objects.find((o) => o.kind === kind);
const pod = (objects) => find(objects, 'Deployment').spec.template.spec;
const container = (objects) => pod(objects).containers[0];
const netpol = (objects) => find(objects, 'NetworkPolicy').spec;
// overlays/fleet's objects, whichever set is last.
const fleet = (inputs) => inputs.sets.find((s) => s.name === 'overlays/fleet').objects;
const named = (objects, kind, name) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const etcdPod = (inputs) => named(fleet(inputs), 'StatefulSet', 'etcd').spec.template.spec;
const etcdNetpol = (inputs) => named(fleet(inputs), 'NetworkPolicy', 'etcd').spec;
const rbacPod = (inputs) => named(fleet(inputs), 'Job', 'etcd-rbac').spec.template.spec;
// Replaces etcd's --NAME=... arg of the StatefulSet.
const etcdArg = (inputs, name, value) => {
  const c = etcdPod(inputs).containers[0];
  c.args = c.args.map((a) => (a.startsWith(`--${name}=`) ? `--${name}=${value}` : a));
};
// Replaces a line of overlays/fleet's token_server.flags.
const fleetFlag = (inputs, re, line) => {
  const map = fleet(inputs).find((o) => o.kind === 'ConfigMap' &&
                                        o.metadata.name.startsWith('tokenservice-config'));
  map.data['token_server.flags'] = map.data['token_server.flags'].replace(re, line);
};
const fleetMount = (inputs, name) => fleet(inputs).find((o) => o.kind === 'Deployment')
    .spec.template.spec.containers[0].volumeMounts.find((m) => m.name === name);
const example = (inputs, file) =>
  inputs.examples.find((e) => e.name.endsWith(file)).objects;

// [description, function(objects, inputs)] over the last rendered set (the
// fleet's over overlays/fleet, the Secret examples over inputs.examples).
const MUTATIONS = [
  ['one replica', (o) => { find(o, 'Deployment').spec.replicas = 1; }],
  ['replicas as a string (schema)',
   (o) => { find(o, 'Deployment').spec.replicas = '2'; }],
  ['a misspelt field (unknown to the API)', (o) => {
    const c = container(o);
    c.readinesProbe = c.readinessProbe;
    delete c.readinessProbe;
  }],
  ['readiness by TCP instead of gRPC health', (o) => {
    container(o).readinessProbe = {tcpSocket: {port: 50051}};
  }],
  ['liveness on another port',
   (o) => { container(o).livenessProbe.grpc.port = 50052; }],
  ['no resource limits', (o) => { delete container(o).resources.limits; }],
  ['requests above limits',
   (o) => { container(o).resources.requests.memory = '1Gi'; }],
  ['a writable root filesystem',
   (o) => { container(o).securityContext.readOnlyRootFilesystem = false; }],
  ['a capability added',
   (o) => { container(o).securityContext.capabilities.add = ['NET_RAW']; }],
  ['capabilities kept',
   (o) => { delete container(o).securityContext.capabilities; }],
  ['running as root', (o) => {
    pod(o).securityContext.runAsUser = 0;
    delete pod(o).securityContext.runAsNonRoot;
    delete container(o).securityContext.runAsNonRoot;
  }],
  ['privilege escalation allowed', (o) => {
    container(o).securityContext.allowPrivilegeEscalation = true;
  }],
  ['termination grace below the drain',
   (o) => { pod(o).terminationGracePeriodSeconds = 10; }],
  ['a drain longer than the grace', (o) => {
    const map = find(o, 'ConfigMap');
    map.data['token_server.flags'] = map.data['token_server.flags']
        .replace(/--shutdown_grace=\S+/, '--shutdown_grace=2m');
  }],
  ['termination grace without the margin beyond the drain',
   (o) => { pod(o).terminationGracePeriodSeconds = 25; }],
  ['a drain delay the termination grace does not cover', (o) => {
    const map = find(o, 'ConfigMap');
    map.data['token_server.flags'] = map.data['token_server.flags']
        .replace(/--drain_delay=\S+/, '--drain_delay=30s');
  }],
  ['readiness slower than the drain delay',
   (o) => { container(o).readinessProbe.periodSeconds = 10; }],
  ['liveness that restarts a draining pod',
   (o) => { container(o).livenessProbe.failureThreshold = 2; }],
  ['no --admin_listen (the overlay that served no /metrics)', (o) => {
    const map = find(o, 'ConfigMap');
    map.data['token_server.flags'] = map.data['token_server.flags']
        .replace(/^--admin_listen=.*$/m, '');
  }],
  ['--admin_listen on another port than metrics', (o) => {
    const map = find(o, 'ConfigMap');
    map.data['token_server.flags'] = map.data['token_server.flags']
        .replace(/^--admin_listen=.*$/m, '--admin_listen=0.0.0.0:9091');
  }],
  ['--admin_listen on loopback only', (o) => {
    const map = find(o, 'ConfigMap');
    map.data['token_server.flags'] = map.data['token_server.flags']
        .replace(/^--admin_listen=.*$/m, '--admin_listen=127.0.0.1:9090');
  }],
  ['a metrics port the server does not listen on', (o) => {
    container(o).ports.find((p) => p.name === 'metrics').containerPort = 9100;
  }],
  ['a Prometheus annotation on another port', (o) => {
    find(o, 'Deployment').spec.template.metadata
        .annotations['prometheus.io/port'] = '9100';
  }],
  ['a grpc port the server does not listen on', (o) => {
    container(o).ports.find((p) => p.name === 'grpc').containerPort = 50052;
  }],
  ['--listen on loopback only', (o) => {
    const c = container(o);
    c.args = c.args.map((a) => a.replace(/^--listen=.*/, '--listen=127.0.0.1:50051'));
  }],
  ['--listen on another port', (o) => {
    const c = container(o);
    c.args = c.args.map((a) => a.replace(/^--listen=.*/, '--listen=0.0.0.0:8080'));
  }],
  ['the client secret from a plain env value', (o) => {
    container(o).env = [{name: 'MYPOS_CLIENT_SECRET', value: 'hunter2'}];
  }],
  ['world-readable secret files', (o) => {
    pod(o).volumes.find((v) => v.secret).secret.defaultMode = 0o644;
  }],
  ['a Service port not named grpc',
   (o) => { find(o, 'Service').spec.ports[0].name = 'http'; }],
  ['a PodDisruptionBudget that blocks drains',
   (o) => { find(o, 'PodDisruptionBudget').spec.minAvailable = 2; }],
  ['ingress from a whole namespace', (o) => {
    netpol(o).ingress[0].from = [{namespaceSelector: {}}];
  }],
  ['metrics open to every namespace', (o) => {
    netpol(o).ingress.find((r) => r.ports[0].port === 'metrics')
        .from[0].namespaceSelector = {};
  }],
  ['ingress to another port', (o) => {
    netpol(o).ingress.push({from: [{podSelector: {matchLabels: {a: 'b'}}}],
                            ports: [{port: 8080, protocol: 'TCP'}]});
  }],
  ['no metrics rule (Prometheus blocked)', (o) => {
    netpol(o).ingress = netpol(o).ingress.filter((r) => r.ports[0].port !== 'metrics');
  }],
  ["the namespace's default ServiceAccount",
   (o) => { delete pod(o).serviceAccountName; }],
  ['a ServiceAccount that mounts its token', (o) => {
    find(o, 'ServiceAccount').automountServiceAccountToken = true;
  }],
  ['spread over nodes only', (o) => {
    pod(o).topologySpreadConstraints = pod(o).topologySpreadConstraints
        .filter((t) => t.topologyKey !== 'topology.kubernetes.io/zone');
  }],
  ['an image without OCI labels', (o, inputs) => {
    inputs.containerfile = inputs.containerfile
        .replace(/org\.opencontainers\.image\.revision=/g, 'revision=');
  }],
  ['a PodMonitor on another port', (o) => {
    find(o, 'PodMonitor').spec.podMetricsEndpoints[0].port = 'grpc';
  }],
  ['a PodMonitor with a misspelt field (unknown to its CRD)', (o) => {
    const e = find(o, 'PodMonitor').spec.podMetricsEndpoints[0];
    e.intervall = e.interval;
    delete e.interval;
  }],
  ['ingress from an address block', (o) => {
    netpol(o).ingress[0].from.push({ipBlock: {cidr: '0.0.0.0/0'}});
  }],
  ['egress to port 80',
   (o) => { netpol(o).egress.push({ports: [{port: 80, protocol: 'TCP'}]}); }],
  ['egress to any port', (o) => { netpol(o).egress.push({}); }],
  ['no egress policy', (o) => { netpol(o).policyTypes = ['Ingress']; }],
  ['a Secret rendered', (o, inputs) => { o.push(inputs.secretObjects[0]); }],
  ['a real-looking value in the Secret example', (o, inputs) => {
    inputs.secretObjects[0].stringData.client_secret = 's3cr3t-value';
  }],
  ['the image running as root',
   (o, inputs) => { inputs.containerfile += '\nUSER root\n'; }],
  // Fleet mode (overlays/fleet).
  ['no etcd StatefulSet', (o, i) => {
    fleet(i).splice(fleet(i).indexOf(named(fleet(i), 'StatefulSet', 'etcd')), 1);
  }],
  ['no etcd RBAC Job', (o, i) => {
    fleet(i).splice(fleet(i).indexOf(named(fleet(i), 'Job', 'etcd-rbac')), 1);
  }],
  ['world-readable fleet keys', (o, i) => {
    fleet(i).find((x) => x.kind === 'Deployment').spec.template.spec.volumes
        .find((v) => v.name === 'fleet-keys').secret.defaultMode = 0o444;
  }],
  ['etcd without client certificates',
   (o, i) => { etcdArg(i, 'client-cert-auth', 'false'); }],
  ['etcd peers in plaintext', (o, i) => {
    etcdArg(i, 'listen-peer-urls', 'http://0.0.0.0:2380');
  }],
  ['an etcd certificate not from a Secret volume',
   (o, i) => { etcdArg(i, 'cert-file', '/etc/etcd/tls.crt'); }],
  ['an etcd readiness probe on the client port', (o, i) => {
    etcdPod(i).containers[0].readinessProbe.httpGet.port = 'client';
  }],
  ['etcd metrics on loopback only (probes fail)',
   (o, i) => { etcdArg(i, 'listen-metrics-urls', 'http://127.0.0.1:2381'); }],
  ['etcd members started one by one (OrderedReady)', (o, i) => {
    named(fleet(i), 'StatefulSet', 'etcd').spec.podManagementPolicy = 'OrderedReady';
  }],
  ['etcd peer names published only once ready', (o, i) => {
    named(fleet(i), 'Service', 'etcd-peer').spec.publishNotReadyAddresses = false;
  }],
  ['etcd scaled to 5 with 3 in --initial-cluster', (o, i) => {
    named(fleet(i), 'StatefulSet', 'etcd').spec.replicas = 5;
  }],
  ['etcd with an even number of members', (o, i) => {
    named(fleet(i), 'StatefulSet', 'etcd').spec.replicas = 2;
    etcdArg(i, 'initial-cluster', 'etcd-0=https://etcd-0.etcd-peer.$(POD_NAMESPACE).svc:2380,' +
                                  'etcd-1=https://etcd-1.etcd-peer.$(POD_NAMESPACE).svc:2380');
  }],
  ["etcd's data on the (read-only) root filesystem",
   (o, i) => { etcdArg(i, 'data-dir', '/data'); }],
  ['etcd running as root', (o, i) => {
    etcdPod(i).securityContext.runAsUser = 0;
  }],
  ['etcd without resource limits',
   (o, i) => { delete etcdPod(i).containers[0].resources.limits; }],
  ['an etcd PodDisruptionBudget that allows losing the quorum', (o, i) => {
    named(fleet(i), 'PodDisruptionBudget', 'etcd').spec.maxUnavailable = 2;
  }],
  ['--etcd_endpoints on the peer port', (o, i) => {
    fleetFlag(i, /^--etcd_endpoints=.*$/m, '--etcd_endpoints=etcd-client.tokenservice.svc:2380');
  }],
  ['--etcd_endpoints in another namespace', (o, i) => {
    fleetFlag(i, /^--etcd_endpoints=.*$/m, '--etcd_endpoints=etcd-client.default.svc:2379');
  }],
  ['the etcd client key mounted writable',
   (o, i) => { fleetMount(i, 'etcd-client-tls').readOnly = false; }],
  ['an etcd client key the Secret example does not have', (o, i) => {
    fleetFlag(i, /^--etcd_key_file=.*$/m, '--etcd_key_file=/var/run/secrets/etcd/client.key');
  }],
  ['--fleet_keys_dir not a mounted volume', (o, i) => {
    fleetFlag(i, /^--fleet_keys_dir=.*$/m, '--fleet_keys_dir=/tmp/fleet-keys');
  }],
  ['the fleet keys mounted writable',
   (o, i) => { fleetMount(i, 'fleet-keys').readOnly = false; }],
  ['a real-looking fleet key in its example', (o, i) => {
    example(i, 'fleet-keys.example.yaml')[0].stringData.k1 =
        'q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=';
  }],
  ['a ConfigMap in a Secret example', (o, i) => {
    example(i, 'etcd-tls.example.yaml').push(
        {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'x'}, data: {a: 'b'}});
  }],
  ['`active` naming no key of the example', (o, i) => {
    example(i, 'fleet-keys.example.yaml')[0].stringData.active = 'k2';
  }],
  ['no NetworkPolicy on etcd', (o, i) => {
    fleet(i).splice(fleet(i).indexOf(named(fleet(i), 'NetworkPolicy', 'etcd')), 1);
  }],
  ["TokenService not admitted to etcd's client port", (o, i) => {
    etcdNetpol(i).ingress[0].from = etcdNetpol(i).ingress[0].from.slice(1);
  }],
  ["etcd's client port open to every namespace", (o, i) => {
    etcdNetpol(i).ingress[0].from.push({namespaceSelector: {}});
  }],
  ["TokenService admitted to etcd's peer port", (o, i) => {
    etcdNetpol(i).ingress[1].from.push(
        {podSelector: {matchLabels: {'app.kubernetes.io/name': 'tokenservice'}}});
  }],
  ["etcd's metrics port admitted", (o, i) => {
    etcdNetpol(i).ingress[0].ports.push({port: 'metrics', protocol: 'TCP'});
  }],
  ["TokenService's egress to etcd dropped", (o, i) => {
    const np = named(fleet(i), 'NetworkPolicy', 'tokenservice').spec;
    np.egress = np.egress.filter((r) => !r.to);
  }],
  ["TokenService's egress to etcd's port, anywhere", (o, i) => {
    delete named(fleet(i), 'NetworkPolicy', 'tokenservice').spec.egress
        .find((r) => r.to).to;
  }],
  ['the RBAC Job granting every key', (o, i) => {
    const c = rbacPod(i).initContainers.find((x) => x.args.includes('grant-permission'));
    c.args = c.args.map((a) => (a === '/tokenservice/' ? '/' : a));
  }],
  ['the RBAC Job granting TokenService the root role', (o, i) => {
    rbacPod(i).initContainers.find((x) => x.name === 'grant-user')
        .args = ['user', 'grant-role', 'tokenservice', 'root'];
  }],
  ['the RBAC Job not enabling auth', (o, i) => {
    const pod = rbacPod(i);
    pod.containers = [pod.initContainers.pop()];
  }],
  ['an --etcd_prefix the RBAC Job does not grant', (o, i) => {
    fleetFlag(i, /^--etcd_prefix=.*$/m, '--etcd_prefix=/tokens/');
  }],
  ['an RBAC Job container with a writable root filesystem', (o, i) => {
    rbacPod(i).initContainers[0].securityContext.readOnlyRootFilesystem = false;
  }],
];

function failures(inputs) {
  const failed = [];
  runChecks(inputs, (ok, what) => { if (!ok) failed.push(what); });
  return failed;
}

function main() {
  const inputs = loadInputs(parseArgs(process.argv.slice(2)));
  let bad = 0;
  const clean = failures(inputs);
  console.log(`${clean.length === 0 ? 'ok' : 'not ok'} - the unmutated ` +
              `manifests pass${clean.length ? ': ' + clean.join('; ') : ''}`);
  if (clean.length) bad++;
  for (const [what, mutate] of MUTATIONS) {
    const mutated = structuredClone(inputs);
    mutate(mutated.sets[mutated.sets.length - 1].objects, mutated);
    const caught = failures(mutated);
    if (caught.length === 0) bad++;
    console.log(caught.length ? `ok - ${what}: caught by "${caught[0]}"` :
                                `not ok - ${what}: not caught`);
  }
  console.log(`${MUTATIONS.length + 1} mutation checks, ${bad} failed`);
  return bad === 0;
}

try {
  process.exitCode = main() ? 0 : 1;
} catch (e) {
  console.log(`not ok - ${e.message}`);
  process.exitCode = 1;
}

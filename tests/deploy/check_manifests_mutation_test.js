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

// [description, function(objects, inputs)] over the last rendered set.
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

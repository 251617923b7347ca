'use strict';
// Checks Kubernetes manifests that kustomize rendered from deploy/:
//
// 1. Every object against the Kubernetes API schema: kubernetes-models'
//    validators (types, formats, required fields, enums) and, because those
//    let unknown fields through, TypeScript's excess-property check against
//    the same models (what `kubectl apply`'s strict field validation rejects).
// 2. The properties the deployment relies on: two replicas, gRPC probes on
//    the gRPC port, the server listening (--listen, --admin_listen, from the
//    args and the flags ConfigMap) on exactly the grpc and metrics ports the
//    container advertises, resources, a non-root read-only container with no
//    capabilities, a termination grace of the drain period plus a margin,
//    credentials from the Secret volume, a Service port named grpc, a
//    PodDisruptionBudget, and a NetworkPolicy that admits only labelled
//    callers and lets out only DNS and HTTPS. Every rendered set (the base
//    and each overlay) is checked on its own.
// 3. In fleet mode (a Deployment with --etcd_endpoints, overlays/fleet):
//    etcd's StatefulSet (TLS with client certificates, /health probes,
//    members that find each other, an odd quorum, data on a claim, non-root
//    and read-only), its PodDisruptionBudget and NetworkPolicy, the RBAC Job
//    granting --etcd_prefix, and TokenService's etcd flags: the client
//    Service and port, and its TLS files and fleet keys from read-only
//    Secret volumes with examples.
// 4. The Secret examples: base/secret.example.yaml and the overlays'
//    *.example.yaml (--example), placeholders only.
//
// Usage: node check_manifests.js --containerfile=FILE --secret_example=FILE
//            [--example=FILE ...] NAME=RENDERED.yaml [NAME=RENDERED.yaml ...]
// Prints one TAP-style line per check; exits 1 if any failed.

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const ts = require('typescript');
const props = require('./manifest_properties.js');

// Kubernetes reads YAML 1.1 (0440 is octal there), so this does too.
function loadObjects(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), {
    version: '1.1',
  });
  const objects = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new Error(`${file}: ${doc.errors[0].message}`);
    }
    const object = doc.toJS();
    if (object != null) objects.push(object);
  }
  return objects;
}

// "apps/v1" + "Deployment" -> "kubernetes-models/apps/v1/Deployment"; the
// Prometheus Operator's kinds from @kubernetes-models/prometheus-operator.
function modelModule(object) {
  const operator = /^monitoring\.coreos\.com\//.test(object.apiVersion || '');
  return `${operator ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models'}` +
         `/${object.apiVersion}/${object.kind}`;
}

function describe(set, object) {
  const name = (object.metadata || {}).name || '(no name)';
  return `${set}: ${object.kind}/${name}`;
}

function validateSchema(set, object, report) {
  let Model;
  try {
    Model = require(modelModule(object))[object.kind];
  } catch (e) {
    Model = undefined;
  }
  if (typeof Model !== 'function') {
    report(false, `${describe(set, object)} is a known API type`,
           `no model for ${object.apiVersion} ${object.kind}`);
    return;
  }
  try {
    new Model(object).validate();
    report(true, `${describe(set, object)} matches the API schema`);
  } catch (e) {
    report(false, `${describe(set, object)} matches the API schema`,
           e.message);
  }
}

// The models' declaration files, parsed once per process.
const parsedFiles = new Map();

// An object's problems by its kind and JSON: an object seen before (the
// mutation test checks the same objects many times over) is not checked again.
const knownFieldsCache = new Map();

// Type-checks every object as a literal of its kubernetes-models interface,
// in one in-memory TypeScript program, and reports one line per object.
function checkKnownFields(entries, report) {
  const keyOf = ({object}) => `${modelModule(object)} ${JSON.stringify(object)}`;
  const unseen = entries.filter((e) => !knownFieldsCache.has(keyOf(e)));
  if (unseen.length > 0) {
    const problems = typeCheck(unseen);
    unseen.forEach((e, i) => knownFieldsCache.set(keyOf(e), problems[i]));
  }
  for (const e of entries) {
    const problems = knownFieldsCache.get(keyOf(e));
    report(problems.length === 0,
           `${describe(e.set, e.object)} has only fields the API knows`,
           problems.join('; '));
  }
}

// The TypeScript problems of each of `entries`, as [[text, ...], ...].
function typeCheck(entries) {
  const file = path.join(__dirname, '__rendered_manifests__.ts');
  const lines = [];
  const firstLine = [];
  entries.forEach(({object}, i) => {
    lines.push(`import type { I${object.kind} as T${i} } from ` +
               `${JSON.stringify(modelModule(object))};`);
  });
  entries.forEach(({object}, i) => {
    firstLine[i] = lines.length;
    const literal = JSON.stringify(object, null, 2).split('\n');
    lines.push(`export const o${i}: T${i} = ${literal[0]}`);
    lines.push(...literal.slice(1));
  });
  const source = lines.join('\n') + ';\n';
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (name, ...rest) => {
    if (name === file) return ts.createSourceFile(name, source, options.target);
    if (!parsedFiles.has(name)) {
      parsedFiles.set(name, getSourceFile.call(host, name, ...rest));
    }
    return parsedFiles.get(name);
  };
  const fileExists = host.fileExists;
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  const program = ts.createProgram([file], options, host);
  const problems = entries.map(() => []);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (!d.file || d.file.fileName !== file) {
      throw new Error(`TypeScript: ${text}`);
    }
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    let i = firstLine.findIndex((start) => start > line);
    i = (i === -1 ? entries.length : i) - 1;
    if (i < 0) throw new Error(`TypeScript: ${text}`);
    problems[i].push(text);
  }
  return problems;
}

function parseArgs(argv) {
  const args = {sets: [], examples: []};
  for (const arg of argv) {
    const flag = /^--(\w+)=(.*)$/.exec(arg);
    const set = /^([^=-][^=]*)=(.*)$/.exec(arg);
    if (flag && flag[1] === 'example') args.examples.push(flag[2]);
    else if (flag) args[flag[1]] = flag[2];
    else if (set) args.sets.push({name: set[1], file: set[2]});
    else throw new Error(`unexpected argument ${arg}`);
  }
  if (!args.containerfile || !args.secret_example || args.sets.length === 0) {
    throw new Error('usage: check_manifests.js --containerfile=FILE ' +
                    '--secret_example=FILE [--example=FILE...] NAME=RENDERED.yaml...');
  }
  return args;
}

// Runs every check on `inputs` = {containerfile: text, secretObjects: [...],
// examples: [{name, objects}], sets: [{name, objects}]} and reports each
// through report(ok, what, detail).
function runChecks(inputs, report) {
  const entries = [];
  for (const {name, objects} of inputs.sets) {
    for (const object of objects) entries.push({set: name, object});
  }
  for (const object of inputs.secretObjects) {
    entries.push({set: 'secret.example.yaml', object});
  }
  for (const {name, objects} of inputs.examples) {
    for (const object of objects) entries.push({set: name, object});
  }
  for (const {set, object} of entries) validateSchema(set, object, report);
  checkKnownFields(entries, report);

  const image = props.imageConfig(inputs.containerfile);
  props.checkImage(image, report);
  const secret = props.secretExample(inputs.secretObjects, report);
  const examples = props.overlayExamples(inputs.examples, report);
  examples.set(secret.name, secret.keys);
  for (const {name, objects} of inputs.sets) {
    props.checkSet(name, objects, {image, secret, examples}, report);
  }
}

// An overlay's example FILE is named overlays/NAME/FILE in the report.
function loadInputs(args) {
  return {
    containerfile: fs.readFileSync(args.containerfile, 'utf8'),
    secretObjects: loadObjects(args.secret_example),
    examples: args.examples.map((file) => ({
      name: path.relative(path.dirname(path.dirname(path.dirname(file))), file),
      objects: loadObjects(file),
    })),
    sets: args.sets.map(({name, file}) => ({name, objects: loadObjects(file)})),
  };
}

function main() {
  let count = 0;
  let failed = 0;
  const report = (ok, what, detail) => {
    count++;
    if (!ok) failed++;
    const suffix = !ok && detail ? `: ${detail}` : '';
    console.log(`${ok ? 'ok' : 'not ok'} ${count} - ${what}${suffix}`);
  };
  runChecks(loadInputs(parseArgs(process.argv.slice(2))), report);
  console.log(`${count} checks, ${failed} failed`);
  return failed === 0;
}

module.exports = {loadInputs, parseArgs, runChecks};

if (require.main === module) {
  try {
    process.exitCode = main() ? 0 : 1;
  } catch (e) {
    console.log(`not ok - ${e.message}`);
    process.exitCode = 1;
  }
}

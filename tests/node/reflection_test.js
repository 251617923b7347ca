// TokenService through server reflection, the way grpcurl does it: list the
// services, fetch the file that defines TokenService and its dependencies,
// describe the service and a message, then call Issue and the health check
// with stubs built only from what reflection returned. Reflection itself is
// spoken with Debian's grpc/reflection/v1alpha/reflection.proto.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const descriptor = require('protobufjs/ext/descriptor');
const { before, after } = test;
const { env, unary, sawToken } = require('./helpers.js');

const reflectionDefinition = protoLoader.loadSync('grpc/reflection/v1alpha/reflection.proto', {
  includeDirs: [env('GRPC_PROTO_ROOT')],
  keepCase: true,
});
const { ServerReflection } =
    grpc.loadPackageDefinition(reflectionDefinition).grpc.reflection.v1alpha;
const target = env('TOKENSERVICE_TARGET');

// One reflection stream; ask() sends a request and waits for its answer.
class Reflection {
  constructor() {
    this.client = new ServerReflection(target, grpc.credentials.createInsecure());
    this.stream = this.client.ServerReflectionInfo();
    this.waiting = [];
    this.stream.on('data', (response) => this.waiting.shift().resolve(response));
    this.stream.on('error', (err) => this.waiting.splice(0).forEach((w) => w.reject(err)));
  }
  ask(request) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.stream.write({ host: '', ...request });
    });
  }
  close() {
    this.stream.end();
    this.client.close();
  }
}

// The files reflection returns for `symbol` plus, by name, every file they
// import (grpcurl resolves dependencies the same way).
async function filesFor(reflection, symbol) {
  const files = new Map();
  const add = (response) => {
    assert.ok(response.file_descriptor_response,
              JSON.stringify(response.error_response));
    for (const bytes of response.file_descriptor_response.file_descriptor_proto) {
      const file = descriptor.FileDescriptorProto.decode(bytes);
      files.set(file.name, file);
    }
  };
  add(await reflection.ask({ file_containing_symbol: symbol }));
  for (let missing = true; missing;) {
    missing = false;
    for (const file of [...files.values()]) {
      for (const dep of file.dependency) {
        if (!files.has(dep)) {
          add(await reflection.ask({ file_by_filename: dep }));
          missing = true;
        }
      }
    }
  }
  return [...files.values()];
}

// `grpcurl describe SERVICE` output for a service descriptor.
function describeService(pkg, service) {
  const lines = service.method.map((m) =>
    `  rpc ${m.name} ( ${m.inputType} ) returns ( ${m.serverStreaming ? 'stream ' : ''}${m.outputType} );`);
  return [`${pkg}.${service.name} is a service:`, `service ${service.name} {`,
          ...lines, '}'].join('\n');
}

let reflection;
before(() => { reflection = new Reflection(); });
after(() => reflection.close());

test('list shows TokenService, health and reflection', async () => {
  const response = await reflection.ask({ list_services: '' });
  const names = response.list_services_response.service.map((s) => s.name);
  for (const name of ['mypos.token.v1.TokenService', 'grpc.health.v1.Health',
                      'grpc.reflection.v1alpha.ServerReflection']) {
    assert.ok(names.includes(name), `${name} not in ${names}`);
  }
});

test('describe TokenService gives its six methods and their types', async () => {
  const files = await filesFor(reflection, 'mypos.token.v1.TokenService');
  const api = files.find((f) => f.package === 'mypos.token.v1');
  assert.equal(api.name, 'proto/token_service.proto');
  assert.deepEqual(api.dependency.slice().sort(),
                   ['google/protobuf/duration.proto', 'google/protobuf/timestamp.proto']);
  const service = api.service.find((s) => s.name === 'TokenService');
  assert.equal(describeService(api.package, service), [
    'mypos.token.v1.TokenService is a service:',
    'service TokenService {',
    '  rpc Issue ( .mypos.token.v1.IssueRequest ) returns ( .mypos.token.v1.IssueResponse );',
    '  rpc ExchangeGrant ( .mypos.token.v1.ExchangeGrantRequest ) returns ( .mypos.token.v1.ExchangeGrantResponse );',
    '  rpc Revoke ( .mypos.token.v1.RevokeRequest ) returns ( .mypos.token.v1.RevokeResponse );',
    '  rpc GetTokenInfo ( .mypos.token.v1.GetTokenInfoRequest ) returns ( .mypos.token.v1.TokenInfo );',
    '  rpc ListTokens ( .mypos.token.v1.ListTokensRequest ) returns ( .mypos.token.v1.ListTokensResponse );',
    '  rpc WatchRevocations ( .mypos.token.v1.WatchRevocationsRequest ) returns ( stream .mypos.token.v1.RevocationBatch );',
    '}',
  ].join('\n'));

  const request = api.messageType.find((m) => m.name === 'IssueRequest');
  assert.deepEqual(request.field.map((f) => [f.number, f.name]).slice(0, 4),
                   [[1, 'credential'], [2, 'scopes'], [3, 'min_validity'],
                    [4, 'rejected_fingerprint']]);
});

test('Issue and health work with stubs built from reflection alone', async () => {
  const files = [...await filesFor(reflection, 'mypos.token.v1.TokenService'),
                 ...await filesFor(reflection, 'grpc.health.v1.Health')];
  const unique = [...new Map(files.map((f) => [f.name, f])).values()];
  const set = descriptor.FileDescriptorSet.encode({ file: unique }).finish();
  const loaded = grpc.loadPackageDefinition(
    protoLoader.loadFileDescriptorSetFromBuffer(set, { keepCase: true, enums: String }));
  const credentials = grpc.credentials.createInsecure();

  const tokens = new loaded.mypos.token.v1.TokenService(target, credentials);
  const issued = await unary(tokens, 'Issue', { scopes: ['reflection'] });
  sawToken(issued.access_token);
  assert.equal(issued.token_type, 'Bearer');
  assert.match(issued.fingerprint, /^[0-9a-f]{16}$/);
  tokens.close();

  const health = new loaded.grpc.health.v1.Health(target, credentials);
  const status = await unary(health, 'Check', { service: 'mypos.token.v1.TokenService' });
  assert.equal(status.status, 'SERVING');
  health.close();
});

// TokenService from Node.js, as any internal service in another language
// would use it: stubs made at run time from proto/token_service.proto alone
// (@grpc/proto-loader + @grpc/grpc-js), against the real server and the
// fake myPOS. Issue, use the token, report a rejection, revoke, watch
// revocations.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { env, unary, codeOf, fingerprint, sawToken, ping, revokeAtMypos } =
    require('./helpers.js');

const definition = protoLoader.loadSync('proto/token_service.proto', {
  includeDirs: [env('API_PROTO_ROOT')],  // our API, and nothing else of ours
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const { TokenService } = grpc.loadPackageDefinition(definition).mypos.token.v1;
const client = new TokenService(env('TOKENSERVICE_TARGET'), grpc.credentials.createInsecure());

async function issue(request) {
  const reply = await unary(client, 'Issue', request);
  sawToken(reply.access_token);
  return reply;
}

test('Issue returns a token myPOS accepts, then serves it from the cache', async () => {
  const first = await issue({ scopes: ['webhooks'] });
  assert.equal(first.token_type, 'Bearer');
  assert.equal(first.cached, false);
  assert.equal(first.credential, 'default');
  assert.deepEqual(first.scopes, ['webhooks']);
  assert.equal(first.fingerprint, fingerprint(first.access_token));
  assert.ok(Number(first.expire_time.seconds) > Date.now() / 1000);
  assert.equal(await ping(first.access_token), 200);

  const second = await issue({ scopes: ['webhooks'] });
  assert.equal(second.cached, true);
  assert.equal(second.access_token, first.access_token);
});

test('a token myPOS rejects is reported and refreshed exactly once', async () => {
  const scopes = ['node.reject'];
  const rejected = await issue({ scopes });
  await revokeAtMypos(rejected.access_token);
  assert.equal(await ping(rejected.access_token), 401);

  const report = { scopes, rejected_fingerprint: fingerprint(rejected.access_token) };
  const fresh = await issue(report);
  assert.notEqual(fresh.access_token, rejected.access_token);
  assert.equal(fresh.cached, false);
  assert.equal(await ping(fresh.access_token), 200);

  // A second caller reports the same token: it gets the replacement.
  const again = await issue(report);
  assert.equal(again.access_token, fresh.access_token);
  assert.equal(again.cached, true);
});

test('Revoke by token drops it from the cache and at myPOS', async () => {
  const scopes = ['node.revoke'];
  const token = await issue({ scopes });
  const revoked = await unary(client, 'Revoke', { token: token.access_token });
  assert.equal(revoked.fingerprint, token.fingerprint);
  assert.equal(revoked.was_cached, true);
  assert.equal(await ping(token.access_token), 401);

  const info = await unary(client, 'GetTokenInfo', { fingerprint: token.fingerprint });
  assert.equal(info.state, 'TOKEN_STATE_REVOKED');
  const next = await issue({ scopes });
  assert.notEqual(next.access_token, token.access_token);
});

test('Revoke by fingerprint, for operators who never see tokens', async () => {
  const token = await issue({ scopes: ['node.fp'] });
  const revoked = await unary(client, 'Revoke', { fingerprint: token.fingerprint });
  assert.equal(revoked.was_cached, true);
  assert.equal(await ping(token.access_token), 401);
});

test('WatchRevocations streams the fingerprint of a revoked token', async () => {
  const token = await issue({ scopes: ['node.watch'] });
  const stream = client.WatchRevocations({});
  const messages = [];
  const seen = new Promise((resolve, reject) => {
    stream.on('data', (batch) => {
      messages.push(batch.fingerprints);
      if (batch.fingerprints.includes(token.fingerprint)) resolve();
    });
    stream.on('error', reject);
  });
  // The first message, empty, says the stream is live: revoke after it.
  await new Promise((resolve) => stream.once('data', resolve));
  await unary(client, 'Revoke', { fingerprint: token.fingerprint });
  await seen;
  assert.deepEqual(messages[0], []);
  assert.ok(!JSON.stringify(messages).includes(token.access_token));
  stream.cancel();
});

test('ListTokens describes cached tokens without their values', async () => {
  const token = await issue({ scopes: ['node.list'] });
  const list = await unary(client, 'ListTokens', { page_size: 1000 });
  const mine = list.tokens.find((t) => t.fingerprint === token.fingerprint);
  assert.ok(mine, 'issued token not listed');
  assert.equal(mine.state, 'TOKEN_STATE_FRESH');
  assert.deepEqual(mine.scopes, ['node.list']);
  assert.ok(!JSON.stringify(list).includes(token.access_token));
});

test('ExchangeGrant passes a user\'s refresh token to myPOS', async () => {
  // The fake knows no such refresh token: myPOS's invalid_grant comes back
  // as INVALID_ARGUMENT; a request without a grant is INVALID_ARGUMENT too.
  assert.equal(
      await codeOf(unary(client, 'ExchangeGrant',
                         { refresh_token: { refresh_token: 'node-unknown-refresh' } })),
      grpc.status.INVALID_ARGUMENT);
  assert.equal(await codeOf(unary(client, 'ExchangeGrant', {})),
               grpc.status.INVALID_ARGUMENT);
});

test('errors carry the documented gRPC codes', async () => {
  assert.equal(await codeOf(unary(client, 'Issue', { credential: 'nobody' })),
               grpc.status.NOT_FOUND);
  assert.equal(await codeOf(unary(client, 'Issue', { scopes: ['web hooks'] })),
               grpc.status.INVALID_ARGUMENT);
  assert.equal(await codeOf(unary(client, 'Revoke', {})), grpc.status.INVALID_ARGUMENT);
  assert.equal(await codeOf(unary(client, 'GetTokenInfo', { fingerprint: '0123456789abcdef' })),
               grpc.status.NOT_FOUND);
});

test.after(() => client.close());

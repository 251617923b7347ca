// One unauthenticated HTTP/2 connection that opens thousands of Issue
// streams, each sending its headers and one byte of a promised 10-byte
// message and never more (so the handler never runs and no caller key is
// needed): the server's memory must stay bounded, and a caller on another
// connection must keep getting its token from the cache meanwhile. A raw
// HTTP/2 client (node:http2), sharing nothing with gRPC's or ours.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http2 = require('node:http2');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { env, unary, sawToken } = require('./helpers.js');

const STREAMS = 20000;
const MAX_GROWTH_BYTES = 64 * 1024 * 1024;

const definition = protoLoader.loadSync('proto/token_service.proto', {
  includeDirs: [env('API_PROTO_ROOT')],
  keepCase: true,
  defaults: true,
});
const { TokenService } = grpc.loadPackageDefinition(definition).mypos.token.v1;
const client = new TokenService(env('TOKENSERVICE_TARGET'), grpc.credentials.createInsecure());

function residentBytes() {
  const status = fs.readFileSync(`/proc/${env('TOKENSERVICE_PID')}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

// Resolves once the server has answered a PING sent after everything
// before it: HTTP/2 frames are read in order, so by then the server has
// read every stream the session could open.
function pingRoundTrip(session) {
  return new Promise((resolve, reject) => {
    session.ping((err) => (err ? reject(err) : resolve()));
  });
}

test('stalled streams on one connection leave memory bounded and hits flowing', async () => {
  const warm = await unary(client, 'Issue', { scopes: ['node.stall'] });
  sawToken(warm.access_token);
  const before = residentBytes();

  const session = http2.connect(`http://${env('TOKENSERVICE_TARGET')}`);
  session.on('error', () => {});  // the server may refuse streams over its limit
  await new Promise((resolve) => session.once('connect', resolve));
  for (let i = 0; i < STREAMS; ++i) {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/mypos.token.v1.TokenService/Issue',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.on('error', () => {});
    // The 5-byte gRPC prefix promises 10 bytes; only the first is sent.
    stream.write(Buffer.from([0, 0, 0, 0, 10, 0x0a]));
  }
  await pingRoundTrip(session);
  const after = residentBytes();

  // Another connection still gets its token, from the cache.
  const hit = await unary(client, 'Issue', { scopes: ['node.stall'] });
  assert.equal(hit.cached, true);
  assert.equal(hit.access_token, warm.access_token);

  const growth = after - before;
  console.log(`RSS ${before} -> ${after} bytes (+${growth}) with ${STREAMS} stalled streams`);
  assert.ok(growth <= MAX_GROWTH_BYTES,
            `server RSS grew by ${growth} bytes, more than ${MAX_GROWTH_BYTES}`);
  session.destroy();
});

test.after(() => client.close());

// What both Node tests need: the environment run_node_test.sh sets up,
// promise wrappers for unary calls, and HTTP to the fake myPOS. Nothing here
// comes from the C++ code base.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through run_node_test.sh`);
  return value;
}

// A unary call as a promise, with a 10 s deadline. Rejects with the
// grpc-js error, whose .code is the gRPC status code.
function unary(client, method, request) {
  const deadline = new Date(Date.now() + 10000);
  return new Promise((resolve, reject) => {
    client[method](request, { deadline }, (err, reply) =>
      err ? reject(err) : resolve(reply));
  });
}

// The gRPC code a call fails with (throws if it succeeds).
async function codeOf(promise) {
  try {
    await promise;
  } catch (err) {
    return err.code;
  }
  throw new Error('the call succeeded');
}

// The first 16 hex digits of SHA-256(token), as TokenService computes it.
function fingerprint(token) {
  return crypto.createHash('sha256').update(token).digest('hex').slice(0, 16);
}

// Remembers a token so that run_node_test.sh can check the server log.
function sawToken(token) {
  fs.appendFileSync(env('TOKENS_SEEN_FILE'), `${token}\n`);
}

function httpRequest(method, path, headers, body) {
  const url = new URL(path, env('FAKE_MYPOS_URL'));
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let data = '';
      res.on('data', (chunk) => { data += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// GET /api/ping, the fake's myPOS-protected endpoint: 200 or 401.
async function ping(token) {
  const res = await httpRequest('GET', '/api/ping', { Authorization: `Bearer ${token}` });
  return res.status;
}

// Revokes `token` at the fake directly, behind TokenService's back, the
// way myPOS may drop a token: RFC 7009 with RFC 6749 client authentication.
async function revokeAtMypos(token) {
  const id = encodeURIComponent(env('FAKE_MYPOS_CLIENT_ID'));
  const secret = encodeURIComponent(env('FAKE_MYPOS_CLIENT_SECRET'));
  const basic = Buffer.from(`${id}:${secret}`).toString('base64');
  const res = await httpRequest('POST', '/oauth/revoke', {
    Authorization: `Basic ${basic}`,
    'Content-Type': 'application/x-www-form-urlencoded',
  }, new URLSearchParams({ token }).toString());
  if (res.status !== 200) throw new Error(`revoke at fake myPOS: HTTP ${res.status}`);
}

module.exports = { env, unary, codeOf, fingerprint, sawToken, ping, revokeAtMypos };

// vk-io (npm `vk-io`) against `vkconform mock --profile vk`.
//
// vk-io posts to `${apiBaseUrl}/${method}`; re-point it with
// `apiBaseUrl: BASE + '/method'` and pass a plain `http.Agent` (its default
// agent is https-only). The binary: $VKCONFORM_BIN, else
// <repo>/target/release/vkconform. Run: `node --test vkio.test.mjs`.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { API, APIError, CallbackService, ExecuteError, VK } from 'vk-io';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = process.env.VKCONFORM_BIN || path.join(REPO, 'target', 'release', 'vkconform');
const TOKEN = 'vkconform-test-token';

/** Every mock started; stopped at the end. */
const mocks = [];

/** Starts `vkconform mock --port 0 --profile vk ...extra` and resolves its base URL. */
async function startMock(...extra) {
  assert.ok(existsSync(BIN), `mock binary ${BIN} not found: cargo build --release or set VKCONFORM_BIN`);
  const proc = spawn(BIN, ['mock', '--host', '127.0.0.1', '--port', '0', '--profile', 'vk', ...extra], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  mocks.push(proc);
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the mock did not print its address in 20 s')), 20_000);
    const rl = createInterface({ input: proc.stdout });
    rl.once('line', (line) => {
      clearTimeout(timer);
      rl.close();
      resolve(line);
    });
    proc.once('exit', (code) => reject(new Error(`the mock exited with ${code}`)));
  });
  const m = /^listening on (http:\/\/\S+)$/.exec(first);
  assert.ok(m, `unexpected first line: ${first}`);
  return { base: m[1], proc };
}

after(() => {
  for (const p of mocks) p.kill('SIGTERM');
});

/** An http.Agent that records the path of every request (to see batching and retries). */
class CountingAgent extends http.Agent {
  constructor() {
    super({ keepAlive: false });
    this.paths = [];
  }

  addRequest(req, options) {
    this.paths.push(req.path.split('?')[0]);
    return super.addRequest(req, options);
  }
}

function api(base, options = {}) {
  const agent = options.agent ?? new CountingAgent();
  return { api: new API({ token: TOKEN, apiBaseUrl: `${base}/method`, agent, apiTimeout: 10_000, apiRetryLimit: 1, ...options }), agent };
}

const plain = await startMock();

test('users.get with ids and fields (v 5.199)', async () => {
  const { api: vk } = api(plain.base);
  const users = await vk.users.get({ user_ids: [1, 2], fields: ['sex', 'screen_name', 'photo_50'] });
  assert.deepEqual(users.map((u) => [u.id, u.first_name, u.sex, u.screen_name]), [
    [1, 'Vladimir', 2, 'id1'],
    [2, 'Anna', 1, 'anna'],
  ]);
  assert.equal('bdate' in users[0], false, 'fields not asked for are left out');
});

test('no token or an unknown token: APIError code 5', async () => {
  const { agent } = api(plain.base);
  const anon = new API({ apiBaseUrl: `${plain.base}/method`, agent });
  // users.get is documented without 🔰 and answers anonymously; a 🔰 method needs the token.
  assert.equal((await anon.users.get({ user_ids: 1 }))[0].id, 1);
  await assert.rejects(anon.account.getProfileInfo({}), (e) => e instanceof APIError && e.code === 5);
  const wrong = new API({ token: 'not-a-token', apiBaseUrl: `${plain.base}/method`, agent });
  await assert.rejects(wrong.users.get({ user_ids: 1 }), (e) => {
    assert.ok(e instanceof APIError);
    assert.equal(e.code, 5);
    assert.equal(JSON.stringify(e.params).includes('not-a-token'), false, 'the token is never echoed');
    return true;
  });
});

test('error 100: APIError with request_params', async () => {
  const { api: vk } = api(plain.base);
  await assert.rejects(vk.users.get({ user_ids: '', fields: 'sex' }), (e) => {
    assert.ok(e instanceof APIError);
    assert.equal(e.code, 100);
    assert.match(e.message, /^Code №100 - One of the parameters specified was missing or invalid/);
    const params = Object.fromEntries(e.params.map(({ key, value }) => [key, value]));
    assert.equal(params.user_ids, '');
    assert.equal(params.fields, 'sex');
    assert.equal(params.method, 'users.get');
    assert.equal(params.v, '5.199');
    return true;
  });
});

test('wall.post then wall.getById ({items} at 5.199)', async () => {
  const { api: vk } = api(plain.base);
  const { post_id: postId } = await vk.wall.post({ owner_id: 1, message: 'Hello from vk-io' });
  const got = await vk.wall.getById({ posts: `1_${postId}` });
  assert.equal(got.items[0].id, postId);
  assert.equal(got.items[0].text, 'Hello from vk-io');
  const newest = await vk.wall.get({ owner_id: 1, count: 1 });
  assert.equal(newest.items[0].id, postId);
});

test('messages.send then messages.getHistory', async () => {
  const { api: vk } = api(plain.base);
  const id = await vk.messages.send({ peer_id: 2, message: 'ping from vk-io', random_id: 0 });
  const hist = await vk.messages.getHistory({ peer_id: 2, count: 1 });
  assert.equal(hist.items[0].id, id);
  assert.equal(hist.items[0].text, 'ping from vk-io');
});

test('groups.getById at 5.199 is {groups, profiles}', async () => {
  const { api: vk } = api(plain.base);
  const r = await vk.groups.getById({ group_ids: [1, 2] });
  assert.deepEqual(Object.keys(r).sort(), ['groups', 'profiles']);
  assert.deepEqual(r.groups.map((g) => g.name), ['OpenVK Test Club', 'Lagtrain Fans']);
});

test('status.set then status.get', async () => {
  const { api: vk } = api(plain.base);
  assert.equal(await vk.status.set({ text: 'testing vk-io' }), 1);
  assert.deepEqual(await vk.status.get({}), { text: 'testing vk-io' });
});

test('api.execute({code}) resolves {response, errors}', async () => {
  const { api: vk } = api(plain.base);
  const r = await vk.execute({ code: 'return [API.users.get({"user_ids": 2}), API.nope.nope({}), API.utils.getServerTime()];' });
  assert.equal(r.response[0][0].first_name, 'Anna');
  assert.equal(r.response[1], false);
  assert.equal(typeof r.response[2], 'number');
  assert.equal(r.errors.length, 1);
  assert.ok(r.errors[0] instanceof ExecuteError);
  assert.equal(r.errors[0].code, 3);
  assert.equal(r.errors[0].method, 'nope.nope');
});

test('api.procedure runs a stored procedure (execute.NAME)', async () => {
  const { api: vk, agent } = api(plain.base);
  const r = await vk.procedure('getProfileAndFriends', { user_id: 1 });
  assert.equal(r.response.profile.id, 1);
  assert.deepEqual(r.response.friends.items, [2, 3], 'friends.get without fields: ids (VK)');
  assert.deepEqual(agent.paths, ['/method/execute.getProfileAndFriends']);
});

test("apiMode 'parallel' batches calls into one execute and maps a failure to its call", async () => {
  const { api: vk, agent } = api(plain.base, { apiMode: 'parallel' });
  const results = await Promise.allSettled([
    vk.users.get({ user_ids: 3 }),
    vk.utils.getServerTime({}),
    vk.wall.getById({}),
    vk.status.get({}),
  ]);
  assert.deepEqual(agent.paths, ['/method/execute'], 'one HTTP request for four calls');
  assert.equal(results[0].value[0].first_name, 'Ivan');
  assert.equal(typeof results[1].value, 'number');
  assert.equal(results[2].status, 'rejected');
  assert.ok(results[2].reason instanceof ExecuteError);
  assert.equal(results[2].reason.code, 100);
  assert.equal(results[3].status, 'fulfilled');
});

test('captcha: onCaptcha solves it, the retry passes', async () => {
  const { base } = await startMock('--captcha-every', '1');
  const callbackService = new CallbackService();
  const seen = [];
  callbackService.onCaptcha(async (payload, retry) => {
    seen.push(payload);
    const svg = await new Promise((resolve, reject) => {
      http.get(payload.src, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    assert.ok(svg.includes(payload.sid.slice(-4)), 'the image shows the documented answer');
    await retry(payload.sid.slice(-4)); // documented answer: the sid's last four digits
  });
  const { api: vk } = api(base, { callbackService });
  assert.equal(await vk.status.set({ text: 'after captcha' }), 1);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].type, 'API');
  assert.equal(seen[0].redirectUri, undefined);
  const { api: noHandler } = api(base);
  await assert.rejects(noHandler.status.set({ text: 'x' }), (e) => e instanceof APIError && e.code === 14 && Boolean(e.captchaSid) && Boolean(e.captchaImg));
});

test('captcha with --captcha-redirect: the success_token flow', async () => {
  const { base } = await startMock('--captcha-every', '1', '--captcha-redirect');
  const callbackService = new CallbackService();
  const seen = [];
  callbackService.onCaptcha(async (payload, retry) => {
    seen.push(payload);
    const page = await new Promise((resolve, reject) => {
      http.get(payload.redirectUri, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve(JSON.parse(body)));
      }).on('error', reject);
    });
    await retry(page.success_token); // vk-io sends it as success_token because redirect_uri came
  });
  const { api: vk } = api(base, { callbackService });
  assert.equal(await vk.status.set({ text: 'after redirect captcha' }), 1);
  assert.equal(seen.length, 1);
  assert.ok(seen[0].redirectUri.startsWith(`${base}/captcha/challenge?sid=`));
});

test('error 6 is retried transparently until the calls pass', async () => {
  const { base } = await startMock('--rate-limit', '2');
  const { api: vk, agent } = api(base, { apiLimit: 20 });
  const users = await Promise.all(Array.from({ length: 6 }, () => vk.users.get({ user_ids: 1 })));
  assert.equal(users.length, 6);
  assert.ok(users.every((u) => u[0].id === 1));
  assert.ok(agent.paths.length > 6, `some calls were answered error 6 and retried (${agent.paths.length} requests)`);
});

test('uploads: wall and message photos, then attached', async () => {
  const { api: vk, agent } = api(plain.base);
  const upload = new VK({ token: TOKEN, apiBaseUrl: `${plain.base}/method`, agent }).upload;
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64)]);
  const wall = await upload.wallPhoto({ source: { value: png, filename: 'a.png' } });
  assert.equal(wall.ownerId, 1);
  const { post_id: postId } = await vk.wall.post({ owner_id: 1, message: 'with a photo', attachments: String(wall) });
  const post = await vk.wall.getById({ posts: `1_${postId}` });
  assert.equal(post.items[0].attachments[0].photo.id, wall.id);
  const photo = await upload.messagePhoto({ peer_id: 2, source: { value: png, filename: 'a.png' } });
  await vk.messages.send({ peer_id: 2, message: 'look', attachment: String(photo), random_id: 0 });
  const hist = await vk.messages.getHistory({ peer_id: 2, count: 1 });
  assert.equal(`photo${hist.items[0].attachments[0].photo.owner_id}_${hist.items[0].attachments[0].photo.id}`, String(photo));
  const album = await upload.photoAlbum({ album_id: 1, source: { values: [{ value: png, filename: 'a.png' }] } });
  assert.equal(album[0].albumId ?? album[0].payload?.album_id, 1);
  assert.ok(agent.paths.includes('/upload/photo'), 'the files went to the mock\'s upload server');
});

test('bots long poll: message_new and wall_post_new reach vk.updates', async () => {
  const agent = new http.Agent({ keepAlive: false });
  const vk = new VK({ token: TOKEN, apiBaseUrl: `${plain.base}/method`, agent, pollingGroupId: 1, apiTimeout: 10_000 });
  const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} in ${ms} ms`)), ms).unref());
  const answered = new Promise((resolve) => {
    vk.updates.on('message_new', async (ctx) => {
      const sent = await ctx.send('pong');
      resolve({ text: ctx.text, senderId: ctx.senderId, peerId: ctx.peerId, sent });
    });
  });
  const wall = new Promise((resolve) => vk.updates.on('wall_post_new', (ctx) => resolve(ctx.wall.text)));
  await vk.updates.start();
  try {
    const res = await fetch(`${plain.base}/__vkconform/vk/group-event`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ group_id: 1, from_id: 2, text: 'ping' }),
    });
    assert.equal(res.status, 200);
    const got = await Promise.race([answered, timeout(10_000, 'message_new')]);
    assert.deepEqual([got.text, got.senderId, got.peerId], ['ping', 2, 2]);
    const hist = await vk.api.messages.getHistory({ peer_id: 2, count: 1 });
    assert.equal(hist.items[0].text, 'pong');
    await vk.api.wall.post({ owner_id: -1, message: 'club news' });
    assert.equal(await Promise.race([wall, timeout(10_000, 'wall_post_new')]), 'club news');
  } finally {
    await vk.updates.stop();
    agent.destroy();
  }
});

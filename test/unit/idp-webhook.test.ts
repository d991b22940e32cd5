import t, { type Test } from 'tap';
import type { IdentityQuery } from '../../src/policy/identity/provider.ts';
import { WebhookProvider } from '../../src/policy/identity/webhook.ts';
import { closedUrl } from '../support/fake-http.ts';
import { FakeWebhook } from '../support/fake-webhook.ts';
import { failureOf, identity, signal, startFake } from '../support/idp-test-kit.ts';

/** A started fake webhook with a few identities and a provider pointed at it. */
async function setup(t: Test) {
  const webhook = await startFake(t, () => FakeWebhook.start());
  webhook.setEntry({ id: 'ada@example.com', status: 'active', groups: ['staff', 'wifi'] });
  webhook.setEntry({ id: 'bob@example.com', status: 'disabled', groups: ['staff'], detail: 'left the company' });
  webhook.setEntry({ id: 'cy@example.com', status: 'disabled' });
  webhook.setEntry({ id: 'gone@example.com', status: 'not-found' });
  webhook.setEntry({ kind: 'device', id: 'dev-42', status: 'active', groups: ['laptops'] });
  const provider = new WebhookProvider({ name: 'hr', url: webhook.endpoint, headers: webhook.headers });
  return { webhook, provider };
}

/** A lookup of a user (or `kind`); with groups by default. */
const query = (id: string, groups = true, kind: IdentityQuery['kind'] = 'user') => identity(kind, id, groups);

t.test('each status of the contract', async (t) => {
  const { provider } = await setup(t);
  t.same(await provider.lookup(query('ada@example.com'), signal()), { status: 'active', groups: ['staff', 'wifi'] });
  t.same(await provider.lookup(query('bob@example.com'), signal()), { status: 'disabled', groups: ['staff'], detail: 'left the company' });
  t.same(await provider.lookup(query('cy@example.com'), signal()), { status: 'disabled', groups: [], detail: 'disabled' }, 'detail defaults to disabled');
  t.same(await provider.lookup(query('gone@example.com'), signal()), { status: 'not-found' }, 'not-found in the body');
  t.same(await provider.lookup(query('nobody@example.com'), signal()), { status: 'not-found' }, '404');
  t.same(await provider.lookup(query('dev-42', true, 'device'), signal()), { status: 'active', groups: ['laptops'] }, 'a device');
  t.same(await provider.lookup(query('dev-42'), signal()), { status: 'not-found' }, 'kinds are separate');
});

t.test('the request: POST, JSON body, configured headers', async (t) => {
  const { webhook, provider } = await setup(t);
  t.same(await provider.lookup(query('ada@example.com', false), signal()), { status: 'active', groups: [] }, 'no groups when not asked');
  const [request] = webhook.received();
  t.equal(request?.method, 'POST');
  t.equal(request?.path, '/identity');
  t.equal(request?.headers.authorization, webhook.authorization);
  t.equal(request?.headers['content-type'], 'application/json');
  t.equal(request?.headers.accept, 'application/json');
  t.same(JSON.parse(request?.body ?? ''), { kind: 'user', id: 'ada@example.com', groups: false });
});

t.test('a wrong secret is auth-failed and never quoted', async (t) => {
  const { webhook } = await setup(t);
  const provider = new WebhookProvider({ name: 'hr', url: `${webhook.endpoint}?tenant=s3cr3t-query`, headers: { authorization: 'Bearer wrong-secret' } });
  const error = await failureOf(provider.lookup(query('ada@example.com'), signal()));
  t.equal(error.reason, 'auth-failed');
  t.notMatch(error.message, /wrong-secret|s3cr3t-query|ada@example/, 'neither header, query nor key in the message');
});

t.test('answers that break the contract are bad-response', async (t) => {
  const { webhook, provider } = await setup(t);
  const bad: [string, unknown][] = [
    ['unknown status', { status: 'enabled' }],
    ['no status', { groups: [] }],
    ['status not a string', { status: true }],
    ['groups not an array', { status: 'active', groups: 'staff' }],
    ['groups not strings', { status: 'active', groups: ['staff', 7] }],
    ['detail not a string', { status: 'disabled', detail: { why: 'left' } }],
    ['an array', [{ status: 'active' }]],
    ['null', null],
  ];
  for (const [name, body] of bad) {
    webhook.setRawAnswer('user', 'odd@example.com', body);
    const error = await failureOf(provider.lookup(query('odd@example.com'), signal()));
    t.equal(error.reason, 'bad-response', name);
  }
  webhook.setRawAnswer('user', 'odd@example.com', { status: 'active', extra: 1 });
  t.same(await provider.lookup(query('odd@example.com'), signal()), { status: 'active', groups: [] }, 'other members are ignored');
  webhook.respondNext(1, { status: 204 });
  t.equal((await failureOf(provider.lookup(query('ada@example.com'), signal()))).reason, 'bad-response', '204');
  webhook.malformedNext(1);
  t.equal((await failureOf(provider.lookup(query('ada@example.com'), signal()))).reason, 'bad-response', 'not JSON');
});

t.test('HTTP failures', async (t) => {
  const { webhook, provider } = await setup(t);
  webhook.rateLimitNext(1, 3);
  const limited = await failureOf(provider.lookup(query('ada@example.com'), signal()));
  t.equal(limited.reason, 'rate-limited');
  t.equal(limited.retryAfterMs, 3000);

  webhook.failNext(1);
  t.equal((await failureOf(provider.lookup(query('ada@example.com'), signal()))).reason, 'http-error', '500');

  webhook.setDelay(2000);
  t.equal((await failureOf(provider.lookup(query('ada@example.com'), AbortSignal.timeout(200)))).reason, 'timeout');
  webhook.setDelay(0);
  t.equal(webhook.requests('/identity'), 3);

  const down = new WebhookProvider({ name: 'hr', url: `${await closedUrl()}/identity`, headers: {} });
  t.equal((await failureOf(down.lookup(query('ada@example.com'), signal()))).reason, 'network');
});

t.test('the constructor refuses a URL that is not one', async (t) => {
  t.throws(() => new WebhookProvider({ name: 'hr', url: 'not a url', headers: {} }), TypeError);
});

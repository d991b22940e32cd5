import { generateKeyPairSync } from 'node:crypto';
import t, { type Test } from 'tap';
import { GoogleProvider, parseServiceAccountKey, type GoogleOptions } from '../../src/policy/identity/google.ts';
import { createServiceAccountKey, FakeGoogle } from '../support/fake-google.ts';
import { closedUrl } from '../support/fake-http.ts';
import { failureOf, identity, signal, startFake } from '../support/idp-test-kit.ts';

const USERS = '/admin/directory/v1/users/';
const GROUPS = '/admin/directory/v1/groups';

/** A started fake with a few users and a provider pointed at it. */
async function setup(t: Test, options: Partial<GoogleOptions> = {}) {
  const google = await startFake(t, () => FakeGoogle.start());
  google.setUser({ primaryEmail: 'ada@example.com', id: '111', groups: [{ email: 'staff@example.com', name: 'Staff' }, { email: 'wifi@example.com', name: 'Wi-Fi users' }] });
  google.setUser({ primaryEmail: 'bob@example.com', suspended: true, suspensionReason: 'ADMIN', groups: [{ email: 'staff@example.com', name: 'Staff' }] });
  google.setUser({ primaryEmail: 'cy@example.com', suspended: true });
  google.setUser({ primaryEmail: 'dee@example.com', archived: true });
  const provider = new GoogleProvider({
    name: 'workspace',
    serviceAccount: parseServiceAccountKey(google.serviceAccountJson),
    subject: google.subject,
    directoryUrl: google.url,
    ...options,
  });
  return { google, provider };
}

/** A user lookup; with groups by default. */
const user = (id: string, groups = true) => identity('user', id, groups);

t.test('parseServiceAccountKey', async (t) => {
  const key = await createServiceAccountKey({ clientEmail: 'sa@p.iam.gserviceaccount.com', tokenUri: 'https://oauth2.googleapis.com/token' });
  const parsed = parseServiceAccountKey(key.json);
  t.equal(parsed.clientEmail, 'sa@p.iam.gserviceaccount.com');
  t.equal(parsed.tokenUri, 'https://oauth2.googleapis.com/token');
  t.equal(parsed.privateKeyId, key.privateKeyId);
  t.match(parsed.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);

  const file = JSON.parse(key.json) as Record<string, unknown>;
  const without = (name: string) => JSON.stringify({ ...file, [name]: undefined });
  const keyBody = (file.private_key as string).split('\n')[1] ?? '';
  const cases: [string, string, RegExp][] = [
    ['not JSON', key.json.slice(0, 200), /not valid JSON/],
    ['not an object', '["service_account"]', /not a JSON object/],
    ['wrong type', JSON.stringify({ ...file, type: 'authorized_user' }), /"type" must be "service_account"/],
    ['no client_email', without('client_email'), /no "client_email"/],
    ['no private_key', without('private_key'), /no "private_key"/],
    ['no token_uri', without('token_uri'), /no "token_uri"/],
    ['token_uri not a URL', JSON.stringify({ ...file, token_uri: 'oauth2 token' }), /"token_uri" is not a URL/],
    ['private_key_id not a string', JSON.stringify({ ...file, private_key_id: 7 }), /"private_key_id" must be a string/],
  ];
  for (const [name, json, message] of cases) {
    let thrown: unknown;
    try {
      parseServiceAccountKey(json);
    } catch (error) {
      thrown = error;
    }
    t.type(thrown, Error, name);
    t.match((thrown as Error).message, message, name);
    t.notMatch((thrown as Error).message, keyBody.slice(0, 16), `${name}: no key material`);
    t.equal((thrown as Error).cause, undefined, `${name}: no cause that could quote the file`);
  }
  const noId = parseServiceAccountKey(without('private_key_id'));
  t.equal(noId.privateKeyId, undefined, 'private_key_id is optional');
});

t.test('the constructor refuses a key that cannot sign RS256', async (t) => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const serviceAccount = { clientEmail: 'sa@p', privateKeyPem: ec, tokenUri: 'https://oauth2.googleapis.com/token' };
  t.throws(() => new GoogleProvider({ name: 'g', serviceAccount, subject: 'admin@example.com', directoryUrl: 'https://admin.googleapis.com' }), /RSA \(RS256\)/);
  t.throws(() => new GoogleProvider({ name: 'g', serviceAccount: { ...serviceAccount, privateKeyPem: 'nope' }, subject: 'a', directoryUrl: 'https://admin.googleapis.com' }), /PEM/);
});

t.test('an active user with groups by e-mail and name', async (t) => {
  const { google, provider } = await setup(t);
  t.same(await provider.lookup(user('ada@example.com'), signal()), {
    status: 'active',
    groups: ['staff@example.com', 'Staff', 'wifi@example.com', 'Wi-Fi users'],
  });
  t.same(await provider.lookup(user('111'), signal()), { status: 'active', groups: ['staff@example.com', 'Staff', 'wifi@example.com', 'Wi-Fi users'] }, 'by immutable id');
  t.same(await provider.lookup(user('ADA@example.com', false), signal()), { status: 'active', groups: [] }, 'groups not asked');
  t.equal(google.requests(GROUPS), 2, 'no group request when groups are not needed');
  const [first] = google.received(USERS);
  t.equal(first?.path, `${USERS}ada%40example.com`);
  t.equal(first?.query.get('projection'), 'basic');
  const [groups] = google.received(GROUPS);
  t.equal(groups?.query.get('userKey'), 'ada@example.com');
  t.equal(groups?.query.get('maxResults'), '200');
});

t.test('suspended and archived users are disabled', async (t) => {
  const { provider } = await setup(t);
  t.same(await provider.lookup(user('bob@example.com'), signal()), { status: 'disabled', groups: ['staff@example.com', 'Staff'], detail: 'suspended: ADMIN' });
  t.same(await provider.lookup(user('cy@example.com'), signal()), { status: 'disabled', groups: [], detail: 'suspended' });
  t.same(await provider.lookup(user('dee@example.com'), signal()), { status: 'disabled', groups: [], detail: 'archived' });
});

t.test('an unknown user is not-found', async (t) => {
  const { google, provider } = await setup(t);
  t.same(await provider.lookup(user('nobody@example.com'), signal()), { status: 'not-found' });
  t.equal(google.requests(GROUPS), 0, 'no group request for an unknown user');
});

t.test('a user deleted between the user and group requests is not-found', async (t) => {
  const { google, provider } = await setup(t);
  google.failNext(1, 404, GROUPS);
  t.same(await provider.lookup(user('ada@example.com'), signal()), { status: 'not-found' });
});

t.test('a 404 without Google\'s notFound reason is a wrong URL, not an answer', async (t) => {
  const { google, provider } = await setup(t);
  google.respondNext(1, { path: USERS, status: 404, body: { message: 'no such route' } });
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'http-error');
  google.respondNext(1, { path: USERS, status: 404, text: '<html>Not Found</html>' });
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'bad-response');
});

t.test('keys that cannot be one path segment are not-found without a request', async (t) => {
  const { google, provider } = await setup(t);
  for (const id of ['', '.', '..']) t.same(await provider.lookup(user(id), signal()), { status: 'not-found' }, JSON.stringify(id));
  t.equal(google.requests(), 0);
});

t.test('groups are read page by page', async (t) => {
  const { google, provider } = await setup(t);
  const groups = Array.from({ length: 7 }, (_, i) => ({ email: `g${i}@example.com`, name: `Group ${i}` }));
  google.setUser({ primaryEmail: 'many@example.com', groups });
  google.groupPageSize = 3;
  const answer = await provider.lookup(user('many@example.com'), signal());
  t.same(answer, { status: 'active', groups: groups.flatMap((g) => [g.email, g.name]) });
  const pages = google.received(GROUPS);
  t.equal(pages.length, 3);
  t.equal(pages[0]?.query.get('pageToken'), null);
  t.ok(pages[1]?.query.get('pageToken'));
});

t.test('too many pages of groups fail rather than answer a partial list', async (t) => {
  const { google, provider } = await setup(t);
  google.setUser({ primaryEmail: 'huge@example.com', groups: Array.from({ length: 25 }, (_, i) => ({ email: `g${i}@example.com`, name: `G${i}` })) });
  google.groupPageSize = 1;
  const error = await failureOf(provider.lookup(user('huge@example.com'), signal()));
  t.equal(error.reason, 'bad-response');
  t.equal(google.requests(GROUPS), 20);
});

t.test('device lookups are unsupported', async (t) => {
  const { google, provider } = await setup(t);
  const error = await failureOf(provider.lookup(identity('device', 'dev-1', false), signal()));
  t.equal(error.reason, 'unsupported');
  t.equal(google.requests(), 0, 'nothing is sent');
});

t.test('one token serves many lookups, concurrent ones included', async (t) => {
  const { google, provider } = await setup(t);
  await Promise.all([1, 2, 3].map(() => provider.lookup(user('ada@example.com'), signal())));
  await provider.lookup(user('bob@example.com'), signal());
  await provider.lookup(user('nobody@example.com'), signal());
  t.equal(google.requests('/token'), 1);
  const [request] = google.received('/token');
  const form = new URLSearchParams(request?.body);
  t.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
  const claims = JSON.parse(Buffer.from(form.get('assertion')?.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  t.same(claims, {
    iss: google.clientEmail,
    sub: google.subject,
    scope: 'https://www.googleapis.com/auth/admin.directory.user.readonly https://www.googleapis.com/auth/admin.directory.group.readonly',
    aud: google.tokenUrl,
    iat: claims.iat,
    exp: (claims.iat as number) + 3600,
  });
});

t.test('the token is renewed when it expires', async (t) => {
  let clock = Date.now();
  const { google, provider } = await setup(t, { now: () => clock });
  await provider.lookup(user('ada@example.com'), signal());
  clock += 30 * 60 * 1000;
  await provider.lookup(user('ada@example.com'), signal());
  t.equal(google.requests('/token'), 1, 'still valid after 30 minutes');
  clock += 30 * 60 * 1000;
  await provider.lookup(user('ada@example.com'), signal());
  t.equal(google.requests('/token'), 2, 'renewed after an hour');
});

t.test('a token the API refuses is dropped and the request retried once', async (t) => {
  const { google, provider } = await setup(t);
  await provider.lookup(user('ada@example.com', false), signal());
  google.revokeTokens();
  t.same(await provider.lookup(user('ada@example.com', false), signal()), { status: 'active', groups: [] });
  t.equal(google.requests('/token'), 2, 'a new token');
  t.equal(google.requests(USERS), 3);

  google.respondNext(5, { path: USERS, status: 401, body: { error: { code: 401, message: 'Invalid Credentials' } } });
  const error = await failureOf(provider.lookup(user('ada@example.com', false), signal()));
  t.equal(error.reason, 'auth-failed');
  t.equal(google.requests(USERS), 5, 'one retry, no more');
  t.equal(google.requests('/token'), 3);
  t.notMatch(error.message, /ya29|Bearer/, 'no token in the message');
});

t.test('an assertion the token endpoint refuses is auth-failed', async (t) => {
  const google = await startFake(t, () => FakeGoogle.start());
  google.setUser({ primaryEmail: 'ada@example.com' });
  const otherKey = await createServiceAccountKey({ clientEmail: google.clientEmail, tokenUri: google.tokenUrl });
  const wrongKey = new GoogleProvider({ name: 'g', serviceAccount: parseServiceAccountKey(otherKey.json), subject: google.subject, directoryUrl: google.url });
  const error = await failureOf(wrongKey.lookup(user('ada@example.com'), signal()));
  t.equal(error.reason, 'auth-failed', 'a key Google does not know');
  t.notMatch(error.message, /PRIVATE KEY|eyJ/, 'neither key nor assertion in the message');

  const wrongSubject = new GoogleProvider({ name: 'g', serviceAccount: parseServiceAccountKey(google.serviceAccountJson), subject: 'someone@example.com', directoryUrl: google.url });
  t.equal((await failureOf(wrongSubject.lookup(user('ada@example.com'), signal()))).reason, 'auth-failed', 'a subject the delegation does not cover');
  t.equal(google.requests(USERS), 0);
});

t.test('429 is rate-limited with the delay Google asks for', async (t) => {
  const { google, provider } = await setup(t);
  google.rateLimitNext(1, 7, USERS);
  const error = await failureOf(provider.lookup(user('ada@example.com'), signal()));
  t.equal(error.reason, 'rate-limited');
  t.equal(error.retryAfterMs, 7000);
});

t.test('a slow answer times out on the caller signal', async (t) => {
  const { google, provider } = await setup(t);
  await provider.lookup(user('ada@example.com', false), signal());
  google.setDelay(2000);
  const started = Date.now();
  const error = await failureOf(provider.lookup(user('ada@example.com', false), AbortSignal.timeout(200)));
  t.equal(error.reason, 'timeout');
  t.ok(Date.now() - started < 1500, 'gave up at the deadline');
});

t.test('a slow token endpoint times out too', async (t) => {
  const { google, provider } = await setup(t);
  google.setDelay(2000);
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), AbortSignal.timeout(200)))).reason, 'timeout');
});

t.test('500 is http-error', async (t) => {
  const { google, provider } = await setup(t);
  google.failNext(1, 500, GROUPS);
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'http-error');
});

t.test('a closed port is network', async (t) => {
  const google = await startFake(t, () => FakeGoogle.start());
  const provider = new GoogleProvider({ name: 'g', serviceAccount: parseServiceAccountKey(google.serviceAccountJson), subject: google.subject, directoryUrl: await closedUrl() });
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'network', 'directory down');
  const noTokens = new GoogleProvider({
    name: 'g',
    serviceAccount: { ...parseServiceAccountKey(google.serviceAccountJson), tokenUri: `${await closedUrl()}/token` },
    subject: google.subject,
    directoryUrl: google.url,
  });
  t.equal((await failureOf(noTokens.lookup(user('ada@example.com'), signal()))).reason, 'network', 'token endpoint down');
});

t.test('malformed answers are bad-response', async (t) => {
  const { google, provider } = await setup(t);
  google.malformedNext(1, USERS);
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'bad-response', 'not JSON');

  google.respondNext(1, { path: USERS, status: 200, body: { kind: 'admin#directory#user', primaryEmail: 'ada@example.com', archived: false } });
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'bad-response', 'no "suspended"');

  google.respondNext(1, { path: USERS, status: 200, body: { suspended: 'false' } });
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'bad-response', '"suspended" not a boolean');

  google.respondNext(1, { path: USERS, status: 200, body: { suspended: false, archived: 'no' } });
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'bad-response', '"archived" not a boolean');

  google.respondNext(1, { path: GROUPS, status: 200, body: { groups: { email: 'a@example.com' } } });
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'bad-response', '"groups" not an array');

  google.respondNext(1, { path: GROUPS, status: 200, body: { groups: [{ name: 'Staff' }] } });
  t.equal((await failureOf(provider.lookup(user('ada@example.com'), signal()))).reason, 'bad-response', 'a group without an e-mail');

  t.same(await provider.lookup(user('ada@example.com'), signal()), { status: 'active', groups: ['staff@example.com', 'Staff', 'wifi@example.com', 'Wi-Fi users'] }, 'fine again');
});

t.test('keys with + and / are percent-encoded in the path and the query', async (t) => {
  const { google, provider } = await setup(t);
  google.setUser({ primaryEmail: 'o+brien/x@example.com', groups: [{ email: 'staff@example.com', name: 'Staff' }] });
  t.same(await provider.lookup(user('o+brien/x@example.com'), signal()), { status: 'active', groups: ['staff@example.com', 'Staff'] });
  t.equal(google.received(USERS)[0]?.path, `${USERS}o%2Bbrien%2Fx%40example.com`);
  t.equal(google.received(GROUPS)[0]?.query.get('userKey'), 'o+brien/x@example.com');
});

t.test('a trailing slash on the directory URL is harmless', async (t) => {
  const { google, provider } = await setup(t, {});
  const slashed = new GoogleProvider({ name: 'g', serviceAccount: parseServiceAccountKey(google.serviceAccountJson), subject: google.subject, directoryUrl: `${google.url}/` });
  t.same(await slashed.lookup(user('dee@example.com', false), signal()), await provider.lookup(user('dee@example.com', false), signal()));
});

import { Agent, request, type IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import {
  MAX_REQUEST_BODY_BYTES,
  isLoopback,
  startOpsHttpServer,
  type OpsRoutes,
  type Readiness,
  type ReloadOutcome,
} from '../../src/obs/http-server.ts';
import { createLogger } from '../../src/obs/logger.ts';

const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const METRICS_BODY = '# HELP up fake\n# TYPE up gauge\nup 1\n';

/** Fake routes whose behaviour each test sets. */
interface FakeRoutes extends OpsRoutes {
  readinessValue: Readiness;
  metricsImpl: () => Promise<{ contentType: string; body: string }>;
  readinessImpl: () => Readiness;
  reloadImpl: () => Promise<ReloadOutcome>;
  reloads: number;
}

function fakeRoutes(): FakeRoutes {
  const routes: FakeRoutes = {
    readinessValue: { ready: true, checks: { listeners: true, draining: false } },
    metricsImpl: async () => ({ contentType: METRICS_TYPE, body: METRICS_BODY }),
    readinessImpl: () => routes.readinessValue,
    reloadImpl: async () => ({ ok: true }),
    reloads: 0,
    metrics: () => routes.metricsImpl(),
    readiness: () => routes.readinessImpl(),
    reload: () => {
      routes.reloads += 1;
      return routes.reloadImpl();
    },
  };
  return routes;
}

/** A listener on 127.0.0.1, an ephemeral port, fake routes and captured log lines. */
async function startTestServer(t: Test) {
  const routes = fakeRoutes();
  let logText = '';
  const destination = new PassThrough({ encoding: 'utf8' });
  destination.on('data', (text: string) => {
    logText += text;
  });
  /** The JSON log lines written so far. */
  const logs = (): Record<string, unknown>[] =>
    logText
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const logger = createLogger({ level: 'info', pretty: false, destination });
  const server = await startOpsHttpServer({ address: '127.0.0.1', port: 0, routes, logger });
  t.teardown(() => server.close());
  const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;
  return { server, routes, logs, url };
}

/** A promise and its resolver, to hold a route open. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves to `'timeout'` if `promise` takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

t.test('isLoopback: 127.0.0.0/8, ::1 and IPv4-mapped loopback only', async (t) => {
  for (const address of ['127.0.0.1', '127.9.9.9', '127.255.255.255', '::1', '::ffff:127.0.0.1', '::ffff:127.1.2.3', '0:0:0:0:0:0:0:1']) {
    t.equal(isLoopback(address), true, `${address} is loopback`);
  }
  for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '192.168.1.1', '128.0.0.1', '::', '::2', '0.0.0.0', '2001:db8::1', 'localhost', '', undefined]) {
    t.equal(isLoopback(address), false, `${String(address)} is not loopback`);
  }
});

t.test('GET /metrics: the registry text and its content type', async (t) => {
  const { url } = await startTestServer(t);
  const res = await fetch(url('/metrics'));
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), METRICS_TYPE);
  t.equal(res.headers.get('cache-control'), 'no-store');
  t.equal(await res.text(), METRICS_BODY);
  const withQuery = await fetch(url('/metrics?name[]=up'));
  t.equal(withQuery.status, 200, 'a query string does not change the path');
  await withQuery.body?.cancel();
});

t.test('GET /healthz: ok', async (t) => {
  const { url } = await startTestServer(t);
  const res = await fetch(url('/healthz'));
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain/);
  t.equal(await res.text(), 'ok\n');
});

t.test('GET /readyz: 200 when ready, 503 when not, with the checks', async (t) => {
  const { url, routes } = await startTestServer(t);
  let res = await fetch(url('/readyz'));
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  t.same(await res.json(), { ready: true, checks: { listeners: true, draining: false } });

  routes.readinessValue = { ready: false, checks: { listeners: true, draining: true } };
  res = await fetch(url('/readyz'));
  t.equal(res.status, 503);
  t.same(await res.json(), { ready: false, checks: { listeners: true, draining: true } });
  const head = await fetch(url('/readyz'), { method: 'HEAD' });
  t.equal(head.status, 503, 'HEAD has the same status');
});

t.test('HEAD is served for the GET routes, without a body', async (t) => {
  const { url } = await startTestServer(t);
  for (const path of ['/metrics', '/healthz', '/readyz']) {
    const res = await fetch(url(path), { method: 'HEAD' });
    t.equal(res.status, 200, `HEAD ${path}`);
    t.ok(Number(res.headers.get('content-length')) > 0, `HEAD ${path} announces the GET length`);
    t.equal(await res.text(), '', `HEAD ${path} has no body`);
  }
});

t.test('POST /reload from loopback: 200 ok, 409 with the problems', async (t) => {
  const { url, routes } = await startTestServer(t);
  let res = await fetch(url('/reload'), { method: 'POST' });
  t.equal(res.status, 200);
  t.same(await res.json(), { ok: true });

  routes.reloadImpl = async () => ({ ok: false, problems: ['config.yaml:3: tls.certificate: file not found'] });
  res = await fetch(url('/reload'), { method: 'POST' });
  t.equal(res.status, 409);
  t.same(await res.json(), { ok: false, problems: ['config.yaml:3: tls.certificate: file not found'] });

  routes.reloadImpl = async () => ({ ok: true });
  res = await fetch(url('/reload'), { method: 'POST', body: 'ignored body' });
  t.equal(res.status, 200, 'a small body is ignored');
  await res.body?.cancel();
  t.equal(routes.reloads, 3);
});

t.test('POST /reload while a reload runs: 409, and the next one runs', async (t) => {
  const { url, routes } = await startTestServer(t);
  const held = deferred<ReloadOutcome>();
  routes.reloadImpl = () => held.promise;
  const first = fetch(url('/reload'), { method: 'POST' });
  while (routes.reloads === 0) await new Promise((resolve) => setTimeout(resolve, 5));

  const second = await fetch(url('/reload'), { method: 'POST' });
  t.equal(second.status, 409);
  t.same(await second.json(), { ok: false, problems: ['a reload is already running'] });
  t.equal(routes.reloads, 1, 'the second request did not call reload');

  held.resolve({ ok: true });
  const firstRes = await first;
  t.equal(firstRes.status, 200);
  t.same(await firstRes.json(), { ok: true });

  routes.reloadImpl = async () => ({ ok: true });
  const third = await fetch(url('/reload'), { method: 'POST' });
  t.equal(third.status, 200, 'the flag is released once the reload ends');
  await third.body?.cancel();
});

t.test('unknown path 404, wrong method 405 with Allow', async (t) => {
  const { url, routes } = await startTestServer(t);
  for (const path of ['/', '/nope', '/metrics/', '/METRICS']) {
    const res = await fetch(url(path));
    t.equal(res.status, 404, `GET ${path}`);
    await res.body?.cancel();
  }
  const wrongMethods: [method: string, path: string, allow: string][] = [
    ['POST', '/metrics', 'GET, HEAD'],
    ['DELETE', '/healthz', 'GET, HEAD'],
    ['PUT', '/readyz', 'GET, HEAD'],
    ['GET', '/reload', 'POST'],
    ['HEAD', '/reload', 'POST'],
    ['PUT', '/reload', 'POST'],
  ];
  for (const [method, path, allow] of wrongMethods) {
    const res = await fetch(url(path), { method });
    t.equal(res.status, 405, `${method} ${path}`);
    t.equal(res.headers.get('allow'), allow, `${method} ${path}: Allow ${allow}`);
    await res.body?.cancel();
  }
  t.equal(routes.reloads, 0, 'no wrong method reached reload');
});

t.test('a failing route gives a generic 500, is logged at error, and the server keeps serving', async (t) => {
  const { url, routes, logs } = await startTestServer(t);
  routes.metricsImpl = async () => {
    throw new Error('registry exploded: secret detail');
  };
  routes.readinessImpl = () => {
    throw new Error('readiness exploded');
  };
  routes.reloadImpl = async () => {
    throw new Error('reload exploded');
  };
  for (const [method, path] of [
    ['GET', '/metrics'],
    ['GET', '/readyz'],
    ['POST', '/reload'],
  ] as const) {
    const res = await fetch(url(path), { method });
    t.equal(res.status, 500, `${method} ${path}`);
    t.equal(await res.text(), 'internal error\n', 'the body says nothing of the cause');
  }
  const errors = logs().filter((line) => line['event'] === 'ops-route-failed');
  t.equal(errors.length, 3, 'each failure is logged once');
  t.ok(
    errors.every((line) => line['level'] === 50),
    'at error',
  );
  t.same(
    errors.map((line) => line['path']),
    ['/metrics', '/readyz', '/reload'],
  );

  const health = await fetch(url('/healthz'));
  t.equal(health.status, 200, 'still serving');
  await health.body?.cancel();
  routes.reloadImpl = async () => ({ ok: true });
  const reload = await fetch(url('/reload'), { method: 'POST' });
  t.equal(reload.status, 200, 'a failed reload releases the reload flag');
  await reload.body?.cancel();
});

/** Sends a raw request over a fresh connection; resolves with the response or the socket error. */
function rawRequest(port: number, options: { method: string; path: string; headers?: Record<string, string>; body?: Buffer[] }) {
  return new Promise<{ res?: IncomingMessage; error?: NodeJS.ErrnoException }>((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: options.method, path: options.path, headers: options.headers, agent: false });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ res }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error }));
    for (const chunk of options.body ?? []) req.write(chunk);
    req.end();
  });
}

t.test('request bodies are capped at 1 KiB', async (t) => {
  const { server, routes } = await startTestServer(t);
  const big = Buffer.alloc(MAX_REQUEST_BODY_BYTES + 1, 0x61);

  const declared = await rawRequest(server.port, {
    method: 'POST',
    path: '/reload',
    headers: { 'Content-Length': String(big.length) },
    body: [big],
  });
  t.equal(declared.res?.statusCode, 413, 'a declared large body is refused');
  t.equal(declared.res?.headers['connection'], 'close', 'and the connection closed');

  const chunked = await rawRequest(server.port, {
    method: 'POST',
    path: '/reload',
    headers: { 'Transfer-Encoding': 'chunked' },
    body: [big.subarray(0, 600), big.subarray(600)],
  });
  t.equal(chunked.res, undefined, 'no answer to a chunked body over the cap');
  t.ok(chunked.error !== undefined, 'the connection is destroyed');

  const atCap = await rawRequest(server.port, {
    method: 'POST',
    path: '/reload',
    headers: { 'Transfer-Encoding': 'chunked' },
    body: [big.subarray(0, 512), big.subarray(512, MAX_REQUEST_BODY_BYTES)],
  });
  t.equal(atCap.res?.statusCode, 200, 'a body at the cap is read and ignored');
  t.equal(routes.reloads, 1, 'only the request within the cap reached reload');
});

t.test('close() resolves with an idle keep-alive connection and with a request in flight', async (t) => {
  const { server, routes, url } = await startTestServer(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => agent.destroy());

  const idle = await new Promise<IncomingMessage>((resolve, reject) => {
    request(url('/healthz'), { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    })
      .on('error', reject)
      .end();
  });
  t.equal(idle.headers['connection'], 'keep-alive');
  const idleSocket = Object.values(agent.freeSockets).flat()[0];
  t.ok(idleSocket, 'the agent holds an idle keep-alive socket');
  const idleClosed = new Promise<void>((resolve) => idleSocket?.once('close', () => resolve()));

  routes.reloadImpl = () => new Promise<ReloadOutcome>(() => {});
  const inFlight = new Promise<string>((resolve) => {
    request(url('/reload'), { agent, method: 'POST' }, () => resolve('answered'))
      .on('error', () => resolve('error'))
      .end();
  });
  while (routes.reloads === 0) await new Promise((resolve) => setTimeout(resolve, 5));

  t.equal(await within(server.close(), 2_000), undefined, 'close() resolves');
  t.equal(await within(idleClosed, 2_000), undefined, 'the idle keep-alive socket is closed');
  t.equal(await within(inFlight, 2_000), 'error', 'the request in flight is cut');
  t.equal(await within(server.close(), 2_000), undefined, 'a second close() resolves too');
  const refused = await fetch(url('/healthz')).then(
    () => 'answered',
    () => 'refused',
  );
  t.equal(refused, 'refused', 'nothing listens any more');
});

t.test('a bind error rejects the start, naming address:port', async (t) => {
  const { server } = await startTestServer(t);
  const logger = createLogger({ level: 'silent', pretty: false });
  await t.rejects(
    startOpsHttpServer({ address: '127.0.0.1', port: server.port, routes: fakeRoutes(), logger }),
    { message: new RegExp(`^operations HTTP listener cannot bind 127\\.0\\.0\\.1:${server.port}: EADDRINUSE`) },
  );
  await t.rejects(startOpsHttpServer({ address: '2001:db8::1', port: 0, routes: fakeRoutes(), logger }), {
    message: /^operations HTTP listener cannot bind \[2001:db8::1\]:0: /,
  });
});

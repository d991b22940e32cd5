/**
 * Starts a real portcullis server for a test: the shared test PKI, UDP on 127.0.0.1 with a port
 * chosen by the OS, the decision log captured in memory, and stop on teardown.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/obs/logger.ts';
import { ensureDevPki, type DevPkiPaths } from '../../src/pki/dev-pki.ts';
import { RadiusServer } from '../../src/server/radius-server.ts';

/** The shared secret of the test NAS client. */
export const TEST_SECRET = 'portcullis-test-secret';

/** The PKI every test shares, generated once per machine (ensureDevPki locks against races). */
export async function testPki(): Promise<DevPkiPaths> {
  return (await ensureDevPki(join(tmpdir(), 'portcullis-test-pki'))).paths;
}

/** The policy of the test server: OU Staff -> VLAN 100, OU Students -> VLAN 200, else reject. */
export const DEFAULT_POLICY_YAML = `
policy:
  rules:
    - name: staff
      match:
        cert_subject: { OU: Staff }
      action: accept
      vlan: 100
      reply: { session_timeout: 3600 }
    - name: students
      match:
        cert_subject: { OU: Students }
      action: accept
      vlan: 200
  default:
    action: reject
    reason: no-matching-rule
`;

/** The `tls:` lines (indented by two spaces) of the dev PKI: server pair, anchor, intermediate, both CRLs. */
export function devPkiYaml(pki: DevPkiPaths): string {
  return `  certificate: ${pki.server.cert}
  private_key: ${pki.server.key}
  trust_anchors: [${pki.root.cert}]
  intermediates: [${pki.intermediate.cert}]
  crl_files: [${pki.rootCrl}, ${pki.intermediateCrl}]`;
}

/** Options of {@link startTestServer}. */
export interface TestServerOptions {
  /**
   * Replaces the PKI lines of the `tls:` block (certificate, private_key, trust_anchors,
   * intermediates, crl_files; indented by two spaces) for tests that bring their own PKI.
   */
  readonly pkiYaml?: string;
  /** YAML appended to the `tls:` block (indented by two spaces), e.g. `  min_version: TLSv1.3`. */
  readonly tlsYaml?: string;
  /** YAML appended to the `clients[0]` entry (indented by four spaces). */
  readonly clientYaml?: string;
  /** A whole `eap:` block (`workers` is added to it). */
  readonly eapYaml?: string;
  /** `eap.workers`: 0 (conversations on the test's own thread) by default. */
  readonly workers?: number;
  /** Replaces {@link DEFAULT_POLICY_YAML}. */
  readonly policyYaml?: string;
  /** YAML appended to the `operations:` block (indented by two spaces), e.g. `  drain_seconds: 2`. */
  readonly operationsYaml?: string;
  /** A whole `accounting:` block, e.g. with `listen: [{ address: 127.0.0.1, port: 0 }]`. */
  readonly accountingYaml?: string;
  /** A whole `radsec:` block, e.g. with `listen: [{ address: 127.0.0.1, port: 0 }]` and `peers`. */
  readonly radsecYaml?: string;
  /** Whole top-level blocks appended at the end, e.g. `revocation:` and `identity:`. */
  readonly extraYaml?: string;
}

/** A running test server. */
export interface TestServer {
  readonly server: RadiusServer;
  readonly port: number;
  /** The first accounting listener's port; undefined without `accountingYaml` listeners. */
  readonly accountingPort: number | undefined;
  readonly pki: DevPkiPaths;
  readonly secret: string;
  /** Every log line written so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The `event: decision` lines so far. */
  decisions(): Record<string, unknown>[];
  /** The current value of a counter or gauge with exactly these labels (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** The configuration text {@link startTestServer} starts from; also what a test reloads with changes. */
export function testServerYaml(pki: DevPkiPaths, options: TestServerOptions = {}): string {
  return `
listen:
  - address: 127.0.0.1
    port: 0
log:
  level: info
tls:
${options.pkiYaml ?? devPkiYaml(pki)}
${options.tlsYaml ?? ''}
${options.eapYaml ?? 'eap:'}
  workers: ${options.workers ?? 0}
clients:
  - name: test-nas
    address: 127.0.0.1/32
    secret: ${TEST_SECRET}
${options.clientYaml ?? ''}
${options.policyYaml ?? DEFAULT_POLICY_YAML}
operations:
  http:
    port: 0
${options.operationsYaml ?? ''}
${options.accountingYaml ?? ''}
${options.radsecYaml ?? ''}
${options.extraYaml ?? ''}
`;
}

/** Starts a server; `t.teardown` stops it. */
export async function startTestServer(
  t: { teardown: (fn: () => unknown) => void },
  options: TestServerOptions = {},
): Promise<TestServer> {
  const pki = await testPki();
  const config = parseConfig(testServerYaml(pki, options), 'test-server.yaml');
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ level: 'info', pretty: false, destination });
  const server = await RadiusServer.start(config, logger);
  t.teardown(() => server.stop());
  const port = server.addresses[0]?.port;
  if (port === undefined) throw new Error('no listener');
  return {
    server,
    port,
    accountingPort: server.accountingAddresses[0]?.port,
    pki,
    secret: TEST_SECRET,
    logs,
    decisions: () => logs.filter((line) => line['event'] === 'decision'),
    metric: async (name, labels = {}) => {
      const metric = (await server.metricsRegistry()).getSingleMetric(name);
      if (metric === undefined) return 0;
      const { values } = await metric.get();
      const wanted = Object.entries(labels);
      const found = values.find(
        (v) => Object.keys(v.labels).length === wanted.length && wanted.every(([k, val]) => v.labels[k] === val),
      );
      return found?.value ?? 0;
    },
  };
}

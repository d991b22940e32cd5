/**
 * The load generator: many EAP-TLS supplicants behind a NAS, each running whole authentications
 * one after another (closed loop, `concurrency` at once) or started at a fixed rate (open loop).
 * Every Access-Accept is checked: the expected VLAN, and both MPPE keys decrypted and equal to the
 * MSK the supplicant derived itself. The server's CPU time and memory are read from /proc.
 */
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { decryptMppeKeys, readVlan, RadiusTestClient } from '../test/support/radius-client.ts';
import { EapTlsSupplicant, type AccessExchanger, type SupplicantResult } from '../test/support/supplicant.ts';
import { cpuBetween, sampleProcess } from './proc-stats.ts';
import { summarize, type Percentiles } from './stats.ts';

/** How the load reaches the server. */
export type NasTransport =
  /** A fresh UDP socket per authentication, as many NAS ports as conversations. */
  | { readonly kind: 'udp'; readonly port: number; readonly secret: string }
  /** One RadSec connection shared by every conversation. */
  | { readonly kind: 'radsec'; readonly exchanger: AccessExchanger };

/** Options of {@link runLoad}. */
export interface LoadOptions {
  readonly transport: NasTransport;
  /** The client certificate chain, key and the server's CA (PEM). */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  readonly version: 'TLSv1.2' | 'TLSv1.3';
  /** Conversations at once (closed loop), or the most at once (open loop). */
  readonly concurrency: number;
  /** Open loop: authentications started per second; closed loop when absent. */
  readonly rate?: number;
  /** Stop after this many authentications ... */
  readonly count?: number;
  /** ... or after this many seconds, whichever comes first. */
  readonly seconds?: number;
  /** Share 0..1 of authentications that offer the supplicant's last session for resumption. */
  readonly resumedShare: number;
  /** The Tunnel-Private-Group-Id every Accept must carry. */
  readonly expectedVlan: string;
  /** The server process whose CPU time and memory are charged. */
  readonly serverPid: number;
  /** The EAP identity. */
  readonly identity: string;
  /** Require Message-Authenticator first in replies (UDP only; FreeRADIUS 3.2 does not). */
  readonly strictReplies: boolean;
  /** How long each reply is awaited. */
  readonly timeoutMs: number;
}

/** What a load run measured. */
export interface LoadReport {
  /** Authentications finished and checked. */
  readonly authentications: number;
  readonly accepted: number;
  /** Authentications that resumed the offered session (accepted or not). */
  readonly resumed: number;
  /** Authentications that offered a session the server did not resume. */
  readonly resumptionsMissed: number;
  /** Failed authentications (reject, timeout, wrong key or VLAN), and the first few reasons. */
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly seconds: number;
  readonly perSecond: number;
  /** Whole authentication, first request to final reply, ms. */
  readonly authLatencyMs: Percentiles;
  /** One RADIUS round trip, ms. */
  readonly roundTripMs: Percentiles;
  readonly roundTrips: number;
  /** Server CPU time per authentication, ms. */
  readonly serverCpuMsPerAuth: number;
  /** Server resident set size at the end and its peak during the run, KiB. */
  readonly serverRssKiB: number;
  readonly serverPeakRssKiB: number;
  /** Open loop: starts that could not happen on time because `concurrency` conversations were running. */
  readonly lateStarts: number;
}

/** How many error reasons a report keeps. */
const ERROR_SAMPLES = 5;
/** How often the server's RSS is sampled for the peak. */
const RSS_SAMPLE_MS = 250;

/** Runs the load and reports; never throws for a failed authentication (it is counted). */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const secureContext = tls.createSecureContext({ cert: options.cert, key: options.key, ca: options.ca });
  const run = new LoadRun(options, secureContext);
  return run.execute();
}

/** One virtual supplicant: its last session, and how much resumption it owes. */
interface Peer {
  session: Buffer | undefined;
  resumeDebt: number;
}

class LoadRun {
  readonly #options: LoadOptions;
  readonly #secureContext: tls.SecureContext;
  readonly #authLatencies: number[] = [];
  readonly #roundTrips: number[] = [];
  readonly #errors: string[] = [];
  readonly #idle: Peer[] = [];
  #started = 0;
  #finished = 0;
  #accepted = 0;
  #resumed = 0;
  #missed = 0;
  #errorCount = 0;
  #running = 0;
  #late = 0;
  #deadline = Infinity;

  constructor(options: LoadOptions, secureContext: tls.SecureContext) {
    this.#options = options;
    this.#secureContext = secureContext;
    for (let i = 0; i < options.concurrency; i++) this.#idle.push({ session: undefined, resumeDebt: 0 });
  }

  async execute(): Promise<LoadReport> {
    const o = this.#options;
    const before = sampleProcess(o.serverPid);
    let peakRss = before.rssKiB;
    const rssTimer = setInterval(() => {
      peakRss = Math.max(peakRss, sampleProcess(o.serverPid).rssKiB);
    }, RSS_SAMPLE_MS);
    const start = performance.now();
    this.#deadline = o.seconds === undefined ? Infinity : start + o.seconds * 1000;
    try {
      if (o.rate === undefined) await this.#closedLoop();
      else await this.#openLoop(o.rate);
    } finally {
      clearInterval(rssTimer);
    }
    const seconds = (performance.now() - start) / 1000;
    const after = sampleProcess(o.serverPid);
    return {
      authentications: this.#finished,
      accepted: this.#accepted,
      resumed: this.#resumed,
      resumptionsMissed: this.#missed,
      errors: this.#errorCount,
      errorSamples: this.#errors,
      seconds,
      perSecond: this.#finished / seconds,
      authLatencyMs: summarize(this.#authLatencies),
      roundTripMs: summarize(this.#roundTrips),
      roundTrips: this.#roundTrips.length,
      serverCpuMsPerAuth: this.#finished === 0 ? NaN : cpuBetween(before, after) / this.#finished,
      serverRssKiB: after.rssKiB,
      serverPeakRssKiB: Math.max(peakRss, after.rssKiB),
      lateStarts: this.#late,
    };
  }

  #more(): boolean {
    const { count } = this.#options;
    return (count === undefined || this.#started < count) && performance.now() < this.#deadline;
  }

  async #closedLoop(): Promise<void> {
    const loop = async (peer: Peer): Promise<void> => {
      while (this.#more()) {
        this.#started++;
        await this.#authenticate(peer);
      }
    };
    await Promise.all(this.#idle.splice(0).map(loop));
  }

  async #openLoop(rate: number): Promise<void> {
    const begin = performance.now();
    const inFlight = new Set<Promise<void>>();
    while (this.#more()) {
      const due = Math.floor(((performance.now() - begin) / 1000) * rate);
      while (this.#started < due && this.#more()) {
        const peer = this.#idle.pop();
        this.#started++;
        if (peer === undefined) {
          this.#late++;
          continue;
        }
        const done: Promise<void> = this.#authenticate(peer).finally(() => {
          this.#idle.push(peer);
          inFlight.delete(done);
        });
        inFlight.add(done);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(inFlight);
  }

  async #authenticate(peer: Peer): Promise<void> {
    const o = this.#options;
    peer.resumeDebt += o.resumedShare;
    const offer = peer.session !== undefined && peer.resumeDebt >= 1 ? peer.session : undefined;
    if (offer !== undefined) peer.resumeDebt -= 1;
    const supplicant = new EapTlsSupplicant({
      port: o.transport.kind === 'udp' ? o.transport.port : 0,
      secret: o.transport.kind === 'udp' ? o.transport.secret : 'radsec',
      cert: o.cert,
      key: o.key,
      ca: o.ca,
      secureContext: this.#secureContext,
      identity: o.identity,
      minVersion: o.version,
      maxVersion: o.version,
      timeoutMs: o.timeoutMs,
      ...(offer === undefined ? {} : { session: offer }),
    });
    const began = performance.now();
    try {
      const result = await this.#run(supplicant);
      peer.session = result.session;
      if (offer !== undefined) {
        if (result.resumed) this.#resumed++;
        else this.#missed++;
      }
      this.#check(result);
      this.#authLatencies.push(performance.now() - began);
      this.#accepted++;
    } catch (error) {
      this.#errorCount++;
      if (this.#errors.length < ERROR_SAMPLES) this.#errors.push((error as Error).message);
    } finally {
      this.#finished++;
    }
  }

  /** One authentication over the transport, each round trip timed. */
  async #run(supplicant: EapTlsSupplicant): Promise<SupplicantResult> {
    const transport = this.#options.transport;
    const timed = (exchanger: AccessExchanger): AccessExchanger => ({
      exchange: async (attributes) => {
        const sent = performance.now();
        const exchange = await exchanger.exchange(attributes);
        this.#roundTrips.push(performance.now() - sent);
        return exchange;
      },
    });
    if (transport.kind === 'radsec') return supplicant.run(timed(transport.exchanger));
    const client = await RadiusTestClient.open({
      port: transport.port,
      secret: transport.secret,
      timeoutMs: this.#options.timeoutMs,
      messageAuthenticatorFirst: this.#options.strictReplies,
    });
    try {
      return await supplicant.run(timed(client));
    } finally {
      await client.close();
    }
  }

  /** Throws unless the result is an Accept with the expected VLAN and both MPPE keys equal to the peer's MSK halves. */
  #check(result: SupplicantResult): void {
    if (result.outcome !== 'accept') throw new Error(`Access-Reject after ${result.rounds} rounds${result.tlsError ? `: ${result.tlsError.message}` : ''}`);
    const msk = result.msk;
    if (msk === undefined) throw new Error('accepted without keys on the peer side');
    const secret = Buffer.from(this.#options.transport.kind === 'udp' ? this.#options.transport.secret : 'radsec');
    const keys = decryptMppeKeys(result.reply, secret, result.requestAuthenticator);
    // RFC 5216 §2.3 / RFC 9190 §2.3: Recv-Key = MSK[0..32), Send-Key = MSK[32..64).
    if (!keys.recv.equals(msk.subarray(0, 32))) throw new Error('MS-MPPE-Recv-Key differs from the peer MSK');
    if (!keys.send.equals(msk.subarray(32, 64))) throw new Error('MS-MPPE-Send-Key differs from the peer MSK');
    const vlan = readVlan(result.reply).tunnelPrivateGroupId;
    if (vlan !== this.#options.expectedVlan) throw new Error(`VLAN ${vlan ?? 'absent'}, expected ${this.#options.expectedVlan}`);
  }
}

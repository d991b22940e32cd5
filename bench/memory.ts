/**
 * Two figures beside the load: the server's memory per EAP conversation held mid-handshake
 * (the server flight sent, the peer silent: what a storm of half-open conversations costs), and
 * the CPU a dropped packet costs (garbage, and a well-formed request with a forged
 * Message-Authenticator). Both servers are measured the same way.
 */
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import { EapCode, EapType, encodeEap, encodeEapTlsData } from '../src/codec/eap/index.ts';
import { Attr, PacketCode, encodeRequest, getAttribute, splitEapMessage, stringAttr, type RadiusAttribute } from '../src/codec/radius/index.ts';
import type { DevPkiPaths } from '../src/pki/dev-pki.ts';
import { clientHello } from '../test/support/client-hello.ts';
import { RadiusTestClient } from '../test/support/radius-client.ts';
import { cpuBetween, sampleProcess } from './proc-stats.ts';
import { BENCH_SECRET, loadRunning, startServer, type ServerKind, type ServerUnderTest } from './scenario.ts';

/** Conversations opened at once while filling the server. */
const OPENERS = 32;
/** Packets sent before yielding to the event loop (keeps the socket buffer from overflowing). */
const JUNK_BURST = 16;
const SERVERS: readonly ServerKind[] = ['portcullis', 'freeradius'];

/** Opens one conversation up to the server's first flight and leaves it there; true when it got there. */
async function openHalfway(client: RadiusTestClient, hello: Buffer): Promise<boolean> {
  const attributes = (eap: Buffer, state?: Buffer): RadiusAttribute[] => [
    stringAttr(Attr.UserName, 'bench@portcullis.test'),
    ...splitEapMessage(eap),
    ...(state === undefined ? [] : [{ type: Attr.State, value: state }]),
  ];
  const identity = encodeEap({ code: EapCode.Response, identifier: 0, type: EapType.Identity, data: Buffer.from('bench@portcullis.test') });
  const start = await client.exchange(attributes(identity));
  const state = getAttribute(start.reply, Attr.State);
  const startEap = getAttribute(start.reply, Attr.EapMessage);
  if (start.reply.code !== PacketCode.AccessChallenge || state === undefined || startEap === undefined) return false;
  const response = encodeEap({ code: EapCode.Response, identifier: startEap[1]!, type: EapType.Tls, data: encodeEapTlsData({ fragment: hello }) });
  const flight = await client.exchange(attributes(response, Buffer.from(state)));
  return flight.reply.code === PacketCode.AccessChallenge;
}

/** Holds `sessions` conversations mid-handshake on each server; prints RSS per conversation. */
export async function measureMemory(pki: DevPkiPaths, sessions: number, workers: number | undefined): Promise<void> {
  const context = tls.createSecureContext({ cert: readFileSync(pki.clients['client-ec'].cert), key: readFileSync(pki.clients['client-ec'].key) });
  const hellos: Buffer[] = [];
  for (let i = 0; i < sessions; i++) hellos.push(await clientHello({ secureContext: context, servername: 'radius.portcullis.test', minVersion: 'TLSv1.3' }));
  for (const kind of SERVERS) {
    const server = await startServer(kind, pki, { workers });
    try {
      await loadRunning(server, pki, { version: 'TLSv1.3', client: 'client-ec', transport: 'udp', concurrency: 8, seconds: 60, count: 200, resumedShare: 0 }, kind === 'portcullis');
      const before = sampleProcess(server.pid);
      const started = Date.now();
      let opened = 0;
      let next = 0;
      await Promise.all(
        Array.from({ length: OPENERS }, async () => {
          const client = await RadiusTestClient.open({ port: server.port, secret: BENCH_SECRET, timeoutMs: 5_000, messageAuthenticatorFirst: false });
          try {
            while (next < hellos.length) if (await openHalfway(client, hellos[next++]!).catch(() => false)) opened++;
          } finally {
            await client.close();
          }
        }),
      );
      const after = sampleProcess(server.pid);
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(
        `${kind}: ${opened} of ${sessions} conversations held mid-handshake (opened in ${seconds.toFixed(1)} s): RSS ${Math.round(before.rssKiB / 1024)} -> ${Math.round(after.rssKiB / 1024)} MiB, ${((after.rssKiB - before.rssKiB) / Math.max(1, opened)).toFixed(1)} KiB per conversation, ${(cpuBetween(before, after) / Math.max(1, opened)).toFixed(2)} ms CPU to open each\n`,
      );
    } finally {
      await server.stop();
    }
  }
}

/** Sends `packets` datagrams of each junk kind to each server; prints the CPU each costs. */
export async function measureJunk(pki: DevPkiPaths, packets: number, workers: number | undefined): Promise<void> {
  const forged = (): Buffer =>
    encodeRequest({
      code: PacketCode.AccessRequest,
      identifier: 7,
      attributes: [stringAttr(Attr.UserName, 'junk'), ...splitEapMessage(encodeEap({ code: EapCode.Response, identifier: 0, type: EapType.Identity, data: Buffer.from('junk') }))],
      secret: Buffer.from('not-the-shared-secret'),
    });
  const kinds: readonly { readonly name: string; readonly make: () => Buffer }[] = [
    { name: 'random bytes (does not decode)', make: () => randomBytes(120) },
    { name: 'Access-Request with a forged Message-Authenticator', make: forged },
  ];
  for (const kind of SERVERS) {
    const server = await startServer(kind, pki, { workers });
    try {
      for (const junk of kinds) {
        const cost = await junkCost(server, junk.make, packets);
        process.stdout.write(`${kind}: ${junk.name}: ${(cost * 1000).toFixed(1)} µs server CPU per packet\n`);
      }
      const check = await loadRunning(server, pki, { version: 'TLSv1.3', client: 'client-ec', transport: 'udp', concurrency: 4, seconds: 30, count: 20, resumedShare: 0 }, kind === 'portcullis');
      process.stdout.write(`${kind}: after the junk, ${check.accepted} of ${check.authentications} authentications accepted\n`);
    } finally {
      await server.stop();
    }
  }
}

/** Server CPU ms per junk packet, `packets` of them sent in bursts. */
async function junkCost(server: ServerUnderTest, make: () => Buffer, packets: number): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const datagrams = Array.from({ length: 256 }, make);
  const before = sampleProcess(server.pid);
  for (let sent = 0; sent < packets; ) {
    for (let i = 0; i < JUNK_BURST && sent < packets; i++, sent++) socket.send(datagrams[sent % datagrams.length]!, server.port, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = sampleProcess(server.pid);
  socket.close();
  return cpuBetween(before, after) / packets;
}

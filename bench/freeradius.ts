/**
 * FreeRADIUS 3.2 as the reference server of the benchmarks: installed from Debian's packages,
 * configured from scratch in a work directory with the same certificates and the same policy as
 * portcullis, and run in the foreground with minimal logging.
 *
 * The policy written here matches portcullis's dev policy: EAP-TLS only, TLS 1.2 and 1.3, client
 * certificates chaining to the dev root through the intermediate, the CRLs of both CA levels
 * checked, TLS session resumption on (sessions held in memory by an rbtree cache), and the reply
 * chosen by the subject OU of the client certificate: Staff gets VLAN 100, Students VLAN 200,
 * anyone else an Access-Reject. The EAP module adds the MS-MPPE keys itself.
 *
 * FreeRADIUS 3.2 differs in two ways that the configuration cannot hide: it trusts any CA it is
 * given as an anchor (OpenSSL partial chains), so only the root is configured and supplicants
 * must send the intermediate after their certificate; and on TLS 1.3 resumption it loses the
 * certificate attributes, so those Access-Accepts carry no VLAN (TLS 1.2 resumptions do), and it
 * does not cache the ticket it issues then, so a peer that offers its latest ticket alternates
 * between a resumed and a full handshake.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { access, copyFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { PacketCode, decodePacket, encodeRequest, verifyResponseAuthenticator } from '../src/codec/radius/index.ts';
import type { DevPkiPaths } from '../src/pki/dev-pki.ts';

const execFileAsync = promisify(execFile);

/** Where Debian's `freeradius` package puts the server. */
const FREERADIUS_BINARY = '/usr/sbin/freeradius';
/** Where its modules (rlm_*.so) live. */
const FREERADIUS_LIBDIR = '/usr/lib/freeradius';
/** How long the server may take to answer its first Status-Server. */
const START_TIMEOUT_MS = 30_000;
/** How long `stop()` waits after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Lifetime of cached TLS sessions, hours (FreeRADIUS's unit). */
const SESSION_LIFETIME_HOURS = 24;
/** Largest TLS payload per EAP-TLS fragment; portcullis's default ceiling too. */
const FRAGMENT_SIZE = 1024;

/** Options of {@link startFreeradius}. */
export interface FreeradiusOptions {
  /** The development PKI: server certificate and key, CA certificates and CRLs. */
  readonly pki: DevPkiPaths;
  /** An empty work directory: the configuration, the hashed CA directory and the log go there. */
  readonly dir: string;
  /** UDP authentication port on 127.0.0.1. */
  readonly port: number;
  /** Shared secret of the one NAS, 127.0.0.1 (printable ASCII without `"`, `'`, `\`, `$`, `%`). */
  readonly secret: string;
}

/** A FreeRADIUS server started by {@link startFreeradius}. */
export interface RunningFreeradius {
  /** The server process id (for /proc CPU and RSS readings). */
  readonly pid: number;
  /** Its UDP authentication port on 127.0.0.1. */
  readonly port: number;
  /** Its log file (errors only, with the logging configured here). */
  readonly logFile: string;
  /** Stops the server (SIGTERM, then SIGKILL after a grace) and resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * Path of the FreeRADIUS server binary; installs Debian's `freeradius` package with apt-get
 * (non-interactive, running `apt-get update` first if the plain install fails) when it is
 * missing. Throws with a clear message if it cannot.
 */
export async function ensureFreeradius(): Promise<string> {
  if (await isExecutable(FREERADIUS_BINARY)) return FREERADIUS_BINARY;
  if (process.getuid?.() !== 0) {
    throw new Error(`${FREERADIUS_BINARY} is missing and only root can install it: run "apt-get install freeradius"`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['install', '-y', '-q', '--no-install-recommends', 'freeradius'];
  const apt = (args: readonly string[]): Promise<unknown> =>
    execFileAsync('apt-get', args, { env, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
  try {
    await apt(install).catch(async () => {
      await apt(['update', '-q']);
      await apt(install);
    });
  } catch (error) {
    const detail = error instanceof Error && 'stderr' in error ? String(error.stderr).trim() : String(error);
    throw new Error(`could not install FreeRADIUS with apt-get: ${detail}`);
  }
  if (!(await isExecutable(FREERADIUS_BINARY))) {
    throw new Error(`apt-get installed freeradius but ${FREERADIUS_BINARY} is still missing`);
  }
  return FREERADIUS_BINARY;
}

/** The version line of the FreeRADIUS binary, e.g. "FreeRADIUS Version 3.2.1". */
export async function freeradiusVersion(binary: string = FREERADIUS_BINARY): Promise<string> {
  const { stdout } = await execFileAsync(binary, ['-v']);
  const match = /FreeRADIUS Version [^\s,]+/.exec(stdout);
  return match === null ? stdout.split('\n')[0] ?? '' : match[0];
}

/**
 * Writes the configuration into `options.dir`, checks it (`freeradius -C`), starts the server
 * in the foreground and resolves once it answers a Status-Server on its port. Rejects with
 * FreeRADIUS's own output if the check fails or the server exits or stays silent.
 */
export async function startFreeradius(options: FreeradiusOptions): Promise<RunningFreeradius> {
  checkSecret(options.secret);
  const binary = await ensureFreeradius();
  await writeConfig(options);
  const args = ['-d', options.dir, '-n', 'radiusd'];
  try {
    await execFileAsync(binary, [...args, '-C', '-l', 'stdout'], { maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    throw new Error(`FreeRADIUS rejected its configuration in ${options.dir}:\n${processOutput(error)}`);
  }

  // The server's stdout and stderr (-l stdout) go to a file: no pipe for the benchmark to drain.
  const logFile = join(options.dir, 'radius.log');
  const log = await open(logFile, 'a');
  const logStart = (await log.stat()).size;
  const output = async (): Promise<string> =>
    (await readFile(logFile).catch(() => Buffer.alloc(0))).subarray(logStart).toString('utf8').trim();
  let child: ChildProcess;
  let spawned: Promise<number>;
  let exited: Promise<void>;
  try {
    child = spawn(binary, [...args, '-f', '-l', 'stdout'], { stdio: ['ignore', log.fd, log.fd] });
    // Listen before any await: 'spawn', 'error' and 'exit' come on later ticks.
    spawned = new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid ?? -1));
      child.once('error', reject);
    });
    exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  } finally {
    await log.close();
  }
  const pid = await spawned;
  let dead = false;
  void exited.then(() => (dead = true));

  const stop = async (): Promise<void> => {
    if (dead) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  // Ready once this process has said so (another server on the port would answer too) and its
  // port answers a Status-Server with the configured secret.
  const deadline = Date.now() + START_TIMEOUT_MS;
  let said = false;
  while (!dead && Date.now() < deadline) {
    said ||= (await output()).includes('Ready to process requests');
    if (!said) await sleep(50);
    else if (await statusServer(options.port, options.secret, 250)) return { pid, port: options.port, logFile, stop };
  }
  await stop();
  const why = dead ? `exited (${child.exitCode ?? child.signalCode})` : `did not answer within ${START_TIMEOUT_MS} ms`;
  throw new Error(`FreeRADIUS ${why}:\n${await output()}`);
}

/** Writes radiusd.conf, an empty local dictionary and the hashed CA directory into `dir`. */
async function writeConfig({ pki, dir, port, secret }: FreeradiusOptions): Promise<void> {
  const caDir = join(dir, 'ca');
  await mkdir(caDir, { recursive: true });
  // The root is the only trust anchor, as in portcullis. The intermediate stays out: FreeRADIUS
  // sets X509_V_FLAG_PARTIAL_CHAIN, so a trusted intermediate would end the chain and the root's
  // CRL could then not be checked (check_all_crl fails with "unable to get certificate CRL").
  // Supplicants therefore send the intermediate after their certificate, as the bench does.
  // One file per certificate or CRL, then OpenSSL's <hash>.N / <hash>.rN links for lookups.
  const caFiles: Array<[string, string]> = [
    [pki.root.cert, 'root-ca.pem'],
    [pki.rootCrl, 'root.crl.pem'],
    [pki.intermediateCrl, 'intermediate.crl.pem'],
  ];
  await Promise.all(caFiles.map(([from, to]) => copyFile(from, join(caDir, to))));
  try {
    await execFileAsync('openssl', ['rehash', caDir]);
  } catch (error) {
    throw new Error(`openssl rehash ${caDir} failed:\n${processOutput(error)}`);
  }
  // radiusd reads ${confdir}/dictionary after the system dictionaries; nothing local to add.
  await writeFile(join(dir, 'dictionary'), '');
  await writeFile(join(dir, 'radiusd.conf'), radiusdConf({ pki, dir, port, secret, caDir }));
}

/** The whole configuration: one file, nothing included from /etc. */
function radiusdConf(o: FreeradiusOptions & { readonly caDir: string }): string {
  const q = (path: string): string => {
    if (/["\\$\n]/.test(path)) throw new Error(`unsupported character in path ${path}`);
    return `"${path}"`;
  };
  return `# Written by bench/freeradius.ts: FreeRADIUS as the benchmark's reference server.
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
confdir = ${q(o.dir)}
raddbdir = ${q(o.dir)}
logdir = ${q(o.dir)}
run_dir = ${q(o.dir)}
db_dir = ${q(o.dir)}
libdir = ${FREERADIUS_LIBDIR}
pidfile = ${q(join(o.dir, 'radiusd.pid'))}
correct_escapes = true
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no
proxy_requests = no

log {
	destination = files
	file = ${q(join(o.dir, 'radius.log'))}
	colourise = no
	auth = no
	auth_badpass = no
	auth_goodpass = no
}

# No user/group: the server keeps the identity it was started with.
security {
	allow_core_dumps = no
	max_attributes = 200
	# Portcullis answers rejects at once; so does the reference.
	reject_delay = 0
	status_server = yes
}

client bench_nas {
	ipaddr = 127.0.0.1
	proto = udp
	secret = "${o.secret}"
	require_message_authenticator = yes
}

thread pool {
	start_servers = 5
	max_servers = 32
	min_spare_servers = 3
	max_spare_servers = 10
	max_requests_per_server = 0
	auto_limit_acct = no
}

modules {
	always reject {
		rcode = reject
	}
	always ok {
		rcode = ok
	}

	# In-memory store of resumable TLS sessions, keyed by session ID (see server tls-session-cache).
	# An entry holds the OpenSSL session and the certificate attributes the policy needs again.
	cache tls_sessions {
		driver = "rlm_cache_rbtree"
		key = "%{request:TLS-Session-ID}"
		ttl = ${SESSION_LIFETIME_HOURS * 3600}
		add_stats = no
		update {
			&reply:TLS-Session-Data := &session-state:TLS-Session-Data
			&reply: += &reply:
		}
	}

	eap {
		default_eap_type = tls
		timer_expire = 60
		ignore_unknown_eap_types = no
		max_sessions = \${max_requests}

		tls-config tls-common {
			certificate_file = ${q(o.pki.server.cert)}
			private_key_file = ${q(o.pki.server.key)}
			# The root and the CRLs of both CA levels, hashed for OpenSSL's directory lookup.
			ca_path = ${q(o.caDir)}
			check_crl = yes
			check_all_crl = yes
			allow_expired_crl = no
			# OpenSSL's defaults, as for portcullis (Node.js): an empty ecdh_curve means OpenSSL's
			# group list (X25519 first) instead of FreeRADIUS's default prime256v1 only.
			cipher_list = "DEFAULT"
			cipher_server_preference = no
			ecdh_curve = ""
			tls_min_version = "1.2"
			tls_max_version = "1.3"
			fragment_size = ${FRAGMENT_SIZE}
			include_length = yes

			cache {
				enable = yes
				lifetime = ${SESSION_LIFETIME_HOURS}
				name = "portcullis-bench"
				# No cap on OpenSSL's side either (its default is 255 sessions).
				max_entries = 0
				virtual_server = tls-session-cache
			}
		}

		tls {
			tls = tls-common
			# Asked before EAP-Success, so a refusal is a clean EAP-Failure: see check-client-cert.
			virtual_server = check-client-cert
		}
	}
}

# Called by eap_tls with &request:TLS-Session-ID set. rlm_cache control attributes: Read-Only
# never inserts, TTL 0 deletes, a negative TTL replaces.
server tls-session-cache {
	cache load {
		update control {
			&Cache-Read-Only := yes
		}
		tls_sessions
		# rlm_cache merges into reply only: move the session where eap_tls looks for it.
		if (&reply:TLS-Session-Data) {
			update session-state {
				&TLS-Session-Data := &reply:TLS-Session-Data
			}
			update reply {
				&TLS-Session-Data !* ANY
			}
		}
	}
	# Only sessions of subjects that check-client-cert lets through are kept.
	cache save {
		if (&reply:TLS-Client-Cert-Subject =~ /\\/OU=(Staff|Students)(\\/|$)/) {
			update control {
				&Cache-TTL := -${SESSION_LIFETIME_HOURS * 3600}
			}
			tls_sessions
		}
	}
	cache clear {
		update control {
			&Cache-TTL := 0
			&Cache-Read-Only := yes
		}
		tls_sessions
	}
	cache refresh {
		ok
	}
}

# Asked by eap_tls at the end of every EAP-TLS conversation, full or resumed, once the chain and
# CRL checks have passed: subjects without OU Staff or Students are refused. The certificate
# attributes are missing only on a TLS 1.3 resumption (FreeRADIUS 3.2), whose session was cached
# for an accepted subject (see cache save), so that one goes on.
server check-client-cert {
	authorize {
		if (&TLS-Client-Cert-Subject && &TLS-Client-Cert-Subject !~ /\\/OU=(Staff|Students)(\\/|$)/) {
			update control {
				&Auth-Type := Reject
			}
		}
		else {
			update control {
				&Auth-Type := Accept
			}
		}
	}
}

server bench {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = ${o.port}
	}

	authorize {
		# EAP only: whatever the eap module does not take is rejected.
		eap
		if (!&control:Auth-Type) {
			reject
		}
	}

	authenticate {
		eap
	}

	post-auth {
		# The VLAN follows the subject OU of the client certificate (check-client-cert has
		# refused any other). FreeRADIUS 3.2 loses the certificate attributes on a TLS 1.3
		# resumption: such an Access-Accept goes without VLAN.
		if (&TLS-Client-Cert-Subject =~ /\\/OU=Staff(\\/|$)/) {
			update reply {
				&Tunnel-Type := VLAN
				&Tunnel-Medium-Type := IEEE-802
				&Tunnel-Private-Group-Id := "100"
			}
		}
		elsif (&TLS-Client-Cert-Subject =~ /\\/OU=Students(\\/|$)/) {
			update reply {
				&Tunnel-Type := VLAN
				&Tunnel-Medium-Type := IEEE-802
				&Tunnel-Private-Group-Id := "200"
			}
		}

		Post-Auth-Type REJECT {
			eap
		}
	}
}
`;
}

/** Throws unless `secret` can be written into the configuration as it is. */
function checkSecret(secret: string): void {
  if (!/^[\x20-\x7e]+$/.test(secret) || /["'\\$%]/.test(secret)) {
    throw new Error('the FreeRADIUS secret must be printable ASCII without quotes, backslash, $ or %');
  }
}

/**
 * Sends one Status-Server to 127.0.0.1:`port` and tells whether a valid Access-Accept came back
 * within `timeoutMs`.
 */
async function statusServer(port: number, secret: string, timeoutMs: number): Promise<boolean> {
  const key = Buffer.from(secret);
  const identifier = Math.floor(Math.random() * 256);
  const request = encodeRequest({ code: PacketCode.StatusServer, identifier, attributes: [], secret: key });
  const socket = createSocket('udp4');
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      socket.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      socket.on('message', (datagram) => {
        const decoded = decodePacket(datagram);
        if (!decoded.ok || decoded.packet.identifier !== identifier) return;
        clearTimeout(timer);
        resolve(
          decoded.packet.code === PacketCode.AccessAccept &&
            verifyResponseAuthenticator(decoded.packet, request.subarray(4, 20), key),
        );
      });
      socket.send(request, port, '127.0.0.1');
    });
  } finally {
    socket.close();
    await sleep(0);
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** stdout and stderr of a failed execFile, or the error's message. */
function processOutput(error: unknown): string {
  if (typeof error === 'object' && error !== null && ('stdout' in error || 'stderr' in error)) {
    const { stdout, stderr } = error as { stdout?: unknown; stderr?: unknown };
    return `${String(stdout ?? '')}${String(stderr ?? '')}`.trim();
  }
  return error instanceof Error ? error.message : String(error);
}

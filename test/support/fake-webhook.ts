/**
 * A fake identity webhook on 127.0.0.1 and an ephemeral port: {@link FakeWebhook} answers the
 * webhook contract of `src/policy/identity/webhook.ts` on the common base of the fakes,
 * {@link FakeHttpServer} (`fake-http.ts`).
 */
import { FakeHttpServer, type FakeRequest, type FakeResponse } from './fake-http.ts';

/** One identity the webhook knows. */
export interface WebhookEntry {
  readonly kind?: 'user' | 'device';
  readonly id: string;
  readonly status: 'active' | 'disabled' | 'not-found';
  readonly groups?: readonly string[];
  readonly detail?: string;
}

/** Options of {@link FakeWebhook.start}. */
export interface FakeWebhookOptions {
  /** The `Authorization` value the webhook requires; `Bearer fake-webhook-secret` by default. */
  readonly authorization?: string;
}

/** The endpoint path of the fake webhook. */
const WEBHOOK_PATH = '/identity';

/**
 * A webhook that answers the contract: `POST /identity` with the configured `Authorization`
 * (401 otherwise), a JSON body of `kind`, `id` and `groups` (400 otherwise); 200 with the entry's
 * status (groups only when asked), or 404 for an unknown identity.
 */
export class FakeWebhook extends FakeHttpServer {
  /** The `Authorization` header value the webhook requires. */
  readonly authorization: string;
  readonly #answers = new Map<string, StoredAnswer>();

  private constructor(options: FakeWebhookOptions) {
    super();
    this.authorization = options.authorization ?? 'Bearer fake-webhook-secret';
  }

  /** Starts a webhook on 127.0.0.1. */
  static async start(options: FakeWebhookOptions = {}): Promise<FakeWebhook> {
    const webhook = new FakeWebhook(options);
    await webhook.listen();
    return webhook;
  }

  /** The URL providers post to. */
  get endpoint(): string {
    return `${this.url}${WEBHOOK_PATH}`;
  }

  /** The headers a provider needs: the expected `Authorization`. */
  get headers(): Readonly<Record<string, string>> {
    return { authorization: this.authorization };
  }

  /** Adds or replaces an identity (kind `user` by default). */
  setEntry(entry: WebhookEntry): void {
    this.#answers.set(answerKey(entry.kind ?? 'user', entry.id), { type: 'entry', entry });
  }

  /** Answers a lookup of `kind`/`id` with this body as is (to break the contract in tests). */
  setRawAnswer(kind: 'user' | 'device', id: string, body: unknown): void {
    this.#answers.set(answerKey(kind, id), { type: 'raw', body });
  }

  /** Forgets an identity: its lookups get 404. */
  deleteEntry(kind: 'user' | 'device', id: string): void {
    this.#answers.delete(answerKey(kind, id));
  }

  protected override route(request: FakeRequest): FakeResponse {
    if (request.path !== WEBHOOK_PATH || request.method !== 'POST') return this.errorResponse(405, 'POST /identity only');
    if (request.headers.authorization !== this.authorization) return this.errorResponse(401, 'unauthorized');
    if (request.headers['content-type'] !== 'application/json') return this.errorResponse(415, 'JSON only');
    let query: unknown;
    try {
      query = JSON.parse(request.body);
    } catch {
      return this.errorResponse(400, 'body is not JSON');
    }
    const { kind, id, groups } = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
    if ((kind !== 'user' && kind !== 'device') || typeof id !== 'string' || typeof groups !== 'boolean') {
      return this.errorResponse(400, 'expected {kind, id, groups}');
    }
    const answer = this.#answers.get(answerKey(kind, id));
    if (answer === undefined) return this.errorResponse(404, 'unknown identity');
    if (answer.type === 'raw') return { status: 200, body: answer.body };
    const { status, detail } = answer.entry;
    return { status: 200, body: { status, ...(detail === undefined ? {} : { detail }), ...(groups ? { groups: answer.entry.groups ?? [] } : {}) } };
  }
}

/** What the webhook answers for one identity: an entry, or a raw body that may break the contract. */
type StoredAnswer = { readonly type: 'entry'; readonly entry: WebhookEntry } | { readonly type: 'raw'; readonly body: unknown };

function answerKey(kind: string, id: string): string {
  return `${kind}\u0000${id}`;
}

/**
 * What the identity-provider unit tests (`test/unit/idp-*.test.ts`) share: starting a fake for a
 * test, the lookups they send, a lookup deadline, and reading the failure a lookup rejects with.
 */
import type { Test } from 'tap';
import { ProviderFailure, type IdentityQuery, type ProviderFailureReason } from '../../src/policy/identity/provider.ts';
import type { FakeHttpServer } from './fake-http.ts';

/** Starts a fake and closes it when `t` ends. */
export async function startFake<Fake extends FakeHttpServer>(t: Test, start: () => Promise<Fake>): Promise<Fake> {
  const fake = await start();
  t.teardown(() => fake.close());
  return fake;
}

/** A lookup of `id` as `kind`, asking for its groups or not. */
export function identity(kind: IdentityQuery['kind'], id: string, groups: boolean): IdentityQuery {
  return { kind, id, groups };
}

/** A user lookup; without groups by default. */
export function user(id: string, groups = false): IdentityQuery {
  return identity('user', id, groups);
}

/** A device lookup; without groups by default. */
export function device(id: string, groups = false): IdentityQuery {
  return identity('device', id, groups);
}

/** The deadline of a lookup that should not take long: five seconds. */
export function signal(): AbortSignal {
  return AbortSignal.timeout(5000);
}

/** The ProviderFailure `promise` rejects with; throws when it resolves or rejects otherwise. */
export async function failureOf(promise: Promise<unknown>): Promise<ProviderFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ProviderFailure) return error;
    throw error;
  }
  throw new Error('expected the lookup to fail');
}

/** Asserts that `promise` rejects with a ProviderFailure of `reason`; returns it. */
export async function expectFailure(t: Test, promise: Promise<unknown>, reason: ProviderFailureReason): Promise<ProviderFailure | undefined> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof ProviderFailure)) {
      t.fail(`a ProviderFailure, not ${String(error)}`);
      return undefined;
    }
    t.equal(error.reason, reason, `reason ${reason} (${error.message})`);
    return error;
  }
  t.fail(`rejects with ${reason}`);
  return undefined;
}

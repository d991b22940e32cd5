/**
 * Builds the configured identity providers: each configuration type to its client, with the
 * key files it names read and checked (a key that cannot sign is a start-up error, not a
 * failure at the first authentication).
 */
import type { IdentityProviderConfig } from '../../config/index.ts';
import { assertNever } from '../../errors.ts';
import { EntraProvider } from './entra.ts';
import { GoogleProvider, parseServiceAccountKey } from './google.ts';
import { OktaProvider } from './okta.ts';
import type { IdentityProvider } from './provider.ts';
import { WebhookProvider } from './webhook.ts';

/** Reads a file the configuration names; throws an error naming it. */
export type FileReader = (path: string, what: string) => Promise<string>;

/** Creates the client of one configured provider. */
export async function createProvider(config: IdentityProviderConfig, readText: FileReader): Promise<IdentityProvider> {
  switch (config.type) {
    case 'entra':
      return new EntraProvider({
        name: config.name,
        tenantId: config.tenantId,
        clientId: config.clientId,
        clientSecret: config.clientSecret,
        loginUrl: config.loginUrl,
        graphUrl: config.graphUrl,
      });
    case 'okta': {
      const { oauth, apiToken } = config;
      const auth =
        oauth === undefined
          ? { kind: 'api-token' as const, token: apiToken ?? '' }
          : {
              kind: 'oauth' as const,
              clientId: oauth.clientId,
              privateKeyPem: await readText(oauth.privateKey, `Okta private key of identity provider "${config.name}"`),
              ...(oauth.keyId === undefined ? {} : { keyId: oauth.keyId }),
            };
      return new OktaProvider({ name: config.name, orgUrl: config.orgUrl, auth, activeStatuses: config.activeStatuses });
    }
    case 'google': {
      const json = await readText(config.serviceAccountFile, `service account key of identity provider "${config.name}"`);
      return new GoogleProvider({
        name: config.name,
        serviceAccount: parseServiceAccountKey(json),
        subject: config.subject,
        directoryUrl: config.directoryUrl,
      });
    }
    case 'webhook':
      return new WebhookProvider({ name: config.name, url: config.url, headers: config.headers });
    default:
      return assertNever(config);
  }
}

/**
 * `@peculiar/x509` set up once for the process: its decorators need `reflect-metadata` loaded
 * first, and it signs and verifies through Node's WebCrypto. Import the library from here.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto);

export { x509 };

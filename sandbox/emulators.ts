import type { ProviderEmulator } from './server.ts';

/** Every provider emulator the sandbox runs. Adding a provider is a folder and a line. */
export const emulators: ProviderEmulator[] = [];

import { googleCalendarEmulator } from './google/calendar.ts';
import { googleOAuthEmulator } from './google/oauth.ts';
import { imanageEmulator } from './imanage/work.ts';
import { microsoftEmulator } from './microsoft/index.ts';
import { oneLoginEmulator } from './onelogin/idp.ts';
import type { ProviderEmulator } from './server.ts';

/** Every provider emulator the sandbox runs. Adding a provider is a folder and a line. */
export const emulators: ProviderEmulator[] = [googleCalendarEmulator, googleOAuthEmulator, oneLoginEmulator, microsoftEmulator, imanageEmulator];

import type { Connector } from '../types.ts';
import { icalManifest } from './manifest.ts';
import { revokeIcal } from './revoke.ts';

/** The iCal subscription feed connector (manifest + revoke; feeds are pulled, so there is no apply step). */
export const icalConnector: Connector = {
  manifest: icalManifest,
  revoke: revokeIcal,
};

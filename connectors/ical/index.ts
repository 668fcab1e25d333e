import type { Connector } from '../types.ts';
import { icalOperationExamples } from './examples.ts';
import { icalFeedRoutes } from './feed-routes.ts';
import { icalManifest } from './manifest.ts';
import { registerFeedPages } from './pages.tsx';
import { icalPublicRoutes } from './public-routes.ts';
import { revokeIcal, revokeIcalFeedTokens } from './revoke.ts';

/**
 * The iCal subscription feed connector: manifest, revoke, and the routes that manage and serve the
 * feeds (subscribers poll them, so there is no apply step).
 */
export const icalConnector: Connector = {
  manifest: icalManifest,
  revoke: revokeIcal,
  revokeInTransaction: revokeIcalFeedTokens,
  routes: [icalFeedRoutes, icalPublicRoutes],
  operationExamples: icalOperationExamples,
  pages: { paths: ['/feeds', '/feeds/*'], nav: { id: 'feeds', href: '/feeds', label: 'iCal feeds' }, register: registerFeedPages },
};

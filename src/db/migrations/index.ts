import type { Migration } from 'kysely';
import * as m0001 from './0001-foundation.ts';
import * as m0002 from './0002-ingest.ts';
import * as m0003 from './0003-privacy.ts';
import * as m0004 from './0004-identity.ts';
import * as m0005 from './0005-sync.ts';
import * as m0006 from './0006-ical.ts';
import * as m0007 from './0007-revocation.ts';
import * as m0008 from './0008-transfer-log-fast-path.ts';
import * as m0009 from './0009-documents-by-content.ts';
import * as m0010 from './0010-revocation-drain.ts';
import * as m0011 from './0011-signin-tenancy.ts';
import * as m0012 from './0012-sign-in-links.ts';
import * as m0013 from './0013-receipts-jws.ts';
import * as m0014 from './0014-connector-cursors.ts';
import * as m0015 from './0015-log-truth.ts';
import * as m0017 from './0017-outlook-contacts.ts';
import * as m0018 from './0018-imanage.ts';
import * as m0020 from './0020-contact-invitations.ts';
import * as m0021 from './0021-imanage-firm-settings.ts';
import * as m0023 from './0023-api-key-scopes.ts';
import * as m0024 from './0024-webhooks.ts';
import * as m0026 from './0026-ical-live-feeds.ts';
import * as m0028 from './0028-imported-contacts-implied-keys.ts';
import * as m0029 from './0029-transfer-log-append-head.ts';
import * as m0030 from './0030-ical-checked-append.ts';

/**
 * Every migration, in order. Static imports (not a folder scan) so the list is the same under tsx,
 * bundlers and the Docker image. Add a line per new migration; names sort in application order.
 */
export const migrations: Record<string, Migration> = {
  '0001-foundation': m0001,
  '0002-ingest': m0002,
  '0003-privacy': m0003,
  '0004-identity': m0004,
  '0005-sync': m0005,
  '0006-ical': m0006,
  '0007-revocation': m0007,
  '0008-transfer-log-fast-path': m0008,
  '0009-documents-by-content': m0009,
  '0010-revocation-drain': m0010,
  '0011-signin-tenancy': m0011,
  '0012-sign-in-links': m0012,
  '0013-receipts-jws': m0013,
  '0014-connector-cursors': m0014,
  '0015-log-truth': m0015,
  '0017-outlook-contacts': m0017,
  '0018-imanage': m0018,
  '0020-contact-invitations': m0020,
  '0021-imanage-firm-settings': m0021,
  '0023-api-key-scopes': m0023,
  '0024-webhooks': m0024,
  '0026-ical-live-feeds': m0026,
  '0028-imported-contacts-implied-keys': m0028,
  '0029-transfer-log-append-head': m0029,
  '0030-ical-checked-append': m0030,
};

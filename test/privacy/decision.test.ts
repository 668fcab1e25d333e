import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowedFields, CATEGORIES, CATEGORY_IDS, type CategoryId } from '../../src/consent/categories.ts';
import type { Consent } from '../../src/consent/service.ts';
import { type ConsentState, decideTransfer, type GateConnection } from '../../src/transfers/decision.ts';
import type { TransferItem } from '../../src/transfers/types.ts';

const connection: GateConnection = {
  id: '00000000-0000-4000-8000-000000000001',
  organizationId: '00000000-0000-4000-8000-000000000002',
  userId: '00000000-0000-4000-8000-000000000003',
  platform: 'test_platform',
  status: 'active',
  externalAccount: 'a@example.test',
  disabledPlatforms: [],
};

const consentOf = (categories: CategoryId[], caseIds?: string[]): ConsentState => ({
  kind: 'current',
  consent: {
    id: 'c1',
    connectionId: connection.id,
    organizationId: connection.organizationId,
    version: 1,
    grantedBy: connection.userId,
    categories,
    caseScope: caseIds ? { kind: 'cases', caseIds } : { kind: 'all' },
    policyVersion: 'p',
    method: 'api',
    ip: null,
    userAgent: null,
    attestations: {},
    grantedAt: new Date(),
    withdrawnAt: null,
    withdrawnBy: null,
  } satisfies Consent,
});

const calendarItem = (fields: Record<string, unknown>, caseIds = ['case-1']): TransferItem => ({
  operation: 'update',
  categories: ['calendar.events', 'calendar.events.details'],
  subjects: { caseIds },
  recipient: { account: null, destination: null },
  fields,
});

describe('gate decision (pure)', () => {
  it('refuses an invitation to an address that opted out, after the consent checks', () => {
    const item: TransferItem = {
      operation: 'create',
      categories: ['contacts.invite'],
      subjects: { contactIds: ['ct-1'] },
      recipient: { account: 'x@example.test', destination: 'smtp', suppressible: true },
      fields: { inviterName: 'A', organizationName: 'O', link: 'https://l', recipientEmail: 'x@example.test' },
    };
    const consent = consentOf(['contacts.import', 'contacts.invite']);
    expect(decideTransfer({ connection, consent, item, purpose: 'contact_invitation', suppressed: true })).toMatchObject({
      allowed: false,
      reason: 'recipient_suppressed',
    });
    expect(decideTransfer({ connection, consent, item, purpose: 'contact_invitation', suppressed: false })).toMatchObject({ allowed: true });
    // Without the invite consent the refusal says so, whatever the list says.
    expect(decideTransfer({ connection, consent: consentOf(['contacts.import']), item, purpose: 'contact_invitation', suppressed: true })).toMatchObject({
      allowed: false,
      reason: 'category_not_consented',
    });
  });

  it('strips the optional category when only the required one is consented', () => {
    const d = decideTransfer({
      connection,
      consent: consentOf(['calendar.events']),
      item: calendarItem({ title: 't', description: 'd', participantNames: ['x'] }),
      purpose: 'calendar_sync',
    });
    expect(d).toMatchObject({ allowed: true, minimised: { title: 't' }, categories: ['calendar.events'], fieldNames: ['title'] });
  });

  it('refuses when the required (first) category is missing, even if an optional one is consented', () => {
    const d = decideTransfer({ connection, consent: consentOf(['calendar.events.details']), item: calendarItem({ title: 't' }), purpose: 'x' });
    expect(d).toMatchObject({ allowed: false, reason: 'category_not_consented' });
  });

  it('refuses a disabled platform but lets a revocation purge delete through', () => {
    const off = { ...connection, disabledPlatforms: ['test_platform'] };
    expect(decideTransfer({ connection: off, consent: consentOf(['calendar.events']), item: calendarItem({}), purpose: 'x' })).toMatchObject({
      reason: 'platform_disabled',
    });
    const del: TransferItem = { ...calendarItem({}), operation: 'delete' };
    expect(decideTransfer({ connection: { ...off, status: 'revoked' }, consent: { kind: 'missing' }, item: del, purpose: 'revocation_purge' }).allowed).toBe(
      true,
    );
    expect(decideTransfer({ connection: off, consent: { kind: 'missing' }, item: del, purpose: 'calendar_sync' })).toMatchObject({
      reason: 'platform_disabled',
    });
  });

  it('needs a current consent to provision, but no category', () => {
    const item: TransferItem = { operation: 'provision', categories: [], subjects: {}, recipient: { account: null, destination: null }, fields: {} };
    expect(decideTransfer({ connection, consent: { kind: 'missing' }, item, purpose: 'x' })).toMatchObject({ reason: 'consent_missing' });
    expect(decideTransfer({ connection, consent: consentOf(['calendar.events']), item, purpose: 'x' }).allowed).toBe(true);
  });

  it('minimisation never lets an unconsented field through (property)', () => {
    const allFields = [...new Set(CATEGORY_IDS.flatMap((c) => CATEGORIES[c].fields))];
    fc.assert(
      fc.property(
        fc.subarray([...CATEGORY_IDS], { minLength: 1 }),
        fc.subarray([...CATEGORY_IDS]),
        fc.dictionary(fc.constantFrom(...allFields), fc.anything()),
        (itemCategories, consented, rawFields) => {
          const declared = allowedFields(itemCategories);
          const fields = Object.fromEntries(Object.entries(rawFields).filter(([k]) => declared.has(k)));
          const item: TransferItem = {
            operation: 'create',
            categories: itemCategories as [CategoryId, ...CategoryId[]],
            subjects: {},
            recipient: { account: null, destination: null },
            fields,
          };
          const d = decideTransfer({ connection, consent: consentOf(consented), item, purpose: 'p' });
          const allowed = allowedFields(itemCategories.filter((c) => consented.includes(c)));
          if (!d.allowed) return consented.includes(itemCategories[0]!) === false;
          return Object.keys(d.minimised).every((k) => allowed.has(k)) && consented.includes(itemCategories[0]!);
        },
      ),
      { numRuns: 500 },
    );
  });
});

/**
 * An example of every operation's request body and main (2xx) answer, by operationId, written into
 * the OpenAPI document as media-type examples (`addOperationExamples`, called by
 * openapi-document.ts) so `/docs` and generated clients show a realistic call. One module for all
 * routes: shared resources (a connection, a transfer row, …) are written once below and reused.
 *
 * Checked by test/api/openapi-contract.test.ts: every operation has one, and Redocly's
 * `no-invalid-media-type-examples` rule (recommended, additional properties refused) validates each
 * against its schema, so an example cannot drift from the contract. Values are obviously fake:
 * example.com / *.example domains, documentation IP ranges, placeholder secrets.
 */

import { connectors } from '../../../connectors/registry.ts';
import type { OperationExample } from '../../../connectors/types.ts';
import { SIGN_IN_OPERATION_EXAMPLES } from '../../auth/sign-in-examples.ts';

export type { OperationExample };

/** The platform the examples connect to: the first of the registry (its id and name, never spelled here). */
const platform = connectors[0]!.manifest;

const connectSessionCreate = {
  email: 'ana.ruiz@meyer-ruiz.example',
  returnTo: 'https://casebridge.example.com/',
};

const me = {
  user: {
    id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
    email: 'ana.ruiz@meyer-ruiz.example',
    name: 'Ana Ruiz',
    pictureUrl: 'https://casebridge.example.com/',
  },
  organization: {
    id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
    name: 'Meyer & Ruiz LLP',
  },
  role: 'member',
  csrfToken: 'csrf_EXAMPLE_not_a_real_token',
  session: {
    method: 'saml',
    createdAt: '2026-03-02T14:05:00.000Z',
    absoluteExpiresAt: '2026-03-02T14:05:00.000Z',
  },
};

const user = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  email: 'ana.ruiz@meyer-ruiz.example',
  name: 'Ana Ruiz',
  pictureUrl: 'https://casebridge.example.com/',
  role: 'member',
  status: 'active',
  createdAt: '2026-03-02T14:05:00.000Z',
  lastLoginAt: '2026-03-02T14:05:00.000Z',
  identities: [
    {
      id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
      provider: 'saml',
      issuer: 'https://idp.meyer-ruiz.example/saml',
      subject: '109876543210987654321',
      lastLoginAt: '2026-03-02T14:05:00.000Z',
    },
  ],
};

const userSession = {
  handle: 's_8Kq2mZ',
  method: 'saml',
  createdAt: '2026-03-02T14:05:00.000Z',
  lastSeenAt: '2026-03-02T14:05:00.000Z',
  absoluteExpiresAt: '2026-03-02T14:05:00.000Z',
  ip: '203.0.113.7',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
  current: true,
};

const securityEvent = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  userId: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
  actorUserId: '5b9e1d2c-7f4a-4a0e-8c31-2e6f9d7b1a04',
  kind: 'user',
  outcome: 'success',
  reason: 'change',
  method: 'saml',
  ip: '203.0.113.7',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
  details: {},
  createdAt: '2026-03-02T14:05:00.000Z',
};

const securityEventPage = {
  items: [securityEvent],
  nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
};

const caseInput = {
  number: 'PI-2024-0117',
  title: 'Miller v. Eastside Logistics',
  clientName: 'Dana Miller',
  status: 'open',
  practiceArea: 'Litigation',
  assignees: ['ana.ruiz@meyer-ruiz.example'],
};

/** What every stored record answers besides its data (a live record: `deleted` false). */
const recordHeader = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  externalId: 'case-2024-0117',
  version: 1,
  updatedAt: '2026-03-02T14:05:00.000Z',
  deleted: false,
};

const caseExample = { ...recordHeader, ...caseInput };

const eventInput = {
  caseExternalId: 'case-2024-0117',
  kind: 'court_date',
  title: 'Miller v. Eastside Logistics',
  description: 'Hearing on the motion to compel',
  location: 'Courtroom 4B, Superior Court',
  allDay: true,
  start: '2026-03-02T14:05:00.000Z',
  end: '2026-03-02T14:05:00.000Z',
  timeZone: 'Europe/Berlin',
  startDate: '2026-03-16',
  endDate: '2026-03-16',
  participants: [
    {
      name: 'Meyer & Ruiz LLP',
      email: 'ana.ruiz@meyer-ruiz.example',
      role: 'admin',
    },
  ],
};

const eventExample = { ...recordHeader, externalId: 'hearing-2026-03-16', caseId: 'a2d4e6f8-1b3c-4d5e-9f70-8a1b2c3d4e5f', ...eventInput };

const documentJsonInput = {
  caseExternalId: 'case-2024-0117',
  title: 'Miller v. Eastside Logistics',
  fileName: 'engagement-letter.pdf',
  mimeType: 'application/pdf',
  author: 'Ana Ruiz',
  documentDate: '2026-03-16',
  content: 'JVBERi0xLjcKJUV4YW1wbGUgZG9jdW1lbnQK',
};

const { content: _content, ...documentFields } = documentJsonInput;
const documentExample = {
  ...recordHeader,
  externalId: 'engagement-letter',
  caseId: 'a2d4e6f8-1b3c-4d5e-9f70-8a1b2c3d4e5f',
  ...documentFields,
  sizeBytes: 27,
  sha256: '344ff3c1224a0181fd823ed2cceeb4238703c9411ac1c36a47a44285c77251d4',
};

const contactInput = {
  name: 'Meyer & Ruiz LLP',
  emails: ['ana.ruiz@meyer-ruiz.example'],
  phones: ['+1 312 555 0100'],
  organizationName: 'Meyer & Ruiz LLP',
  role: 'admin',
  caseExternalId: 'case-2024-0117',
};

const contact = { ...recordHeader, externalId: 'contact-meyer-ruiz', caseId: 'a2d4e6f8-1b3c-4d5e-9f70-8a1b2c3d4e5f', ...contactInput };

const bulkIngestRequest = {
  items: [
    {
      op: 'upsert',
      type: 'case',
      externalId: 'case-2024-0117',
      data: caseInput,
      ifVersion: 1,
    },
  ],
};

const bulkIngestResult = {
  results: [
    {
      index: 1,
      type: 'case',
      externalId: 'case-1001',
      status: 'created',
      id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
      version: 1,
      deleted: true,
    },
  ],
  summary: {
    created: 1,
    updated: 1,
    unchanged: 1,
    deleted: 1,
    notFound: 1,
  },
  cascaded: 1,
};

const caseSummary = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  number: 'PI-2024-0117',
  title: 'Miller v. Eastside Logistics',
  clientName: 'Dana Miller',
  status: 'open',
  eventCount: 1,
  updatedAt: '2026-03-02T14:05:00.000Z',
};

const casePage = {
  items: [caseSummary],
  nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
};

const apiKey = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  name: 'Meyer & Ruiz LLP',
  prefix: 'cbk_Xk29',
  scopes: ['ingest'],
  createdAt: '2026-03-02T14:05:00.000Z',
  lastUsedAt: '2026-03-02T14:05:00.000Z',
  revokedAt: '2026-03-02T14:05:00.000Z',
};

const apiKeyPage = {
  items: [apiKey],
  nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
};

const apiKeyCreate = {
  name: 'Meyer & Ruiz LLP',
  scopes: ['ingest'],
};

const caseScope = {
  kind: 'all',
};

const connectionCreate = {
  platform: platform.id,
  categories: ['calendar.events'],
  caseScope: caseScope,
  settings: {},
  attestations: {},
  loginHint: 'ana.ruiz@meyer-ruiz.example',
};

const syncProgress = {
  state: 'running',
  reason: 'change',
  full: true,
  startedAt: '2026-03-02T14:05:00.000Z',
  finishedAt: '2026-03-02T14:05:00.000Z',
  planned: {
    create: 1,
    update: 1,
    delete: 1,
  },
  done: {
    created: 1,
    updated: 1,
    deleted: 1,
    failed: 1,
    blocked: 1,
  },
  unchanged: 1,
  skipped: 1,
  remaining: 1,
  providerCalls: 1,
  jobId: 'sync:7c1f3e5a:42',
  resumesAt: '2026-03-02T14:05:00.000Z',
  message: 'the provider answered 503',
};

const connection = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  platform: platform.id,
  platformName: platform.displayName,
  status: 'pending',
  userId: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
  account: 'ana.ruiz@meyer-ruiz.example',
  categories: ['calendar.events'],
  caseScope: caseScope,
  consent: {
    id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
    version: 1,
    grantedAt: '2026-03-02T14:05:00.000Z',
    method: 'saml',
  },
  settings: {},
  destination: 'Casebridge — Meyer & Ruiz',
  lastSyncAt: '2026-03-02T14:05:00.000Z',
  lastFullSyncAt: '2026-03-02T14:05:00.000Z',
  counts: {
    synced: 1,
    pending: 1,
    errors: 1,
  },
  progress: syncProgress,
  lastError: {
    code: 'provider_unavailable',
    message: 'the provider answered 503',
    at: '2026-03-02T14:05:00.000Z',
  },
  actions: [
    {
      action: 'reconnect',
      method: 'POST',
      href: 'https://casebridge.example.com/',
      description: 'Hearing on the motion to compel',
    },
  ],
  createdAt: '2026-03-02T14:05:00.000Z',
  updatedAt: '2026-03-02T14:05:00.000Z',
};

const connectionPage = {
  items: [connection],
  nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
};

const revocationAccepted = {
  revocation: {
    id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
    status: 'open',
    effectiveAt: '2026-03-02T14:05:00.000Z',
    connectionsRevoked: 1,
    alreadyRevoked: 1,
    created: true,
    message: 'the provider answered 503',
  },
};

const consentGrant = {
  categories: ['calendar.events'],
  caseScope: caseScope,
  attestations: {},
  policyVersion: '2026-01',
};

const consent = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  connectionId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
  version: 1,
  grantedBy: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  categories: ['calendar.events'],
  caseScope: caseScope,
  policyVersion: '2026-01',
  method: 'api',
  ip: '203.0.113.7',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
  attestations: {},
  grantedAt: '2026-03-02T14:05:00.000Z',
  withdrawnAt: '2026-03-02T14:05:00.000Z',
  withdrawnBy: 'user',
  current: true,
  receiptUrl: 'https://casebridge.example.com/',
};

const consentPage = {
  items: [consent],
  nextCursor: null,
};

const importedContact = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  connectionId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
  name: 'Ana Ruiz',
  emails: ['ana.ruiz@meyer-ruiz.example'],
  company: 'Eastside Logistics Inc.',
  jobTitle: 'Operations manager',
  phones: ['+1 312 555 0100'],
  member: true,
  invitedAt: '2026-03-02T14:05:00.000Z',
  createdAt: '2026-03-02T14:05:00.000Z',
  updatedAt: '2026-03-02T14:05:00.000Z',
};

const invitation = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  contactId: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
  email: 'ana.ruiz@meyer-ruiz.example',
  channel: 'smtp',
  status: 'pending',
  reason: 'change',
  transferId: '5b9e1d2c-7f4a-4a0e-8c31-2e6f9d7b1a04',
  expiresAt: '2026-03-02T14:05:00.000Z',
  sentAt: '2026-03-02T14:05:00.000Z',
  acceptedAt: '2026-03-02T14:05:00.000Z',
  createdAt: '2026-03-02T14:05:00.000Z',
};

const consentReceipt = {
  version: 'KI-CR-v1.1.0',
  jurisdiction: 'DE',
  consentTimestamp: 1,
  collectionMethod: 'web form',
  consentReceiptID: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
  language: 'en',
  piiPrincipalId: 'ana.ruiz@meyer-ruiz.example',
  piiControllers: [
    {
      piiController: 'Meyer & Ruiz LLP',
      onBehalf: true,
      piiControllerUrl: 'https://casebridge.example.com/',
    },
  ],
  policyUrl: 'https://casebridge.example.com/',
  services: [
    {
      service: 'Casebridge',
      purposes: [
        {
          purpose: 'calendar_sync',
          purposeCategory: ['calendar synchronisation'],
          consentType: 'EXPLICIT',
          piiCategory: ['case events'],
          primaryPurpose: true,
          termination: 'withdrawal of consent',
          thirdPartyDisclosure: true,
          thirdPartyName: platform.displayName,
        },
      ],
    },
  ],
  piiCategory: ['case events'],
  sensitive: true,
  spiCat: ['2026-03-02T14:05:00.000Z'],
  casebridge: {
    consentVersion: 1,
    connectionId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
    platform: platform.id,
    organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
    categories: ['calendar.events'],
    fields: {},
    caseScope: caseScope,
    policyVersion: '2026-01',
    attestations: {},
    collectedFrom: {
      ip: '203.0.113.7',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
    },
    withdrawnAt: '2026-03-02T14:05:00.000Z',
    withdrawnBy: 'user',
  },
};

const transferSubjects = {
  caseIds: ['a2d4e6f8-1b3c-4d5e-9f70-8a1b2c3d4e5f'],
  eventIds: ['8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11'],
  documentIds: ['5b9e1d2c-7f4a-4a0e-8c31-2e6f9d7b1a04'],
  contactIds: ['c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358'],
  personIds: ['0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507'],
};

const transferActor = {
  kind: 'job',
  jobId: 'sync:7c1f3e5a:42',
  queue: 'sync',
};

const transfer = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  seq: 1,
  createdAt: '2026-03-02T14:05:00.000Z',
  direction: 'outbound',
  outcome: 'intent',
  operation: 'create',
  purpose: 'calendar_sync',
  organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
  userId: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
  connectionId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
  platform: platform.id,
  recipient: {
    account: 'ana.ruiz@meyer-ruiz.example',
    destination: 'Casebridge — Meyer & Ruiz',
  },
  subjects: transferSubjects,
  subjectsDigest: 'b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78',
  categories: ['calendar.events'],
  fieldNames: ['summary'],
  consent: {
    id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
    version: 1,
  },
  payload: {
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    bytes: 1,
  },
  actor: transferActor,
  itemKey: 'event:evt-1001',
  intentId: 'a2d4e6f8-1b3c-4d5e-9f70-8a1b2c3d4e5f',
  providerStatus: 1,
  remoteId: '7g3k9m2p4q6r8s0t',
  durationMs: 182,
  reason: 'change',
  error: {
    class: 'provider_unavailable',
    message: 'the provider answered 503',
  },
  requester: {
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
  },
  prevHash: '4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c',
  hash: '9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1',
};

const signingJwk = {
  kty: 'OKP',
  crv: 'Ed25519',
  x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
  kid: 'transfer-log-2026-01',
  alg: 'EdDSA',
  use: 'sig',
};

const transferLogProblem = {
  kind: 'hash_mismatch',
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  seq: 1,
  expected: '9f2c4e6a8b0d',
  actual: '4a6c8e0b2d4f',
  message: 'the provider answered 503',
};

const transferLogVerifyReport = {
  ok: true,
  rowsChecked: 1,
  durationMs: 182,
  keyId: 'transfer-log-2026-01',
  organizations: [
    {
      organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
      ok: true,
      rows: 1,
      firstSeq: 1,
      lastSeq: 1,
      checkpointsVerified: 1,
      checkpointsUnknownKey: 1,
      checkpointsWitnessed: 1,
      outcomes: {
        unknown: 1,
        tookEffect: 1,
        didNotTakeEffect: 1,
        unverifiable: 1,
        unresolved: 1,
        open: 1,
      },
      lastCheckpoint: {
        seq: 1,
        sealedAt: '2026-03-02T14:05:00.000Z',
        kind: 'periodic',
        jws: 'eyJhbGciOiJFZERTQSJ9.eyJleGFtcGxlIjp0cnVlfQ.ZXhhbXBsZS1zaWduYXR1cmU',
      },
      firstBroken: transferLogProblem,
      problems: [transferLogProblem],
    },
  ],
};

const sealedCheckpoints = {
  sealed: [
    {
      organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
      seq: 1,
      headHash: '9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1',
      jws: 'eyJhbGciOiJFZERTQSJ9.eyJleGFtcGxlIjp0cnVlfQ.ZXhhbXBsZS1zaWduYXR1cmU',
    },
  ],
};

const subjectAccessReport = {
  organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
  subject: {
    kind: 'caseId',
    id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  },
  generatedAt: '2026-03-02T14:05:00.000Z',
  recipients: [
    {
      platform: platform.id,
      account: 'ana.ruiz@meyer-ruiz.example',
      destination: 'Casebridge — Meyer & Ruiz',
      transfers: 1,
    },
  ],
  sources: [
    {
      platform: platform.id,
      account: 'ana.ruiz@meyer-ruiz.example',
      destination: 'Casebridge — Meyer & Ruiz',
      transfers: 1,
    },
  ],
  transfers: [
    {
      transferId: '5b9e1d2c-7f4a-4a0e-8c31-2e6f9d7b1a04',
      direction: 'outbound',
      operation: 'create',
      purpose: 'calendar_sync',
      counterparty: {
        platform: platform.id,
        account: 'ana.ruiz@meyer-ruiz.example',
        destination: 'Casebridge — Meyer & Ruiz',
      },
      connectionId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
      userId: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
      categories: ['calendar.events'],
      fieldNames: ['summary'],
      consent: {
        id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
        version: 1,
      },
      startedAt: '2026-03-02T14:05:00.000Z',
      completedAt: '2026-03-02T14:05:00.000Z',
      delivery: 'delivered',
      resolution: {
        verdict: 'took_effect',
        at: '2026-03-02T14:05:00.000Z',
      },
      providerStatus: 1,
      remoteId: '7g3k9m2p4q6r8s0t',
      actor: transferActor,
      payloadSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      payloadBytes: 1,
      logRowIds: ['7c1f3e5a-2b4d-4e6f-8a0b-9c8d7e6f5a41'],
    },
  ],
  refusedCount: 1,
  notSentCount: 1,
};

const auditActor = {
  kind: 'user',
  userId: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
};

const auditEntry = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
  actor: auditActor,
  action: 'reconnect',
  target: 'connection',
  details: {},
  createdAt: '2026-03-02T14:05:00.000Z',
};

const revocationTarget = {
  kind: 'connection',
  connectionId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
};

const revocationRequest = {
  target: revocationTarget,
  reason: 'change',
  purgeRemote: true,
};

const revocationStoredTarget = {
  kind: 'connection',
  connectionId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
};

const revocationSummary = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  target: revocationStoredTarget,
  reason: 'change',
  status: 'in_progress',
  purgeRemote: true,
  connections: 1,
  requestedAt: '2026-03-02T14:05:00.000Z',
  completedAt: '2026-03-02T14:05:00.000Z',
};

const revocationPage = {
  items: [revocationSummary],
  nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
};

const revocationInFlightCall = {
  transferId: '5b9e1d2c-7f4a-4a0e-8c31-2e6f9d7b1a04',
  resolution: 'pending',
};

const revocationStep = {
  step: 'revoke_token',
  result: 'done',
  detail: 'the provider confirmed the token revocation',
  providerStatus: 1,
  removedItems: 1,
  at: '2026-03-02T14:05:00.000Z',
  attempts: 1,
};

const revokedConnection = {
  connectionId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
  platform: platform.id,
  externalAccount: 'ana.ruiz@meyer-ruiz.example',
  userId: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
  steps: [revocationStep],
};

const revocationReceipt = {
  type: 'casebridge.revocation_receipt',
  version: 1,
  revocationId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
  organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
  target: revocationStoredTarget,
  reason: 'change',
  purgeRemote: true,
  requestedBy: auditActor,
  requestedAt: '2026-03-02T14:05:00.000Z',
  effectiveAt: '2026-03-02T14:05:00.000Z',
  completedAt: '2026-03-02T14:05:00.000Z',
  status: 'completed',
  connections: [revokedConnection],
  alreadyRevokedConnectionIds: ['3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c'],
  callsOutcomeUnknown: [
    {
      transferId: '5b9e1d2c-7f4a-4a0e-8c31-2e6f9d7b1a04',
      resolution: 'took_effect',
    },
  ],
  counts: {
    connections: 1,
    jobsCancelled: 1,
    remoteItemsRemoved: 1,
    callsDrained: 1,
    callsStillRunning: 1,
  },
};

const revocationView = {
  revocation: {
    id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
    organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
    target: revocationStoredTarget,
    reason: 'change',
    purgeRemote: true,
    status: 'in_progress',
    requestedAt: '2026-03-02T14:05:00.000Z',
    effectiveAt: '2026-03-02T14:05:00.000Z',
    completedAt: '2026-03-02T14:05:00.000Z',
    progress: {
      connections: 1,
      connectionsProcessed: 1,
      stepsDone: 1,
      stepsPending: 1,
      jobsCancelled: 1,
      remoteItemsRemoved: 1,
      callsDrained: 1,
      callsStillRunning: 1,
    },
    callsOutcomeUnknown: [revocationInFlightCall],
    connections: [revokedConnection],
    receipt: {
      version: 2,
      payload: revocationReceipt,
      jws: 'eyJhbGciOiJFZERTQSJ9.eyJleGFtcGxlIjp0cnVlfQ.ZXhhbXBsZS1zaWduYXR1cmU',
    },
    publicKey: 'MCowBQYDK2VwAyEA11qYAYKxCrfVS7TyWQHOg7hcvPapiMlrwIaaPcHURo=',
    publicKeyJwk: {
      kty: 'OKP',
      crv: 'Ed25519',
      x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
      kid: 'transfer-log-2026-01',
      alg: 'EdDSA',
      use: 'sig',
    },
  },
};

const webhookEndpoint = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  url: 'https://app.example.com/hooks/casebridge',
  description: 'Hearing on the motion to compel',
  events: ['connection.active'],
  previousSecretExpiresAt: '2026-03-02T14:05:00.000Z',
  createdAt: '2026-03-02T14:05:00.000Z',
  updatedAt: '2026-03-02T14:05:00.000Z',
};

const webhookEndpointPage = {
  items: [webhookEndpoint],
  nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
};

const webhookEndpointWithSecret = {
  endpoint: webhookEndpoint,
  secret: 'whsec_EXAMPLE0000000000000000000000000000',
};

const webhookDelivery = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  eventId: '8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11',
  eventType: 'connection.active',
  status: 'pending',
  replayOf: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
  attemptCount: 1,
  lastAttemptAt: '2026-03-02T14:05:00.000Z',
  lastStatusCode: 1,
  lastError: 'receiver answered 503',
  nextAttemptAt: '2026-03-02T14:05:00.000Z',
  deliveredAt: '2026-03-02T14:05:00.000Z',
  createdAt: '2026-03-02T14:05:00.000Z',
};

const webhookDeliveryPage = {
  items: [webhookDelivery],
  nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
};

const platformItem = {
  platform: platform.id,
  name: platform.displayName,
  enabled: true,
};

const platformSwitch = {
  enabled: true,
  existingConnections: 'revoke',
  reason: 'change',
};

const platformSwitchResult = {
  platform: platform.id,
  enabled: true,
  revocationId: 'e9b7c5a3-1d2f-4a6b-8c0e-2f4a6b8c0d12',
  connectionsRevoked: 1,
  connectionsPaused: 1,
};

const superAdminRevocationRequest = {
  platform: platform.id,
  reason: 'change',
  purgeRemote: true,
};

const transferPage = {
  items: [transfer],
  nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
};

const CORE_OPERATION_EXAMPLES = {
  // POST /v1/connect-sessions
  createConnectSession: {
    request: connectSessionCreate,
    response: {
      url: 'https://casebridge.example.com/',
      expiresAt: '2026-03-02T14:05:00.000Z',
    },
  },
  // GET /v1/me
  getMe: {
    response: me,
  },
  // GET /v1/admin/users
  listUsers: {
    response: {
      items: [user],
      nextCursor: null,
    },
  },
  // PATCH /v1/admin/users/{id}
  updateUser: {
    request: {
      role: 'member',
      status: 'active',
    },
    response: {
      user: {
        id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
        role: 'admin',
        status: 'open',
      },
      sessionsEnded: 1,
    },
  },
  // DELETE /v1/admin/users/{id}/identities/{identityId}
  unlinkUserIdentity: {
    response: {
      identity: {
        id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
        provider: 'saml',
        issuer: 'https://idp.meyer-ruiz.example/saml',
        subject: '109876543210987654321',
      },
      sessionsEnded: 1,
    },
  },
  // GET /v1/admin/users/{id}/sessions
  listUserSessions: {
    response: {
      items: [userSession],
      nextCursor: null,
    },
  },
  // DELETE /v1/admin/users/{id}/sessions
  endUserSessions: {
    response: {
      sessionsEnded: 1,
    },
  },
  // DELETE /v1/admin/users/{id}/sessions/{handle}
  endUserSession: {
    response: {
      sessionsEnded: 1,
    },
  },
  // GET /v1/admin/security-events
  listSecurityEvents: {
    response: securityEventPage,
  },
  // DELETE /v1/super-admin/domains/{domain}: no JSON body
  refuseDomainClaim: {},
  // PUT /v1/ingest/cases/{externalId}
  putCase: {
    request: caseInput,
    response: caseExample,
  },
  // GET /v1/ingest/cases/{externalId}
  getIngestedCase: {
    response: caseExample,
  },
  // DELETE /v1/ingest/cases/{externalId}
  deleteCase: {
    response: caseExample,
  },
  // PUT /v1/ingest/events/{externalId}
  putEvent: {
    request: eventInput,
    response: eventExample,
  },
  // GET /v1/ingest/events/{externalId}
  getIngestedEvent: {
    response: eventExample,
  },
  // DELETE /v1/ingest/events/{externalId}
  deleteEvent: {
    response: eventExample,
  },
  // PUT /v1/ingest/documents/{externalId}
  putDocument: {
    request: documentJsonInput,
    response: documentExample,
  },
  // GET /v1/ingest/documents/{externalId}
  getIngestedDocument: {
    response: documentExample,
  },
  // DELETE /v1/ingest/documents/{externalId}
  deleteDocument: {
    response: documentExample,
  },
  // PUT /v1/ingest/contacts/{externalId}
  putContact: {
    request: contactInput,
    response: contact,
  },
  // GET /v1/ingest/contacts/{externalId}
  getIngestedContact: {
    response: contact,
  },
  // DELETE /v1/ingest/contacts/{externalId}
  deleteContact: {
    response: contact,
  },
  // POST /v1/ingest/bulk
  ingestBulk: {
    request: bulkIngestRequest,
    response: bulkIngestResult,
  },
  // GET /v1/cases
  listCases: {
    response: casePage,
  },
  // GET /v1/cases/{id}
  getCase: {
    response: {
      id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
      number: 'PI-2024-0117',
      title: 'Miller v. Eastside Logistics',
      clientName: 'Dana Miller',
      status: 'open',
      eventCount: 1,
      updatedAt: '2026-03-02T14:05:00.000Z',
      assignees: ['ana.ruiz@meyer-ruiz.example'],
      documentCount: 1,
      contactCount: 1,
    },
  },
  // GET /v1/admin/api-keys
  listApiKeys: {
    response: apiKeyPage,
  },
  // POST /v1/admin/api-keys
  createApiKey: {
    request: apiKeyCreate,
    response: {
      id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
      prefix: 'cbk_Xk29',
      scopes: ['ingest'],
      apiKey: 'cbk_EXAMPLEexampleEXAMPLEexampleEXAMPLE00',
    },
  },
  // DELETE /v1/admin/api-keys/{id}: no JSON body
  revokeApiKey: {},
  // POST /v1/connections
  createConnection: {
    request: connectionCreate,
    response: {
      connection: connection,
      authorizationUrl: 'https://casebridge.example.com/',
      authorizationExpiresAt: '2026-03-02T14:05:00.000Z',
    },
  },
  // GET /v1/connections
  listConnections: {
    response: connectionPage,
  },
  // GET /v1/connections/oauth/callback
  completeConnection: {
    response: {
      connection: connection,
    },
  },
  // GET /v1/connections/{id}
  getConnection: {
    response: {
      connection: connection,
    },
  },
  // PATCH /v1/connections/{id}
  updateConnection: {
    request: {
      settings: {},
    },
    response: {
      connection: connection,
    },
  },
  // DELETE /v1/connections/{id}
  disconnectConnection: {
    response: revocationAccepted,
  },
  // POST /v1/connections/{id}/reconnect
  reconnectConnection: {
    request: {
      loginHint: 'ana.ruiz@meyer-ruiz.example',
    },
    response: {
      authorizationUrl: 'https://casebridge.example.com/',
      authorizationExpiresAt: '2026-03-02T14:05:00.000Z',
    },
  },
  // GET /v1/consent-categories
  listConsentCategories: {
    response: {
      policyVersion: '2026-01',
      categories: [
        {
          id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
          title: 'Miller v. Eastside Logistics',
          description: 'Hearing on the motion to compel',
          direction: 'outbound',
          fields: ['title'],
          attestation: "the firm has this client's consent on file",
          platforms: [platform.id],
        },
      ],
    },
  },
  // POST /v1/connections/{id}/consents
  grantConsent: {
    request: consentGrant,
    response: {
      consent: consent,
    },
  },
  // GET /v1/connections/{id}/consents
  listConsents: {
    response: consentPage,
  },
  // GET /v1/connections/{id}/consent
  getCurrentConsent: {
    response: {
      consent: consent,
    },
  },
  // DELETE /v1/connections/{id}/consent
  withdrawConsent: {
    response: {
      withdrawn: true,
      withdrawnConsentIds: ['8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11'],
      effectiveAt: '2026-03-02T14:05:00.000Z',
    },
  },
  // GET /v1/imported-contacts
  listImportedContacts: {
    response: {
      items: [importedContact],
      nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
    },
  },
  // POST /v1/imported-contacts/{id}/invitations
  inviteImportedContact: {
    request: {
      email: 'ana.ruiz@meyer-ruiz.example',
    },
    response: {
      invitation: invitation,
    },
  },
  // GET /v1/invitations
  listInvitations: {
    response: {
      items: [invitation],
      nextCursor: null,
    },
  },
  // GET /v1/invitations/{token}
  viewInvitation: {
    response: {
      invitation: {
        organizationName: 'Meyer & Ruiz LLP',
        inviterName: 'Ana Ruiz',
        email: 'ana.ruiz@meyer-ruiz.example',
        state: 'open',
        expiresAt: '2026-03-02T14:05:00.000Z',
      },
      accept: {
        method: 'POST',
        href: 'https://casebridge.example.com/',
      },
      optOut: {
        method: 'POST',
        href: 'https://casebridge.example.com/',
      },
    },
  },
  // POST /v1/invitations/{token}/accept
  acceptInvitation: {
    response: {
      userId: 'c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358',
      email: 'ana.ruiz@meyer-ruiz.example',
      membershipCreated: true,
      signInUrl: 'https://casebridge.example.com/',
      signInExpiresAt: '2026-03-02T14:05:00.000Z',
    },
  },
  // POST /v1/invitations/{token}/opt-out
  optOutOfInvitations: {
    response: {
      optedOut: true,
      email: 'ana.ruiz@meyer-ruiz.example',
    },
  },
  // GET /v1/connections/{id}/consents/{version}/receipt
  getConsentReceipt: {
    response: {
      receipt: consentReceipt,
      jws: 'eyJhbGciOiJFZERTQSJ9.eyJleGFtcGxlIjp0cnVlfQ.ZXhhbXBsZS1zaWduYXR1cmU',
    },
  },
  // GET /v1/transfers
  listTransfers: {
    response: {
      items: [transfer],
      nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
    },
  },
  // GET /v1/transfers/export
  exportTransfers: {
    response: [transfer],
    media: {
      'text/csv': `id,seq,created_at,direction,outcome,operation,purpose,user_id,connection_id,platform,recipient_account,recipient_destination,case_ids,event_ids,contact_ids,person_ids,document_ids,categories,field_names,consent_id,consent_version,payload_sha256,payload_bytes,actor,item_key,intent_id,provider_status,remote_id,duration_ms,reason,error_class,requester_ip,hash\r\n3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c,42,2026-03-02T14:05:00.000Z,outbound,sent,create,calendar_sync,8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11,c41e9a07-2d3b-4c85-a1f6-7e92b0d4c358,${platform.id},ana.ruiz@meyer-ruiz.example,Casebridge — Meyer & Ruiz,8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11,evt-1001,,,,calendar.events,summary start end,5b9e1d2c-7f4a-4a0e-8c31-2e6f9d7b1a04,1,e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855,412,"{""kind"":""job"",""jobId"":""sync:7c1f3e5a:42"",""queue"":""sync""}",event:evt-1001,0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507,200,7g3k9m2p4q6r8s0t,182,,,,9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1\r\n`,
    },
  },
  // GET /v1/transfers/signing-key
  getSigningKey: {
    response: {
      algorithm: 'Ed25519',
      keyId: 'transfer-log-2026-01',
      publicKeyPem: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n',
      jwk: signingJwk,
    },
  },
  // GET /.well-known/jwks.json
  getJwks: {
    response: {
      keys: [signingJwk],
    },
  },
  // GET /v1/admin/transfers/verify
  verifyTransferLog: {
    response: transferLogVerifyReport,
  },
  // POST /v1/admin/transfers/checkpoints
  createTransferCheckpoint: {
    response: sealedCheckpoints,
  },
  // GET /v1/admin/subject-access
  getSubjectAccessReport: {
    response: subjectAccessReport,
  },
  // GET /v1/admin/audit
  listAuditEntries: {
    response: {
      items: [auditEntry],
      nextCursor: 'MjAyNi0wMy0wMlQxNDowNTowMC4wMDBafDNmMmI4YzFl',
    },
  },
  // POST /v1/admin/revocations
  createRevocation: {
    request: revocationRequest,
    response: revocationAccepted,
  },
  // GET /v1/admin/revocations
  listRevocations: {
    response: revocationPage,
  },
  // GET /v1/admin/revocations/{id}
  getRevocation: {
    response: revocationView,
  },
  // GET /v1/admin/webhooks
  listWebhookEndpoints: {
    response: webhookEndpointPage,
  },
  // POST /v1/admin/webhooks
  createWebhookEndpoint: {
    request: {
      url: 'https://casebridge.example.com/',
      description: 'Hearing on the motion to compel',
      events: ['connection.active'],
    },
    response: webhookEndpointWithSecret,
  },
  // GET /v1/admin/webhooks/{id}
  getWebhookEndpoint: {
    response: webhookEndpoint,
  },
  // DELETE /v1/admin/webhooks/{id}: no JSON body
  deleteWebhookEndpoint: {},
  // POST /v1/admin/webhooks/{id}/rotate-secret
  rotateWebhookSecret: {
    request: {
      overlapHours: 1,
    },
    response: webhookEndpointWithSecret,
  },
  // GET /v1/admin/webhooks/{id}/deliveries
  listWebhookDeliveries: {
    response: webhookDeliveryPage,
  },
  // POST /v1/admin/webhooks/{id}/deliveries/{deliveryId}/replay
  replayWebhookDelivery: {
    response: webhookDelivery,
  },
  // GET /v1/admin/platforms
  listPlatforms: {
    response: {
      items: [platformItem],
      nextCursor: null,
    },
  },
  // PUT /v1/admin/platforms/{platform}
  setPlatformEnabled: {
    request: platformSwitch,
    response: platformSwitchResult,
  },
  // POST /v1/super-admin/revocations
  createDeploymentRevocation: {
    request: superAdminRevocationRequest,
    response: revocationAccepted,
  },
  // GET /v1/super-admin/revocations/{id}
  getDeploymentRevocation: {
    response: revocationView,
  },
  // GET /v1/users/{user}/connections
  listUserConnections: {
    response: connectionPage,
  },
  // GET /v1/users/{user}/connections/{id}/consents
  listUserConsents: {
    response: consentPage,
  },
  // GET /v1/users/{user}/transfers
  listUserTransfers: {
    response: transferPage,
  },
} satisfies Record<string, OperationExample>;

/** Every operation's examples: the core API's, sign-in's (src/auth) and each connector's own. */
export const OPERATION_EXAMPLES: Record<string, OperationExample> = {
  ...CORE_OPERATION_EXAMPLES,
  ...SIGN_IN_OPERATION_EXAMPLES,
  ...Object.assign({}, ...connectors.map((c) => c.operationExamples ?? {})),
};

type MediaType = { schema?: unknown; example?: unknown };
type Operation = {
  operationId?: string;
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { content?: Record<string, MediaType> }>;
};

/** Writes each operation's examples into its request body and first 2xx answer. */
export function addOperationExamples(paths: Record<string, unknown>): void {
  const examples = OPERATION_EXAMPLES;
  for (const item of Object.values(paths)) {
    for (const op of Object.values(item as Record<string, Operation>)) {
      const example = op.operationId ? examples[op.operationId] : undefined;
      if (!example) continue;
      const body = op.requestBody?.content?.['application/json'];
      if (body && example.request !== undefined) body.example = example.request;
      const answer = Object.entries(op.responses ?? {}).find(([status]) => status.startsWith('2'))?.[1];
      for (const [type, media] of Object.entries(answer?.content ?? {})) {
        const value = type === 'application/json' ? example.response : example.media?.[type];
        if (value !== undefined) media.example = value;
      }
    }
  }
}

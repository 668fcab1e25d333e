import type { OperationExample } from '../types.ts';

/** OpenAPI examples of this connector's operations (request body and main answer), by operationId; see src/api/schemas/examples.ts. */

const icalCaseScope = {
  kind: 'all',
};

const icalFeedCreate = {
  name: 'Meyer & Ruiz LLP',
  categories: ['calendar.events'],
  caseScope: icalCaseScope,
};

const icalFeed = {
  id: '3f2b8c1e-5a7d-4e21-9b6c-0d4e8f1a2b3c',
  name: 'Meyer & Ruiz LLP',
  tokenHint: '…a1b2',
  categories: ['calendar.events'],
  caseScope: { kind: 'all' },
  status: 'open',
  createdAt: '2026-03-02T14:05:00.000Z',
  rotatedAt: '2026-03-02T14:05:00.000Z',
  revokedAt: '2026-03-02T14:05:00.000Z',
  lastFetchedAt: '2026-03-02T14:05:00.000Z',
  fetchCount: 1,
};

export const icalOperationExamples = {
  // POST /v1/ical-feeds
  createIcalFeed: {
    request: icalFeedCreate,
    response: {
      feed: icalFeed,
      url: 'https://casebridge.example.com/',
    },
  },
  // GET /v1/ical-feeds
  listIcalFeeds: {
    response: {
      items: [icalFeed],
      nextCursor: null,
    },
  },
  // POST /v1/ical-feeds/{id}/rotate
  rotateIcalFeed: {
    response: {
      feed: icalFeed,
      url: 'https://casebridge.example.com/',
    },
  },
  // DELETE /v1/ical-feeds/{id}: no JSON body
  deleteIcalFeed: {},
  // GET /ical/{file}
  getIcalFeed: {
    media: {
      'text/calendar':
        'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Casebridge//iCal feed//EN\r\nBEGIN:VEVENT\r\nUID:evt-1001@casebridge.example.com\r\nDTSTAMP:20260302T140500Z\r\nDTSTART:20260316T090000Z\r\nDTEND:20260316T100000Z\r\nSUMMARY:Hearing on the motion to compel\r\nLOCATION:Courtroom 4B\\, Superior Court\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n',
    },
  },
} satisfies Record<string, OperationExample>;

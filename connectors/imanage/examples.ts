import type { OperationExample } from '../types.ts';

/** OpenAPI examples of this connector's operations (request body and main answer), by operationId; see src/api/schemas/examples.ts. */

const imanageFirmClient = {
  configured: true,
  clientId: 'example-client-id',
  secretSet: true,
  updatedAt: '2026-03-02T14:05:00.000Z',
};

const imanageFirmClientInput = {
  clientId: 'example-client-id',
  clientSecret: 'example-client-secret-not-real',
};

export const imanageOperationExamples = {
  // GET /v1/admin/imanage/client
  getImanageFirmClient: {
    response: imanageFirmClient,
  },
  // PUT /v1/admin/imanage/client
  setImanageFirmClient: {
    request: imanageFirmClientInput,
    response: imanageFirmClient,
  },
  // DELETE /v1/admin/imanage/client
  deleteImanageFirmClient: {
    response: imanageFirmClient,
  },
} satisfies Record<string, OperationExample>;

import type { OperationExample } from '../../connectors/types.ts';

/**
 * OpenAPI examples of the sign-in administration operations (SAML, the sign-in policy with its Google
 * Workspace domains, domain claims), merged into the API's examples by src/api/schemas/examples.ts.
 * Here rather than there because they name Google sign-in, which only src/auth/ speaks of.
 */

const signInPolicy = {
  allowedGoogleDomains: ['meyer-ruiz.example'],
  jitProvisioning: true,
  defaultRole: 'member',
  linkByEmail: true,
};

const samlConfig = {
  configured: true,
  serviceProvider: {
    entityId: '8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11',
    acsUrl: 'https://casebridge.example.com/',
    metadataUrl: 'https://casebridge.example.com/',
    sloUrl: 'https://casebridge.example.com/',
    loginUrl: 'https://casebridge.example.com/',
  },
  identityProvider: {
    entityId: '8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11',
    ssoUrl: 'https://casebridge.example.com/',
    sloUrl: 'https://casebridge.example.com/',
    certificates: [
      {
        pem: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n',
        fingerprint256: 'AB:12:CD:34:EF:56:78:90:AB:CD:EF:12:34:56:78:90:AB:CD:EF:12:34:56:78:90:AB:CD:EF:12:34:56:78:90',
        notAfter: '2026-03-02T14:05:00.000Z',
      },
    ],
    attributeMapping: {},
    allowIdpInitiated: true,
    updatedAt: '2026-03-02T14:05:00.000Z',
  },
  policy: signInPolicy,
};

const samlConfigInput = {
  entityId: '8d7f4a2e-4b7c-4f19-9a44-0f7d2f1e6c11',
  ssoUrl: 'https://casebridge.example.com/',
  sloUrl: 'https://casebridge.example.com/',
  certificates: ['MIIC8DCCAdigAwIBAgIQExampleCertificateNotReal'],
  attributeMapping: {
    email: 'ana.ruiz@meyer-ruiz.example',
    firstName: 'Dana',
    lastName: 'Miller',
    name: 'Meyer & Ruiz LLP',
  },
  allowIdpInitiated: true,
  jitProvisioning: true,
  defaultRole: 'member',
  linkByEmail: true,
};

const googleDomainClaim = {
  domain: 'meyer-ruiz.example',
  organizationId: '0e6a4f3b-9c2d-4b7e-8f15-a3d2c1b4e507',
  organizationName: 'Meyer & Ruiz LLP',
  status: 'pending',
  createdAt: '2026-03-02T14:05:00.000Z',
  verifiedAt: '2026-03-02T14:05:00.000Z',
};

export const SIGN_IN_OPERATION_EXAMPLES = {
  // GET /v1/admin/saml
  getSamlSettings: {
    response: samlConfig,
  },
  // PUT /v1/admin/saml
  putSamlSettings: {
    request: samlConfigInput,
    response: samlConfig,
  },
  // POST /v1/admin/saml/metadata-url
  importSamlMetadataUrl: {
    request: { url: 'https://app.onelogin.com/saml/metadata/7f3c2a90-1b4d-4e8a-9c61-2d5e8f0a4b17', allowIdpInitiated: false },
    response: samlConfig,
  },
  // GET /v1/admin/sign-in-policy
  getSignInPolicy: {
    response: {
      policy: signInPolicy,
      googleDomains: [
        {
          domain: 'meyer-ruiz.example',
          status: 'pending',
        },
      ],
    },
  },
  // PATCH /v1/admin/sign-in-policy
  updateSignInPolicy: {
    request: {
      allowedGoogleDomains: ['meyer-ruiz.example'],
      jitProvisioning: true,
      defaultRole: 'member',
      linkByEmail: true,
    },
    response: {
      policy: signInPolicy,
      googleDomains: [
        {
          domain: 'meyer-ruiz.example',
          status: 'pending',
        },
      ],
    },
  },
  // GET /v1/super-admin/domains
  listDomainClaims: {
    response: {
      items: [googleDomainClaim],
      nextCursor: null,
    },
  },
  // POST /v1/super-admin/domains/{domain}/approve
  approveDomainClaim: {
    response: {
      domain: googleDomainClaim,
    },
  },
} satisfies Record<string, OperationExample>;

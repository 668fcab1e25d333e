import { CSRF_HEADER, SESSION_COOKIE } from '../auth/session-store.ts';
import type { App } from './env.ts';
import { addOperationExamples } from './schemas/examples.ts';

/**
 * The OpenAPI 3.1 document, built once from the registered routes. Security schemes are declared
 * here, and two facts are derived rather than written on every route:
 *
 * - a state-changing call under the session scheme also needs the session's CSRF header
 *   (`sessionAuth` refuses it otherwise), so such operations require `session` **and** `csrf`;
 *   Swagger UI at /docs fills the header in for a signed-in user (see docs-page.ts);
 * - a route that declares no security is public, said explicitly (`security: []`).
 *
 * `npm run lint:openapi` and test/api/openapi-contract.test.ts lint this document with Redocly's
 * recommended rules and type-check a client generated from it.
 */

type Operation = { security?: Array<Record<string, string[]>>; [key: string]: unknown };
type OpenApiDocument = ReturnType<App['getOpenAPI31Document']>;

const SAFE_METHODS = new Set(['get', 'head', 'options']);
const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

/** Registers the security schemes every route refers to by name. */
export function registerSecuritySchemes(app: App): void {
  const register = app.openAPIRegistry.registerComponent.bind(app.openAPIRegistry, 'securitySchemes');
  register('apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An organization API key (`cbk_…`), as `Authorization: Bearer <key>`. Each key carries scopes; see the API overview in the README.',
  });
  register('superAdmin', {
    type: 'http',
    scheme: 'bearer',
    description: 'The deployment super administrator credential (`SUPER_ADMIN_TOKEN`), as `Authorization: Bearer <token>`.',
  });
  register('session', {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
    description: 'The session cookie set by signing in (the browser sends it).',
  });
  register('csrf', {
    type: 'apiKey',
    in: 'header',
    name: 'X-CSRF-Token',
    description: `The session's CSRF token (\`csrfToken\` in \`GET /v1/me\`), sent as \`${CSRF_HEADER}\` on every state-changing call of a signed-in user.`,
  });
}

/** The document `/openapi.json` serves. */
export function buildOpenApiDocument(app: App): OpenApiDocument {
  const doc = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Casebridge API',
      version: '0.1.0',
      description: 'Consent-gated, transfer-logged sharing of case data with Additional Platforms.',
    },
    // Relative: the document describes the deployment that serves it, whatever its address.
    servers: [{ url: '/', description: 'This deployment' }],
  });
  // OpenAPI 3.1 names a license by SPDX identifier (the generator's types know only 3.0's `url`).
  (doc.info as { license?: unknown }).license = { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' };
  for (const item of Object.values(doc.paths ?? {})) {
    for (const [method, value] of Object.entries(item as Record<string, unknown>)) {
      if (!METHODS.has(method)) continue;
      const op = value as Operation;
      if (!op.security) {
        op.security = [];
        continue;
      }
      if (SAFE_METHODS.has(method)) continue;
      op.security = op.security.map((requirement) => ('session' in requirement ? { ...requirement, csrf: [] } : requirement));
    }
  }
  addOperationExamples(doc.paths ?? {});
  return doc;
}

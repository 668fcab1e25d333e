import { createHash, randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { applyFaults, tokenFault } from '../faults.ts';
import type { ProviderEmulator } from '../server.ts';
import type { SandboxState } from '../state.ts';

/**
 * iManage Work emulator under `/imanage`: OAuth 2.0 authorization code (no PKCE, refresh tokens
 * only when the firm enabled them), `GET /api` discovery, and the v2 REST API under
 * `/work/api/v2/customers/{cid}/libraries/{lib}/`: workspaces (search by custom1/custom2, create
 * from a template), folders, documents (multipart upload of `profile` + `file`, versions, profile
 * update, search by profile field, download). Ids are `LIB!number` (containers) and
 * `LIB!number.version` (documents); answers are wrapped as `{ data }`; an unknown or expired token
 * answers 401 "X-Auth-Token is invalid or missing". Every accepted write goes into the ledger with
 * its byte count and content hash.
 */

export const IMANAGE_CUSTOMER_ID = 1;
export const IMANAGE_LIBRARIES = ['ACTIVE', 'ARCHIVE'] as const;
/** The client registered by the firm's iManage administrator in the sandbox. */
export const IMANAGE_CLIENT = { clientId: 'sandbox-imanage-client', clientSecret: 'sandbox-imanage-secret' };
/** Access tokens expire after 30 minutes without use (iManage's default). */
const IDLE_TTL_SECONDS = 1800;

export interface ImanageContainer {
  id: string;
  library: string;
  kind: 'workspace' | 'folder';
  name: string;
  parentId: string | null;
  custom1?: string;
  custom2?: string;
  template: boolean;
}

export interface ImanageVersion {
  id: string;
  version: number;
  size: number;
  sha256: string;
  content: Buffer;
}

export interface ImanageDocument {
  library: string;
  number: number;
  folderId: string;
  workspaceId: string;
  profile: Record<string, unknown>;
  versions: ImanageVersion[];
}

export interface ImanageStore {
  nextNumber: number;
  containers: Map<string, ImanageContainer>;
  documents: Map<string, ImanageDocument>;
  codes: Map<string, { account: string; redirectUri: string; expiresAt: number; used: boolean }>;
  /** Whether the server hands out refresh tokens (off by default in iManage; on in the sandbox). */
  refreshTokensEnabled: boolean;
  logouts: number;
  /** Uploads to store and then answer with a dropped connection (the answer is lost; the write is not). */
  dropAnswers: number;
  /** Milliseconds an accepted upload (new document or version) waits, stored, before it answers (a crash test kills the client meanwhile). */
  holdAnswersMs: number;
  /** Whether stored versions keep their bytes (downloads need them); off for large benchmarks. */
  keepContent: boolean;
  /** OAuth clients the firm's administrator registered (id → secret); the sandbox's public one first. */
  clients: Map<string, string>;
  /** Every token request that passed client authentication: which client, which grant. */
  tokenRequests: Array<{ clientId: string; grantType: string }>;
}

export function imanageStore(state: SandboxState): ImanageStore {
  return state.store<ImanageStore>('imanage', () => {
    const s: ImanageStore = {
      nextNumber: 1000,
      containers: new Map(),
      documents: new Map(),
      codes: new Map(),
      refreshTokensEnabled: true,
      logouts: 0,
      dropAnswers: 0,
      holdAnswersMs: 0,
      keepContent: true,
      clients: new Map([[IMANAGE_CLIENT.clientId, IMANAGE_CLIENT.clientSecret]]),
      tokenRequests: [],
    };
    // A template workspace the admin may create matter workspaces from.
    s.containers.set('ACTIVE!1', { id: 'ACTIVE!1', library: 'ACTIVE', kind: 'workspace', name: 'Matter template', parentId: null, template: true });
    return s;
  });
}

/** Live documents of a library (latest version each). */
export function imanageDocuments(state: SandboxState): Array<ImanageDocument & { id: string }> {
  return [...imanageStore(state).documents.values()].map((d) => ({ ...d, id: `${d.library}!${d.number}.${d.versions.length}` }));
}

const CUSTOM_STRING = /^custom([1-9]|1[0-6])$/;

function docView(d: ImanageDocument) {
  const v = d.versions[d.versions.length - 1]!;
  return {
    ...d.profile,
    id: `${d.library}!${d.number}.${v.version}`,
    document_number: d.number,
    version: v.version,
    database: d.library,
    workspace_id: d.workspaceId,
    size: v.size,
  };
}

function containerView(c: ImanageContainer) {
  return {
    id: c.id,
    database: c.library,
    name: c.name,
    wstype: c.kind,
    ...(c.custom1 ? { custom1: c.custom1 } : {}),
    ...(c.custom2 ? { custom2: c.custom2 } : {}),
  };
}

export const imanageEmulator: ProviderEmulator = (app: Hono, ctx) => {
  const { state } = ctx;
  const store = () => imanageStore(state);
  const record = (c: Context, account: string | null, status: number, write = false, object?: unknown) =>
    state.record({ provider: 'imanage', account, method: c.req.method, path: c.req.path, status, write, object });

  app.get('/imanage/auth/oauth2/authorize', (c) => {
    const q = c.req.query();
    if (!q.client_id || !store().clients.has(q.client_id)) return c.json({ error: 'invalid_client' }, 401);
    if (!q.redirect_uri || !/^https?:\/\//.test(q.redirect_uri)) return c.json({ error: 'invalid_request', error_description: 'redirect_uri' }, 400);
    const back = new URL(q.redirect_uri);
    if (q.state) back.searchParams.set('state', q.state);
    if (q.response_type !== 'code') {
      back.searchParams.set('error', 'unsupported_response_type');
      return c.redirect(back.toString(), 302);
    }
    // The sandbox signs the first configured account in at once (the firm's service user).
    const account = [...state.accounts.values()][0]!.email.toLowerCase();
    const code = randomBytes(18).toString('base64url');
    store().codes.set(code, { account, redirectUri: q.redirect_uri, expiresAt: Date.now() + 60_000, used: false });
    back.searchParams.set('code', code);
    record(c, account, 302);
    return c.redirect(back.toString(), 302);
  });

  app.post('/imanage/auth/oauth2/token', async (c) => {
    const p = (await c.req.parseBody()) as Record<string, string>;
    if (!p.client_id || store().clients.get(p.client_id) !== p.client_secret) return c.json({ error: 'invalid_client' }, 401);
    store().tokenRequests.push({ clientId: p.client_id, grantType: String(p.grant_type) });
    const issue = (account: string, family: string) => {
      const body: Record<string, unknown> = {
        access_token: state.issueToken({
          provider: 'imanage',
          account,
          clientId: p.client_id!,
          scope: 'user',
          kind: 'access',
          family,
          ttlSeconds: IDLE_TTL_SECONDS,
        }),
        token_type: 'bearer',
        expires_in: IDLE_TTL_SECONDS,
        scope: 'user',
      };
      if (store().refreshTokensEnabled)
        body.refresh_token = state.issueToken({ provider: 'imanage', account, clientId: p.client_id!, scope: 'user', kind: 'refresh', family });
      return body;
    };
    if (p.grant_type === 'authorization_code') {
      const code = p.code ? store().codes.get(p.code) : undefined;
      if (!code || code.used || code.expiresAt < Date.now() || code.redirectUri !== p.redirect_uri) return c.json({ error: 'invalid_grant' }, 400);
      code.used = true;
      const fault = await applyFaults(c, state, { provider: 'imanage', account: code.account });
      if (fault) return fault;
      record(c, code.account, 200);
      return c.json(issue(code.account, randomBytes(8).toString('hex')));
    }
    if (p.grant_type === 'refresh_token') {
      const t = p.refresh_token ? state.tokens.get(p.refresh_token) : undefined;
      if (t?.kind !== 'refresh' || t.provider !== 'imanage' || t.revoked || !store().refreshTokensEnabled) return c.json({ error: 'invalid_grant' }, 400);
      // A refresh token works only for the client it was issued to.
      if (t.clientId !== p.client_id) return c.json({ error: 'invalid_grant' }, 400);
      if (tokenFault(state, { provider: 'imanage', account: t.account, method: 'POST', path: c.req.path }, 'invalid_grant'))
        return c.json({ error: 'invalid_grant' }, 400);
      record(c, t.account, 200);
      const body = issue(t.account, t.family);
      delete body.refresh_token; // the refresh token stays the same
      return c.json(body);
    }
    return c.json({ error: 'unsupported_grant_type' }, 400);
  });

  /** `X-Auth-Token` (or `Authorization: Bearer`) → the account, or the 401 iManage answers. */
  const authenticate = (c: Context): { account: string; token: string } | Response => {
    const token = c.req.header('x-auth-token') ?? /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const rec = token ? state.tokens.get(token) : undefined;
    if (token && rec && rec.provider === 'imanage') {
      const req = { provider: 'imanage' as const, account: rec.account, method: c.req.method, path: c.req.path };
      if (tokenFault(state, req, 'revoke_tokens')) state.revokeFamily(token);
      else if (tokenFault(state, req, 'expire_tokens')) rec.expiresAt = Date.now() - 1;
    }
    const checked = state.checkAccessToken(token, 'imanage');
    if (typeof checked === 'string') return c.json({ error: { code: 'AuthenticationFailed', message: 'X-Auth-Token is invalid or missing' } }, 401);
    // Inactivity expiry: each use extends the token.
    checked.expiresAt = Date.now() + IDLE_TTL_SECONDS * 1000;
    return { account: checked.account, token: token! };
  };

  /** Test control: refresh tokens on/off (iManage's server setting) and answers to drop. */
  app.post('/_sandbox/imanage/settings', async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as {
      refreshTokensEnabled?: unknown;
      dropAnswers?: unknown;
      holdAnswersMs?: unknown;
      keepContent?: unknown;
      registerClient?: { clientId?: unknown; clientSecret?: unknown };
    };
    const reg = body.registerClient;
    if (reg && typeof reg.clientId === 'string' && typeof reg.clientSecret === 'string') store().clients.set(reg.clientId, reg.clientSecret);
    if (typeof body.refreshTokensEnabled === 'boolean') store().refreshTokensEnabled = body.refreshTokensEnabled;
    if (typeof body.dropAnswers === 'number') store().dropAnswers = body.dropAnswers;
    if (typeof body.holdAnswersMs === 'number') store().holdAnswersMs = body.holdAnswersMs;
    if (typeof body.keepContent === 'boolean') store().keepContent = body.keepContent;
    return c.json({ refreshTokensEnabled: store().refreshTokensEnabled, dropAnswers: store().dropAnswers });
  });

  app.get('/imanage/auth/logout', (c) => {
    const auth = authenticate(c);
    if (auth instanceof Response) return auth;
    state.revokeFamily(auth.token);
    store().logouts += 1;
    record(c, auth.account, 200, true, { logout: true });
    return c.json({});
  });

  app.get('/imanage/api', async (c) => {
    const auth = authenticate(c);
    if (auth instanceof Response) return auth;
    const fault = await applyFaults(c, state, { provider: 'imanage', account: auth.account });
    if (fault) return fault;
    record(c, auth.account, 200);
    return c.json({
      data: {
        user: { customer_id: IMANAGE_CUSTOMER_ID, email: auth.account, id: auth.account.split('@')[0] },
        versions: [{ name: 'v2', url: `${ctx.origin()}/imanage/work/api/v2` }],
        work: { libraries: IMANAGE_LIBRARIES.map((alias) => ({ alias, type: 'worksite' })) },
      },
    });
  });

  const base = '/imanage/work/api/v2/customers/:cid/libraries/:lib';
  /** Authentication, customer/library check and faults for every library call. */
  const guard = async (c: Context): Promise<{ account: string; lib: string } | Response> => {
    const auth = authenticate(c);
    if (auth instanceof Response) return auth;
    const lib = c.req.param('lib')!;
    if (c.req.param('cid') !== String(IMANAGE_CUSTOMER_ID) || !(IMANAGE_LIBRARIES as readonly string[]).includes(lib)) {
      return c.json({ error: { code: 'NotFound', message: 'customer or library not found' } }, 404);
    }
    const fault = await applyFaults(c, state, { provider: 'imanage', account: auth.account });
    if (fault) return fault;
    return { account: auth.account, lib };
  };
  const newId = (lib: string) => `${lib}!${++store().nextNumber}`;

  app.get(`${base}/workspaces`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const q = c.req.query();
    const hits = [...store().containers.values()].filter(
      (w) =>
        w.kind === 'workspace' &&
        w.library === g.lib &&
        !w.template &&
        (!q.custom1 || w.custom1 === q.custom1) &&
        (!q.custom2 || w.custom2 === q.custom2) &&
        (!q.name || w.name === q.name),
    );
    record(c, g.account, 200);
    return c.json({ data: hits.map(containerView) });
  });

  app.post(`${base}/workspaces`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!body || typeof body.name !== 'string') return c.json({ error: { code: 'InvalidRequest', message: 'name is required' } }, 400);
    if (body.custom2 && !body.custom1) return c.json({ error: { code: 'InvalidRequest', message: 'custom2 requires custom1', field: 'custom2' } }, 400);
    const template = typeof body.template_id === 'string' ? store().containers.get(body.template_id) : undefined;
    if (body.template_id && !template?.template) return c.json({ error: { code: 'NotFound', message: 'template not found' } }, 404);
    const ws: ImanageContainer = {
      id: newId(g.lib),
      library: g.lib,
      kind: 'workspace',
      name: body.name,
      parentId: null,
      custom1: body.custom1 as string,
      custom2: body.custom2 as string,
      template: false,
    };
    store().containers.set(ws.id, ws);
    record(c, g.account, 201, true, containerView(ws));
    return c.json({ data: containerView(ws) }, 201);
  });

  const children = async (c: Context) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const id = c.req.param('id')!;
    if (!store().containers.has(id)) return c.json({ error: { code: 'NotFound', message: 'container not found' } }, 404);
    const kids = [...store().containers.values()].filter((k) => k.parentId === id);
    record(c, g.account, 200);
    return c.json({ data: kids.map(containerView) });
  };
  app.get(`${base}/workspaces/:id/children`, children);
  app.get(`${base}/folders/:id/children`, children);

  const createFolder = async (c: Context) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const parent = store().containers.get(c.req.param('id')!);
    if (!parent) return c.json({ error: { code: 'NotFound', message: 'container not found' } }, 404);
    const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!body || typeof body.name !== 'string' || !body.name)
      return c.json({ error: { code: 'InvalidRequest', message: 'name is required', field: 'name' } }, 400);
    const f: ImanageContainer = { id: newId(g.lib), library: g.lib, kind: 'folder', name: body.name, parentId: parent.id, template: false };
    store().containers.set(f.id, f);
    record(c, g.account, 201, true, containerView(f));
    return c.json({ data: containerView(f) }, 201);
  };
  app.post(`${base}/workspaces/:id/folders`, createFolder);
  app.post(`${base}/folders/:id/subfolders`, createFolder);

  /** Reads the multipart `profile` and `file` parts; null with the 400 to send when malformed. */
  const readUpload = async (c: Context): Promise<{ profile: Record<string, unknown>; content: Buffer } | Response> => {
    const form = await c.req.parseBody().catch(() => null);
    const rawProfile = form?.profile;
    const file = form?.file;
    if (typeof rawProfile !== 'string' || !(file instanceof File)) {
      return c.json({ error: { code: 'InvalidRequest', message: 'multipart parts "profile" and "file" are required' } }, 400);
    }
    let parsed: { doc_profile?: Record<string, unknown> };
    try {
      parsed = JSON.parse(rawProfile) as typeof parsed;
    } catch {
      return c.json({ error: { code: 'InvalidRequest', message: 'profile is not JSON' } }, 400);
    }
    const profile = parsed.doc_profile ?? {};
    return { profile, content: Buffer.from(await file.arrayBuffer()) };
  };
  const profileError = (c: Context, profile: Record<string, unknown>, requireName: boolean): Response | null => {
    if (requireName && (typeof profile.name !== 'string' || !profile.name)) {
      return c.json({ error: { code: 'FieldRequired', message: 'name is required', field: 'name' } }, 400);
    }
    if (profile.custom2 && !profile.custom1) return c.json({ error: { code: 'InvalidRequest', message: 'custom2 requires custom1', field: 'custom2' } }, 400);
    if (profile.class !== undefined && profile.class !== 'DOC')
      return c.json({ error: { code: 'InvalidClass', message: `class ${String(profile.class)} does not exist`, field: 'class' } }, 400);
    return null;
  };
  const warnings = (profile: Record<string, unknown>) =>
    Object.keys(profile)
      .filter(
        (k) =>
          !['name', 'extension', 'class', 'author', 'type', 'size', 'comment', 'file_create_date', 'file_edit_date', 'default_security'].includes(k) &&
          !CUSTOM_STRING.test(k),
      )
      .map((field) => ({ field, error: 'FieldIgnored' }));
  const version = (doc: { library: string; number: number }, n: number, content: Buffer): ImanageVersion => ({
    id: `${doc.library}!${doc.number}.${n}`,
    version: n,
    size: content.length,
    sha256: createHash('sha256').update(content).digest('hex'),
    // A benchmark turns keeping the bytes off (size and hash are still kept) so the sandbox stays small.
    content: store().keepContent ? content : Buffer.alloc(0),
  });

  app.post(`${base}/folders/:id/documents`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const folder = store().containers.get(c.req.param('id')!);
    if (!folder) return c.json({ error: { code: 'NotFound', message: 'folder not found' } }, 404);
    const upload = await readUpload(c);
    if (upload instanceof Response) return upload;
    const bad = profileError(c, upload.profile, true);
    if (bad) return bad;
    let workspace = folder;
    while (workspace.parentId) workspace = store().containers.get(workspace.parentId)!;
    const number = ++store().nextNumber;
    const doc: ImanageDocument = { library: g.lib, number, folderId: folder.id, workspaceId: workspace.id, profile: { ...upload.profile }, versions: [] };
    doc.versions.push(version(doc, 1, upload.content));
    store().documents.set(`${g.lib}!${number}`, doc);
    const view = docView(doc);
    record(c, g.account, 201, true, { id: view.id, bytes: upload.content.length, sha256: doc.versions[0]!.sha256 });
    if (store().holdAnswersMs > 0) await new Promise((r) => setTimeout(r, store().holdAnswersMs));
    if (store().dropAnswers > 0) {
      store().dropAnswers -= 1;
      // The document is stored; the client never hears so (a crash or a cut connection after the write).
      (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming?.socket?.destroy();
    }
    return c.json({ data: view, warnings: warnings(upload.profile) }, 201);
  });

  const findDoc = (id: string) => store().documents.get(id.replace(/\.\d+$/, ''));

  app.post(`${base}/documents/:id/versions`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const doc = findDoc(c.req.param('id')!);
    if (!doc) return c.json({ error: { code: 'NotFound', message: 'document not found' } }, 404);
    const upload = await readUpload(c);
    if (upload instanceof Response) return upload;
    const bad = profileError(c, upload.profile, false);
    if (bad) return bad;
    doc.profile = { ...doc.profile, ...upload.profile };
    const v = version(doc, doc.versions.length + 1, upload.content);
    doc.versions.push(v);
    record(c, g.account, 201, true, { id: v.id, bytes: v.size, sha256: v.sha256 });
    if (store().holdAnswersMs > 0) await new Promise((r) => setTimeout(r, store().holdAnswersMs));
    return c.json({ data: docView(doc), warnings: warnings(upload.profile) }, 201);
  });

  app.patch(`${base}/documents/:id`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const doc = findDoc(c.req.param('id')!);
    if (!doc) return c.json({ error: { code: 'NotFound', message: 'document not found' } }, 404);
    const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    if (!body) return c.json({ error: { code: 'InvalidRequest', message: 'JSON body required' } }, 400);
    const bad = profileError(c, { ...doc.profile, ...body }, false);
    if (bad) return bad;
    doc.profile = { ...doc.profile, ...body };
    record(c, g.account, 200, true, { id: docView(doc).id, bytes: 0 });
    return c.json({ data: docView(doc) });
  });

  app.delete(`${base}/documents/:id`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const id = c.req.param('id')!.replace(/\.\d+$/, '');
    const doc = store().documents.get(id);
    if (!doc) return c.json({ error: { code: 'NotFound', message: 'document not found' } }, 404);
    store().documents.delete(id);
    record(c, g.account, 204, true, { id, deleted: true });
    return c.body(null, 204);
  });

  app.get(`${base}/documents/:id`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const doc = findDoc(c.req.param('id')!);
    if (!doc) return c.json({ error: { code: 'NotFound', message: 'document not found' } }, 404);
    record(c, g.account, 200);
    return c.json({ data: docView(doc) });
  });

  app.get(`${base}/documents/:id/versions`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const doc = findDoc(c.req.param('id')!);
    if (!doc) return c.json({ error: { code: 'NotFound', message: 'document not found' } }, 404);
    record(c, g.account, 200);
    return c.json({ data: doc.versions.map((v) => ({ id: v.id, version: v.version, size: v.size })) });
  });

  app.get(`${base}/documents/:id/download`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const doc = findDoc(c.req.param('id')!);
    const n = Number(/\.(\d+)$/.exec(c.req.param('id')!)?.[1] ?? doc?.versions.length);
    const v = doc?.versions[n - 1];
    if (!v) return c.json({ error: { code: 'NotFound', message: 'document not found' } }, 404);
    record(c, g.account, 200);
    return c.body(new Uint8Array(v.content), 200, { 'content-type': 'application/octet-stream' });
  });

  app.post(`${base}/documents/search`, async (c) => {
    const g = await guard(c);
    if (g instanceof Response) return g;
    const body = (await c.req.json().catch(() => null)) as { filters?: Record<string, unknown> } | null;
    const filters = Object.entries(body?.filters ?? {});
    if (!filters.length) return c.json({ error: { code: 'InvalidRequest', message: 'filters are required' } }, 400);
    const hits = [...store().documents.values()].filter((d) => d.library === g.lib && filters.every(([k, v]) => d.profile[k] === v));
    record(c, g.account, 200);
    return c.json({ data: hits.map(docView) });
  });
};

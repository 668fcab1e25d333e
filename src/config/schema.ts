import { z } from 'zod';
import { connectorConfigShape } from '../../connectors/config-fragments.ts';
import { parseListen } from './listen-address.ts';
import { parseTrustedProxies } from './trust-proxy.ts';

/**
 * The one schema for every environment variable Casebridge reads. Derive, don't copy: the README's
 * configuration table lists these names, and `loadConfig` is the only place `process.env` is read.
 */

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const optionalUrl = z.url().optional();
const boolFlag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** Development-only defaults for secrets; production refuses to start without real values. */
export const DEV_DEFAULTS = {
  // 32 zero-ish bytes would be too obvious a footgun; this is still public, so dev only.
  TOKEN_ENCRYPTION_KEYS: 'dev1:ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=',
  SESSION_SECRET: 'dev-only-session-secret-change-me-in-production',
} as const;

/** Secrets that have no default in production. */
export const PRODUCTION_SECRETS = ['TOKEN_ENCRYPTION_KEYS', 'SESSION_SECRET', 'AUDIT_SIGNING_KEY'] as const;

/**
 * Every variable whose value is a secret (or holds one, as a URL with a password does). Each can
 * also be given as `<NAME>_FILE`, the path of a file holding the value (Docker and Kubernetes
 * secrets), so it never has to sit in the process environment; `loadConfig` reads those files.
 */
export const SECRET_VARIABLES = [
  'DATABASE_URL',
  'REDIS_URL',
  'TOKEN_ENCRYPTION_KEYS',
  'SESSION_SECRET',
  'AUDIT_SIGNING_KEY',
  'SUPER_ADMIN_TOKEN',
  'METRICS_TOKEN',
  'GOOGLE_CLIENT_SECRET',
  'S3_SECRET_ACCESS_KEY',
  'SMTP_URL',
  'OTEL_EXPORTER_OTLP_HEADERS',
] as const;

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: port.default(3000),
    PUBLIC_BASE_URL: optionalUrl,
    DATABASE_URL: z
      .string()
      .refine((v) => /^(postgres(ql)?:\/\/|pglite:\/\/)/.test(v), {
        message: 'expected postgres://user@host:port/db, pglite://memory or pglite:///path/to/dir',
      })
      .optional(),
    /** PostgreSQL schema the tables live in (several deployments or test runs on one server); default: the server's search_path. */
    DATABASE_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier: letters, digits and _, not starting with a digit')
      .optional(),
    DATA_DIR: z.string().min(1).default('./data'),
    REDIS_URL: z
      .string()
      .refine((v) => /^rediss?:\/\//.test(v), { message: 'expected redis://host:port[/db]' })
      .default('redis://127.0.0.1:6379'),
    /**
     * Redis Cluster seed nodes, `host:port[,host:port…]`: Casebridge then talks to the cluster
     * (credentials and TLS still come from REDIS_URL) and puts every key under one hash tag.
     */
    REDIS_CLUSTER_NODES: z
      .string()
      .regex(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, 'comma-separated host:port list of cluster nodes')
      .optional(),
    REDIS_PREFIX: z
      .string()
      .regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, _ and - only')
      .default('cb'),
    TOKEN_ENCRYPTION_KEYS: z
      .string()
      .regex(/^[A-Za-z0-9_-]+:[A-Za-z0-9+/=]+(,[A-Za-z0-9_-]+:[A-Za-z0-9+/=]+)*$/, 'comma-separated keyId:base64Key pairs (32-byte AES-256 keys), newest first')
      .optional(),
    SESSION_SECRET: z.string().min(32, 'at least 32 characters').optional(),
    /** Ed25519 private key (PKCS#8 PEM, or base64 of it) signing transfer-log checkpoints and revocation receipts. */
    AUDIT_SIGNING_KEY: z.string().min(1).optional(),
    /** Bearer credential of the deployment's super administrator (revokes a platform for every organization). */
    SUPER_ADMIN_TOKEN: z.string().min(32, 'at least 32 characters').optional(),
    /**
     * Reverse proxies whose `X-Forwarded-For` is believed: comma-separated IPs and CIDR blocks. Unset:
     * none, the socket peer is the client.
     */
    TRUST_PROXY: z
      .string()
      .refine(
        (v) => {
          try {
            parseTrustedProxies(v);
            return true;
          } catch {
            return false;
          }
        },
        { message: 'comma-separated IP addresses or CIDR blocks (e.g. 10.0.0.0/8,::1)' },
      )
      .optional(),
    /** Bearer token a Prometheus scraper sends to read /metrics on the API; unset: /metrics is not on the API. */
    METRICS_TOKEN: z.string().min(32, 'at least 32 characters').optional(),
    /** `host:port` of a separate listener serving only /metrics (no token: bind it where only monitoring reaches). */
    METRICS_LISTEN: z
      .string()
      .refine((v) => parseListen(v) !== null, { message: 'host:port, e.g. 127.0.0.1:9464 or [::1]:9464' })
      .optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** OTLP/HTTP collector base URL (traces go to `<url>/v1/traces`); unset: tracing is off. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, message: 'an http(s) URL, e.g. http://otel-collector:4318' }).optional(),
    /** Headers the OTLP exporter sends (`key=value,key2=value2`, e.g. a collector's auth): never logged. */
    OTEL_EXPORTER_OTLP_HEADERS: z
      .string()
      .regex(/^\s*[^=,\s]+\s*=[^,]*(,\s*[^=,\s]+\s*=[^,]*)*$/, { message: 'key=value pairs separated by commas' })
      .optional(),
    /** The `service.name` resource attribute of exported spans. */
    OTEL_SERVICE_NAME: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, dot, dash, underscore')
      .default('casebridge'),
    BODY_LIMIT_BYTES: positiveInt.default(25 * 1024 * 1024),
    BULK_MAX_ITEMS: positiveInt.default(5000),
    // Per API key: at most this many requests per window (RateLimit / RateLimit-Policy headers, 429).
    API_RATE_LIMIT_REQUESTS: positiveInt.default(3000),
    API_RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),

    // Document bytes. Unset: the local directory $DATA_DIR/blobs; s3://bucket[/prefix]: an
    // S3-compatible object store, so API and worker processes on several hosts share the documents.
    BLOB_STORE_URL: z
      .string()
      .refine((v) => /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(v) || /^file:\/\/\//.test(v), {
        message: 's3://bucket[/prefix] (an S3-compatible object store) or file:///absolute/dir',
      })
      .optional(),
    /** Endpoint of an S3-compatible store other than AWS (MinIO, Ceph, R2…); unset: AWS, from the region. */
    S3_ENDPOINT: optionalUrl,
    /** Region of the bucket; unset: the SDK's own lookup (AWS_REGION, profile), or us-east-1 with S3_ENDPOINT. */
    S3_REGION: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'a region name such as eu-central-1')
      .optional(),
    /** Path-style addressing (`endpoint/bucket/key`), which most self-hosted stores need. */
    S3_FORCE_PATH_STYLE: boolFlag.default(false),
    /** Static credentials; unset: the SDK's default chain (AWS_ACCESS_KEY_ID…, profiles, instance or task roles). */
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),

    // Providers. SANDBOX_URL points every provider at the local sandbox; each can also be set alone.
    // The OAuth client below is shared by sign-in and the connector that uses the same provider.
    SANDBOX_URL: optionalUrl,
    SANDBOX_PORT: port.default(4010),
    GOOGLE_CLIENT_ID: z.string().min(1).optional(),
    GOOGLE_CLIENT_SECRET: z.string().min(1).optional(),
    GOOGLE_OIDC_ISSUER: optionalUrl,
    GOOGLE_OAUTH_AUTH_URL: optionalUrl,
    GOOGLE_OAUTH_TOKEN_URL: optionalUrl,
    GOOGLE_OAUTH_REVOKE_URL: optionalUrl,

    // Sessions and sign-in.
    SESSION_IDLE_MINUTES: positiveInt.default(30),
    SESSION_ABSOLUTE_HOURS: positiveInt.default(12),
    /** Clock skew accepted on SAML NotBefore/NotOnOrAfter (bounded: a larger window widens replay). */
    SAML_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(300).default(60),
    /** Lifetime of the single-use sign-in links the CLI prints (`org create --admin-email`, `user invite-link`); at most 30 days. */
    SIGN_IN_LINK_TTL_HOURS: z.coerce.number().int().min(1).max(720).default(24),

    // Sync.
    SYNC_CONCURRENCY: positiveInt.default(8),
    FULL_RECONCILE_INTERVAL_MINUTES: positiveInt.default(360),
    /** How often a pulled connection (an imported address book) is imported again. */
    IMPORT_INTERVAL_MINUTES: positiveInt.default(30),
    // Sync workers (queues/): how long a job's lock lives without renewal; a killed worker's job is
    // picked up by another worker about this long after it died (BullMQ stalled-job recovery).
    SYNC_JOB_LOCK_SECONDS: positiveInt.default(30),

    // Invitations of imported contacts (src/invitations/).
    /** SMTP server invitations are sent through (`smtp://user:pass@host:587`, `smtps://...:465`); none = only "from my mailbox". */
    SMTP_URL: z
      .url()
      .refine((u) => /^smtps?:\/\//i.test(u), 'an smtp:// or smtps:// URL')
      .optional(),
    /** The From address of invitation e-mails sent by SMTP. */
    SMTP_FROM: z.string().min(3).max(320).default('Casebridge <invitations@casebridge.invalid>'),
    /** Invitations one user may send per 24 hours. */
    INVITATION_DAILY_LIMIT: positiveInt.default(50),
    /** Days an invitation can be accepted. */
    INVITATION_TTL_DAYS: positiveInt.default(7),
    /** Days before the same address can be invited again in the same organization. */
    INVITATION_REINVITE_DAYS: positiveInt.default(7),

    // Transfer log.
    TRANSFER_LOG_RETENTION_DAYS: positiveInt.default(6 * 366),
    /** How often new transfer-log rows are sealed by a signed checkpoint (organizations without new rows are skipped). */
    CHECKPOINT_INTERVAL_MINUTES: positiveInt.default(1),
    /**
     * Where each signed checkpoint is also written (one file per checkpoint), outside the database;
     * default `$DATA_DIR/transfer-log-witness`. Point it at storage the database's administrators cannot rewrite.
     */
    CHECKPOINT_WITNESS_DIR: z.string().min(1).optional(),

    /**
     * How long after a call of unknown outcome (a timeout, a lost connection, a crash) the provider is
     * read to resolve it: a provider can still apply a request it received long ago, so reading too
     * early could miss the write.
     */
    TRANSFER_UNKNOWN_SETTLE_MS: positiveInt.default(90_000),

    // Revocation.
    /** Base delay of retries of failed provider-side revocation steps (doubles each attempt, 6 attempts). */
    REVOCATION_RETRY_BASE_MS: positiveInt.default(5000),
    /**
     * How long a revocation waits for calls already under way before it answers (202). A call still
     * without an answer then is listed on the receipt (`callsOutcomeUnknown`) and resolved afterwards.
     */
    REVOCATION_DRAIN_TIMEOUT_MS: positiveInt.default(10_000),

    /**
     * Let administrators import SAML metadata from loopback, private or reserved addresses, and from
     * plain http on a loopback host outside production (development and tests only).
     */
    SAML_METADATA_ALLOW_PRIVATE_HOSTS: boolFlag.default(false),

    // Webhooks to the platform (src/webhooks/).
    /** Allow webhook endpoints on loopback, private or reserved addresses, and plain http (development and tests only). */
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: boolFlag.default(false),
    /** How long a delivery is retried (exponential backoff) before it is marked failed: 3 days. */
    WEBHOOK_RETRY_WINDOW_SECONDS: positiveInt.default(3 * 24 * 3600),
    /** First retry delay of a delivery; doubles per attempt (with jitter) up to WEBHOOK_RETRY_MAX_DELAY_MS. */
    WEBHOOK_RETRY_BASE_MS: positiveInt.default(10_000),
    WEBHOOK_RETRY_MAX_DELAY_MS: positiveInt.default(3_600_000),
    /** How long one POST may take before it counts as failed. */
    WEBHOOK_TIMEOUT_MS: positiveInt.default(10_000),
    /** How long the previous secret keeps signing (beside the new one) after a rotation. */
    WEBHOOK_SECRET_OVERLAP_HOURS: z.coerce.number().int().min(0).max(720).default(24),
    /** How long settled webhook events and their delivery log are kept (maintenance task `prune-webhooks`). */
    WEBHOOK_LOG_RETENTION_DAYS: positiveInt.default(30),
    /** How often the worker moves new events from the outbox onto the webhooks queue. */
    WEBHOOK_DISPATCH_INTERVAL_MS: positiveInt.default(1000),

    /** Run the BullMQ workers inside the API process (`npm start` does; `start:api` does not). */
    RUN_WORKERS: boolFlag.optional(),
    /**
     * SIGTERM: how long running jobs get to finish (sync runs stop at their next chunk) and HTTP
     * requests to complete; jobs still running then are handed back to the queue and the process exits.
     */
    SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(25),

    // Each connector's own variables (connectors/<platform>/config.ts).
    ...connectorConfigShape,
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.S3_ACCESS_KEY_ID) !== Boolean(env.S3_SECRET_ACCESS_KEY)) {
      const missing = env.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (or set neither)' });
    }
    if (env.NODE_ENV !== 'production') return;
    for (const name of PRODUCTION_SECRETS) {
      if (!env[name]) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'required when NODE_ENV=production (no default for secrets)' });
      }
    }
  });

export type RawConfig = z.infer<typeof configSchema>;

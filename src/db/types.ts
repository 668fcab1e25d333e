import type { ColumnType, Generated, JSONColumnType } from 'kysely';

/**
 * Row types of every table, written by hand next to the migrations (one source: the SQL; this file
 * mirrors it for the type checker). Each migration that adds a table adds its interface here.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T extends object | null> = JSONColumnType<T, string, string>;

export interface OrganizationSettings {
  /** Google Workspace domains whose users may sign in (empty or absent = any verified Google account). */
  allowedGoogleDomains?: string[];
  /** Create users on first sign-in. */
  jitProvisioning?: boolean;
  defaultRole?: 'member' | 'admin';
  /** Link a new identity to an existing user with the same verified e-mail. */
  linkByEmail?: boolean;
  /** Platforms an administrator switched off for this organization. */
  disabledPlatforms?: string[];
}

export interface OrganizationsTable {
  id: Generated<string>;
  name: string;
  settings: Json<OrganizationSettings>;
  data_version: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UsersTable {
  id: Generated<string>;
  organization_id: string;
  email: string;
  name: string | null;
  picture_url: string | null;
  role: 'member' | 'admin';
  status: Generated<'active' | 'disabled'>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: Generated<string>;
  organization_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  /** What the key may do (migration 0023); see src/auth/api-key-scopes.ts. */
  scopes: ColumnType<string[], string[] | undefined, string[]>;
}

interface CaseDataColumns {
  id: Generated<string>;
  organization_id: string;
  external_id: string;
  version: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface CasesTable extends CaseDataColumns {
  number: string;
  title: string;
  client_name: string | null;
  status: string;
  assignees: Json<string[]>;
  /** Migration 0021; scopes a consent by practice area. */
  practice_area: string | null;
}

export interface Participant {
  name: string;
  email?: string;
  role?: string;
}

export type CaseEventKind = 'court_date' | 'deadline' | 'deposition' | 'meeting' | 'reminder';

export interface CaseEventsTable extends CaseDataColumns {
  case_id: string;
  kind: CaseEventKind;
  title: string;
  description: string | null;
  location: string | null;
  starts_at: NullableTimestamp;
  ends_at: NullableTimestamp;
  time_zone: string | null;
  /** YYYY-MM-DD strings (never Date: a calendar date has no time zone). */
  start_date: string | null;
  end_date: string | null;
  participants: Json<Participant[]>;
}

export interface DocumentsTable extends CaseDataColumns {
  case_id: string;
  title: string;
  file_name: string;
  mime_type: string;
  size_bytes: number;
  sha256: string;
  author: string | null;
  document_date: string | null;
}

export interface ContactsTable extends CaseDataColumns {
  case_id: string | null;
  name: string;
  emails: Json<string[]>;
  phones: Json<string[]>;
  organization_name: string | null;
  role: string | null;
}

export type ConnectionStatus = 'pending' | 'active' | 'reauth_required' | 'paused' | 'revoked';

export interface ConnectionsTable {
  id: Generated<string>;
  organization_id: string;
  user_id: string;
  platform: string;
  status: ConnectionStatus;
  external_account: string | null;
  settings: Json<Record<string, unknown>>;
  last_sync_at: NullableTimestamp;
  last_error: Json<{ code: string; message: string; at: string } | null>;
  sync_progress: Json<Record<string, unknown> | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
  revoked_at: NullableTimestamp;
  /** When drift repair last compared the remote side (migration 0005). */
  last_full_sync_at: NullableTimestamp;
}

/** Which cases a consent covers: all, a list, or the cases of some practice areas (compared case-insensitively; 0021). */
export type CaseScope = { kind: 'all' } | { kind: 'cases'; caseIds: string[] } | { kind: 'practice_areas'; practiceAreas: string[] };

export interface ConsentsTable {
  id: Generated<string>;
  connection_id: string;
  organization_id: string;
  version: number;
  granted_by: string;
  categories: Json<string[]>;
  case_scope: Json<CaseScope>;
  policy_version: string;
  method: 'api' | 'consent_screen';
  ip: string | null;
  user_agent: string | null;
  attestations: Json<Record<string, string>>;
  granted_at: Timestamp;
  withdrawn_at: NullableTimestamp;
  withdrawn_by: string | null;
}

export interface SyncStateTable {
  connection_id: string;
  item_key: string;
  remote_id: string;
  hash: string;
  etag: string | null;
  remote_meta: Json<Record<string, unknown> | null>;
  updated_at: Timestamp;
  /** The item's case (migration 0005), so a case change finds every connection holding its items. */
  case_id: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A pulled connection's provider cursor (migration 0014). */
export interface ConnectorCursorsTable {
  connection_id: string;
  cursor: string;
  kind: 'page' | 'delta';
  pages_applied: ColumnType<number, number | undefined, number>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A person imported from a user's address book (see migration 0017). */
export interface ImportedContactsTable {
  id: Generated<string>;
  connection_id: string;
  organization_id: string;
  user_id: string;
  person_key: string;
  display_name: string;
  emails: Json<string[]>;
  company: string | null;
  job_title: string | null;
  phones: Json<string[]>;
  matched_user_id: string | null;
  invited_at: NullableTimestamp;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Which provider item (per connection) an imported contact came from. */
export interface ImportedContactSourcesTable {
  connection_id: string;
  remote_id: string;
  contact_id: string;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** An invitation of an imported contact (0020). Only the token's SHA-256 is stored. */
export interface ContactInvitationsTable {
  id: Generated<string>;
  organization_id: string;
  inviter_user_id: string;
  connection_id: string | null;
  contact_id: string | null;
  email: string;
  channel: 'smtp' | 'mailbox';
  status: 'pending' | 'sent' | 'failed' | 'blocked' | 'accepted';
  reason: string | null;
  token_hash: string;
  transfer_id: string | null;
  expires_at: Timestamp;
  sent_at: NullableTimestamp;
  accepted_at: NullableTimestamp;
  accepted_user_id: string | null;
  created_at: Timestamp;
}

/** Addresses that opted out of invitations, per organization (0020). */
export interface InvitationSuppressionsTable {
  organization_id: string;
  email: string;
  invitation_id: string | null;
  created_at: Timestamp;
}

/** iManage: the matter workspace and folder each case of a connection is filed into (0018). */
export interface ImanageCaseFoldersTable {
  connection_id: string;
  case_id: string;
  client_number: string;
  matter_number: string;
  workspace_id: string;
  folder_id: string;
  workspace_created: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A firm's own iManage OAuth client (migration 0021); the secret sealed like tokens, the organization id as AAD. */
export interface ImanageFirmClientsTable {
  organization_id: string;
  client_id: string;
  secret_key_id: string;
  secret_ciphertext: string;
  updated_by: string | null;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ConnectionTokensTable {
  connection_id: string;
  key_id: string;
  ciphertext: string;
  access_expires_at: NullableTimestamp;
  scope: string | null;
  updated_at: Timestamp;
}

// --- Privacy core (migration 0003): transfer log, chain heads, checkpoints, audit log ---

/**
 * `unknown`: the request may have left and no answer came; `not_sent`: prepared, never sent;
 * `resolved`: the provider was read afterwards (`reason` says whether the write took effect) — 0018.
 */
export type TransferOutcomeColumn = 'intent' | 'sent' | 'failed' | 'blocked' | 'not_modified' | 'received' | 'unknown' | 'not_sent' | 'resolved';

export interface TransferLogTable {
  id: string;
  organization_id: string;
  seq: number;
  direction: 'outbound' | 'inbound';
  user_id: string | null;
  connection_id: string | null;
  platform: string | null;
  recipient_account: string | null;
  recipient_destination: string | null;
  subjects: Json<Record<string, string[]>>;
  /** Set when the subjects are stored by reference in transfer_subject_sets (migration 0008). */
  subjects_digest: string | null;
  categories: Json<string[]>;
  field_names: Json<string[]>;
  purpose: string;
  consent_id: string | null;
  consent_version: number | null;
  payload_sha256: string | null;
  payload_bytes: number | null;
  actor: Json<Record<string, unknown>>;
  operation: string;
  item_key: string | null;
  intent_id: string | null;
  outcome: TransferOutcomeColumn;
  provider_status: number | null;
  remote_id: string | null;
  duration_ms: number | null;
  reason: string | null;
  error_class: string | null;
  error_message: string | null;
  requester_ip: string | null;
  requester_user_agent: string | null;
  created_at: ColumnType<Date, Date | string, never>;
  prev_hash: string;
  hash: string;
}

/** Large subject sets of transfer-log rows, stored once and named by digest (migration 0008). */
export interface TransferSubjectSetsTable {
  organization_id: string;
  digest: string;
  subjects: Json<Record<string, string[]>>;
  created_at: Generated<Date>;
}

export interface TransferLogHeadsTable {
  organization_id: string;
  seq: number;
  hash: string;
  updated_at: Timestamp;
}

/** Per organization: every intent up to `seq` is closed (recovery bookkeeping, migration 0018). */
export interface TransferLogRecoveryMarksTable {
  organization_id: string;
  seq: number;
  updated_at: Timestamp;
}

export interface TransferLogCheckpointsTable {
  id: Generated<string>;
  organization_id: string;
  seq: number;
  head_hash: string;
  kind: 'periodic' | 'retention' | 'manual';
  key_id: string;
  /** Format 1 (before migration 0013): base64 Ed25519 over the checkpoint message. Null when `jws` is set. */
  signature: ColumnType<string | null, string | null | undefined, never>;
  /** Format 2: the compact JWS (EdDSA) whose payload is the checkpoint. Null on format-1 rows. */
  jws: ColumnType<string | null, string | null | undefined, never>;
  sealed_at: ColumnType<Date, Date | string, never>;
}

export interface AuditLogTable {
  id: Generated<string>;
  organization_id: string | null;
  actor: Json<Record<string, unknown>>;
  action: string;
  target: string | null;
  details: Json<Record<string, unknown>>;
  created_at: Timestamp;
}

// --- Sync (migration 0005): permanent per-item failures ---

export interface SyncItemErrorsTable {
  connection_id: string;
  item_key: string;
  /** Desired content hash that failed; the item is retried once its hash differs. */
  hash: string;
  operation: string;
  error_class: string;
  provider_status: number | null;
  message: string;
  attempts: Generated<number>;
  first_failed_at: Timestamp;
  last_failed_at: Timestamp;
}

// --- iCal feeds (migration 0006) ---

export interface IcalFeedsTable {
  id: Generated<string>;
  connection_id: string;
  /** hex SHA-256 of the feed token (the token itself is never stored). */
  token_hash: string;
  token_hint: string;
  name: string;
  created_at: Timestamp;
  rotated_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export interface RevocationsTable {
  id: Generated<string>;
  organization_id: string | null;
  target: Json<Record<string, unknown>>;
  reason: string;
  purge_remote: boolean;
  requested_by: Json<Record<string, unknown>>;
  status: 'in_progress' | 'completed' | 'completed_with_calls_in_flight' | 'completed_with_errors';
  connection_ids: Json<string[]>;
  already_revoked_ids: Json<string[]>;
  steps: ColumnType<unknown[], string | undefined, string>;
  jobs_cancelled: Generated<number>;
  remote_items_removed: Generated<number>;
  calls_drained: Generated<number>;
  calls_still_running: Generated<number>;
  /** Transfer ids of calls that had left and had no answer by the drain deadline (migration 0018). */
  calls_outcome_unknown: ColumnType<Array<{ transferId: string; resolution: string }>, string | undefined, string>;
  effective_at: Timestamp;
  created_at: Timestamp;
  completed_at: NullableTimestamp;
  receipt: ColumnType<Record<string, unknown> | null, string | undefined, string>;
  /** Format-1 receipts (before migration 0013): base64 Ed25519 over the canonical JSON of `receipt`. */
  receipt_signature: ColumnType<string | null, string | undefined, string>;
  /** Format-2 receipts: the compact JWS (EdDSA) whose payload is the receipt. */
  receipt_jws: ColumnType<string | null, string | undefined, string>;
  receipt_key_id: ColumnType<string | null, string | undefined, string>;
}

// --- Identity and sign-in (migration 0004) ---

export interface IdentitiesTable {
  id: Generated<string>;
  organization_id: string;
  user_id: string;
  provider: 'google' | 'saml';
  issuer: string;
  subject: string;
  email: string | null;
  created_at: Timestamp;
  last_login_at: NullableTimestamp;
}

// --- Sign-in links (migration 0012) ---

export interface SignInLinksTable {
  id: Generated<string>;
  organization_id: string;
  user_id: string;
  email: string;
  /** SHA-256 (hex) of the token; the token itself is shown once and never stored. */
  token_hash: string;
  created_by: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  used_by_identity_id: string | null;
}

/** The values a login keeps (everything else the authenticator sent is recorded by name only). */
export interface KeptLoginValues {
  email: string | null;
  name: string | null;
  picture: string | null;
}

export interface LoginRecordsTable {
  id: Generated<string>;
  organization_id: string;
  user_id: string;
  /** Null once an administrator unlinked the identity (the record of the login stays). */
  identity_id: string | null;
  provider: string;
  received_attributes: Json<string[]>;
  kept: Json<KeptLoginValues>;
  created_at: Timestamp;
}

/** Maps our profile fields to the IdP's attribute names (OneLogin's by default). */
export interface SamlAttributeMapping {
  email: string;
  firstName: string;
  lastName: string;
  /** A full-name attribute, used when present. */
  name?: string;
}

export interface SamlConfigsTable {
  organization_id: string;
  entity_id: string;
  sso_url: string;
  slo_url: string | null;
  certificates: Json<string[]>;
  attribute_mapping: Json<SamlAttributeMapping>;
  allow_idp_initiated: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

// --- Sign-in across tenants (migration 0011) ---

/** A Google Workspace domain claimed by one organization; only a verified claim routes sign-ins. */
export interface GoogleDomainsTable {
  /** Lower case. */
  domain: string;
  organization_id: string;
  status: Generated<'pending' | 'verified'>;
  created_at: Timestamp;
  verified_at: NullableTimestamp;
}

export interface SecurityEventsTable {
  id: Generated<string>;
  organization_id: string | null;
  user_id: string | null;
  actor_user_id: string | null;
  kind: string;
  outcome: 'success' | 'failure';
  reason: string | null;
  method: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Json<Record<string, unknown>>;
  created_at: Timestamp;
}

export interface DB {
  organizations: OrganizationsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  cases: CasesTable;
  case_events: CaseEventsTable;
  documents: DocumentsTable;
  contacts: ContactsTable;
  connections: ConnectionsTable;
  consents: ConsentsTable;
  sync_state: SyncStateTable;
  connector_cursors: ConnectorCursorsTable;
  imported_contacts: ImportedContactsTable;
  imported_contact_sources: ImportedContactSourcesTable;
  contact_invitations: ContactInvitationsTable;
  invitation_suppressions: InvitationSuppressionsTable;
  imanage_case_folders: ImanageCaseFoldersTable;
  imanage_firm_clients: ImanageFirmClientsTable;
  connection_tokens: ConnectionTokensTable;
  transfer_log: TransferLogTable;
  transfer_log_heads: TransferLogHeadsTable;
  transfer_log_checkpoints: TransferLogCheckpointsTable;
  transfer_log_recovery_marks: TransferLogRecoveryMarksTable;
  transfer_subject_sets: TransferSubjectSetsTable;
  audit_log: AuditLogTable;
  ical_feeds: IcalFeedsTable;
  sync_item_errors: SyncItemErrorsTable;
  revocations: RevocationsTable;
  identities: IdentitiesTable;
  login_records: LoginRecordsTable;
  saml_configs: SamlConfigsTable;
  google_domains: GoogleDomainsTable;
  security_events: SecurityEventsTable;
  sign_in_links: SignInLinksTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_events: WebhookEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_sync_failures: WebhookSyncFailuresTable;
}

/** A webhook endpoint of an organization (0024-webhooks); secrets sealed like provider tokens. */
export interface WebhookEndpointsTable {
  id: Generated<string>;
  organization_id: string;
  url: string;
  description: string | null;
  /** Event types delivered; null = every type. */
  event_types: Json<string[] | null>;
  secret_key_id: string | null;
  secret_ciphertext: string | null;
  previous_secret_key_id: string | null;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: NullableTimestamp;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

/** The webhook outbox: one row per event, written with the change it reports. */
export interface WebhookEventsTable {
  id: Generated<string>;
  organization_id: string;
  type: string;
  data: Json<Record<string, unknown>>;
  dedup_key: string | null;
  created_at: Timestamp;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

/** The delivery log: one row per (event, endpoint), plus one per replay. */
export interface WebhookDeliveriesTable {
  id: Generated<string>;
  organization_id: string;
  endpoint_id: string;
  event_id: string;
  replay_of: string | null;
  status: Generated<WebhookDeliveryStatus>;
  attempt_count: Generated<number>;
  last_attempt_at: NullableTimestamp;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: NullableTimestamp;
  enqueued_at: NullableTimestamp;
  delivered_at: NullableTimestamp;
  created_at: Timestamp;
}

/** Connections whose sync is failing (one `sync.failed` per episode, one `sync.recovered` after). */
export interface WebhookSyncFailuresTable {
  connection_id: string;
  code: string;
  failed_at: Timestamp;
}

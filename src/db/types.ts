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
}

export type CaseScope = { kind: 'all' } | { kind: 'cases'; caseIds: string[] };

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
}

export interface ConnectionTokensTable {
  connection_id: string;
  key_id: string;
  ciphertext: string;
  access_expires_at: NullableTimestamp;
  scope: string | null;
  updated_at: Timestamp;
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
  connection_tokens: ConnectionTokensTable;
}

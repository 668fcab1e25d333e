import { z } from 'zod';
import type { ConnectorManifest, ConnectorSettings } from '../types.ts';

/** iManage Work: an organization-level push connector filing each case's documents into its matter workspace. */
export const manifest: ConnectorManifest = {
  id: 'imanage',
  displayName: 'iManage Work',
  authKind: 'oauth2',
  categories: ['documents.files', 'documents.metadata'],
  defaultCategories: ['documents.files'],
  // A document belongs to a case, and the case's number decides its workspace.
  triggers: ['cases', 'documents'],
  capabilities: ['push'],
  // Limits are not published: a per-firm budget (IMANAGE_RATE_PER_MINUTE) and few uploads at once.
  rateBudgets: { perAccount: { limit: 600, windowSeconds: 60, concurrency: 4 } },
  providerRevoke: true,
  level: 'organization',
};

/** A library alias as iManage writes them (`ACTIVE_US`). */
const libraryId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a library alias such as ACTIVE_US');
/** A container id, `LIBRARY!number`. */
const containerId = z.string().regex(/^[A-Za-z0-9_-]{1,64}![0-9]{1,18}$/, 'a workspace id such as ACTIVE_US!123');
/** The field the `mark` policy writes: not the client or matter number. */
const markField = z
  .string()
  .regex(/^custom([3-9]|1[0-6])$/, 'a string profile field custom3 … custom16 (custom1 and custom2 carry the client and matter numbers)');
/** What happens in iManage to a document Casebridge stops filing. */
export const DELETE_POLICIES = ['leave', 'delete', 'mark'] as const;
const deletePolicy = z.enum(DELETE_POLICIES);
/** The value the `mark` policy writes into `markField`. */
export const REMOVED_MARK = 'removed from Casebridge';
const customField = z.string().regex(/^custom([1-9]|1[0-6])$/, 'a string profile field custom1 … custom16');

/**
 * Settings an administrator gives when connecting. The host is only shape-checked here; whether it
 * is allowed (https, public address) is decided by `check` against the configuration.
 */
export const createSettingsSchema = z
  .object({
    /** The firm's server, e.g. `https://cloudimanage.com` (no path beyond a prefix, no credentials). */
    host: z.url().max(2048),
    /** The library to file into; absent = chosen after discovery (the only one, or PATCH it). */
    libraryId: libraryId.optional(),
    /**
     * How a case number splits into client and matter numbers (named groups `client` and `matter`).
     * Default: `<client>-<matter>`, e.g. `1001-0042`.
     */
    caseNumberPattern: z.string().min(1).max(200).default('^(?<client>[^-]+)-(?<matter>.+)$'),
    /** A case without a workspace: create one (from `templateWorkspaceId`) or report it unmapped. */
    unmappedPolicy: z.enum(['create', 'report']).default('report'),
    templateWorkspaceId: containerId.optional(),
    /** The folder inside the workspace (created if missing); default IMANAGE_FOLDER_NAME. */
    folderName: z.string().trim().min(1).max(254).optional(),
    /** The profile field that carries Casebridge's document key (finds a retried upload). */
    keyField: customField.default('custom16'),
    /**
     * What a document deleted in Casebridge (or whose case left the consent's scope) becomes in
     * iManage: `leave` it (the DMS is the firm's record; default), `delete` it, or `mark` it (the
     * profile field `markField` set to "removed from Casebridge"). Also what a revocation that asks
     * to purge remote copies does.
     */
    deletePolicy: deletePolicy.default('leave'),
    markField: markField.default('custom15'),
  })
  .strict()
  .refine((s) => s.markField !== s.keyField, { message: 'markField must not be the keyField', path: ['markField'] })
  .refine(
    (s) => {
      try {
        const re = new RegExp(s.caseNumberPattern);
        return re.source.includes('?<client>') && re.source.includes('?<matter>');
      } catch {
        return false;
      }
    },
    { message: 'caseNumberPattern must be a regular expression with named groups client and matter', path: ['caseNumberPattern'] },
  );

export const patchSettingsSchema = z
  .object({
    libraryId: libraryId.optional(),
    unmappedPolicy: z.enum(['create', 'report']).optional(),
    templateWorkspaceId: containerId.optional(),
    folderName: z.string().trim().min(1).max(254).optional(),
    deletePolicy: deletePolicy.optional(),
    markField: markField.optional(),
  })
  .strict();

/** The stored settings: the admin's choices plus what discovery learned. */
export interface ImanageSettings {
  host: string;
  libraryId?: string;
  caseNumberPattern?: string;
  unmappedPolicy?: 'create' | 'report';
  templateWorkspaceId?: string;
  folderName?: string;
  keyField?: string;
  deletePolicy?: (typeof DELETE_POLICIES)[number];
  markField?: string;
  /** From discovery (`GET {host}/api`). */
  customerId?: string | number;
  libraries?: string[];
  /** Cases that could not be mapped to a workspace at the last run, with why. */
  unmapped?: Array<{ caseId: string; caseNumber: string; reason: string }>;
}

export const settings: ConnectorSettings = {
  create: createSettingsSchema as unknown as z.ZodType<Record<string, unknown>>,
  patch: patchSettingsSchema as unknown as z.ZodType<Record<string, unknown>>,
  view(raw) {
    const s = raw as unknown as ImanageSettings;
    return {
      host: s.host ?? null,
      libraryId: s.libraryId ?? null,
      libraries: s.libraries ?? [],
      customerId: s.customerId ?? null,
      unmappedPolicy: s.unmappedPolicy ?? 'report',
      templateWorkspaceId: s.templateWorkspaceId ?? null,
      folderName: s.folderName ?? null,
      keyField: s.keyField ?? 'custom16',
      deletePolicy: s.deletePolicy ?? 'leave',
      markField: s.markField ?? 'custom15',
      unmapped: s.unmapped ?? [],
    };
  },
  destination(raw) {
    const s = raw as unknown as ImanageSettings;
    return s.libraryId ? `${s.host} library ${s.libraryId}` : null;
  },
};

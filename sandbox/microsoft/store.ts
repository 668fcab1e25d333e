import { createHash, randomBytes } from 'node:crypto';
import type { SandboxState } from '../state.ts';

/**
 * The Microsoft emulator's state: identity-platform codes and each mailbox's contact folders and
 * contacts, with a change sequence so delta rounds can answer "what changed since token T". Every
 * contact carries the fields a real one has — notes, birthday, home address included — so a test
 * can see that the connector never asks for them.
 */

/** A contact as Graph v1.0 models it (the subset the emulator keeps). */
export interface GraphContact {
  id: string;
  parentFolderId: string;
  displayName: string;
  givenName: string | null;
  surname: string | null;
  companyName: string | null;
  jobTitle: string | null;
  emailAddresses: Array<{ name: string; address: string }>;
  businessPhones: string[];
  homePhones: string[];
  mobilePhone: string | null;
  personalNotes: string | null;
  birthday: string | null;
  homeAddress: Record<string, string> | null;
  changeKey: string;
  lastModifiedDateTime: string;
}

export interface GraphFolder {
  id: string;
  displayName: string;
  parentFolderId: string;
}

/** One change of a folder's contact: written (`removed: false`) or deleted, at a mailbox version. */
export interface FolderChange {
  id: string;
  version: number;
  removed: boolean;
}

interface Mailbox {
  folders: GraphFolder[];
  contacts: Map<string, GraphContact & { version: number }>;
  /**
   * Per folder, every change in version order (appended as it happens, so never sorted): a delta
   * page finds its place by binary search and reads only its own entries. An entry is current while
   * it is its contact's latest change (`latest`); older ones are skipped.
   */
  changes: Map<string, FolderChange[]>;
  /** The version of each contact's latest change (written or deleted). */
  latest: Map<string, number>;
  version: number;
}

/** Server-side state of a delta token or skip token (opaque to clients, as Graph's are). */
export interface DeltaState {
  account: string;
  folderId: string;
  /** The round reports the changes after `since` up to `upTo` (the mailbox's version when it began). */
  since: number;
  upTo: number;
  /** A skip token: the version of the last change already handed out in this round. */
  after: number;
  select: string[] | null;
  pageSize: number;
  kind: 'skip' | 'delta';
}

export interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  account: string;
  scope: string;
  codeChallenge: string;
  expiresAt: number;
  used: boolean;
}

export interface MicrosoftStore {
  codes: Map<string, AuthorizationCode>;
  mailboxes: Map<string, Mailbox>;
  deltaTokens: Map<string, DeltaState>;
  /** Requests in flight per mailbox (Outlook runs at most 4 at once). */
  inFlight: Map<string, number>;
}

export const microsoftStore = (state: SandboxState): MicrosoftStore =>
  state.store<MicrosoftStore>('microsoft', () => ({ codes: new Map(), mailboxes: new Map(), deltaTokens: new Map(), inFlight: new Map() }));

const graphId = (seed: string) => `AAMk${createHash('sha256').update(seed).digest('base64url').slice(0, 40)}`;

export const DEFAULT_FOLDER_NAME = 'Contacts';
const SEED_FOLDERS = [DEFAULT_FOLDER_NAME, 'Clients', 'Court'];
const SEED_PER_FOLDER = 100;

/** A mailbox, seeded on first use with a few hundred contacts across three folders (one person in two folders). */
export function mailbox(store: MicrosoftStore, account: string): Mailbox {
  let box = store.mailboxes.get(account);
  if (box) return box;
  const root = graphId(`${account}:root`);
  box = { folders: [], contacts: new Map(), changes: new Map(), latest: new Map(), version: 0 };
  for (const name of SEED_FOLDERS) box.folders.push({ id: graphId(`${account}:${name}`), displayName: name, parentFolderId: root });
  store.mailboxes.set(account, box);
  box.folders.forEach((folder, f) => {
    for (let i = 0; i < SEED_PER_FOLDER; i++) {
      const n = f * SEED_PER_FOLDER + i;
      putContact(box!, folder.id, {
        givenName: `Given${n}`,
        surname: `Surname${n}`,
        email: `person${n}@contacts.example`,
      });
    }
  });
  // The same person in two folders: an importer must keep one contact.
  const [first, second] = box.folders;
  putContact(box, first!.id, { givenName: 'Dana', surname: 'Twice', email: 'dana.twice@contacts.example' });
  putContact(box, second!.id, { givenName: 'Dana', surname: 'Twice', email: 'dana.twice@contacts.example' });
  return box;
}

/** Creates or replaces a contact (a new version: the next delta round reports it). */
export function putContact(
  box: Mailbox,
  folderId: string,
  input: { id?: string; givenName: string; surname: string; email?: string; companyName?: string; jobTitle?: string },
): GraphContact {
  box.version += 1;
  const id = input.id ?? graphId(`${folderId}:${randomBytes(8).toString('hex')}`);
  const contact: GraphContact & { version: number } = {
    id,
    parentFolderId: folderId,
    displayName: `${input.givenName} ${input.surname}`,
    givenName: input.givenName,
    surname: input.surname,
    companyName: input.companyName ?? 'Example Partners LLP',
    jobTitle: input.jobTitle ?? 'Paralegal',
    emailAddresses: input.email ? [{ name: `${input.givenName} ${input.surname}`, address: input.email }] : [],
    businessPhones: ['+1 555 0100'],
    homePhones: ['+1 555 0199'],
    mobilePhone: '+1 555 0111',
    // Fields the connector must never request:
    personalNotes: `Private note about ${input.givenName}`,
    birthday: '1980-02-29T00:00:00Z',
    homeAddress: { street: '1 Private Lane', city: 'Hometown', postalCode: '00000' },
    changeKey: randomBytes(6).toString('base64url'),
    lastModifiedDateTime: new Date().toISOString(),
    version: box.version,
  };
  box.contacts.set(id, contact);
  recordChange(box, folderId, { id, version: box.version, removed: false });
  return contact;
}

function recordChange(box: Mailbox, folderId: string, change: FolderChange): void {
  const log = box.changes.get(folderId);
  if (log) log.push(change);
  else box.changes.set(folderId, [change]);
  box.latest.set(change.id, change.version);
}

/**
 * The changes of a folder after version `after` up to `upTo`, in version order, at most `limit`,
 * and whether more follow: each contact once (its latest change), a contact that changed again
 * after `upTo` left for the next round. Deletions only when `withRemoved` (not on a first round).
 * Costs a binary search plus the entries read, whatever the size of the mailbox.
 */
export function folderChanges(
  box: Mailbox,
  folderId: string,
  range: { after: number; upTo: number; limit: number; withRemoved: boolean },
): { changes: Array<{ change: FolderChange; contact: (GraphContact & { version: number }) | null }>; more: boolean } {
  const log = box.changes.get(folderId) ?? [];
  let lo = 0;
  let hi = log.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (log[mid]!.version <= range.after) lo = mid + 1;
    else hi = mid;
  }
  const changes: Array<{ change: FolderChange; contact: (GraphContact & { version: number }) | null }> = [];
  for (let i = lo; i < log.length && log[i]!.version <= range.upTo; i++) {
    const change = log[i]!;
    if (box.latest.get(change.id) !== change.version) continue;
    let contact: (GraphContact & { version: number }) | null = null;
    if (!change.removed) {
      contact = box.contacts.get(change.id) ?? null;
      // Gone without a trace (a test removing it behind the emulator's back), or moved to another folder.
      if (!contact || contact.version !== change.version || contact.parentFolderId !== folderId) continue;
    } else if (!range.withRemoved) continue;
    if (changes.length === range.limit) return { changes, more: true };
    changes.push({ change, contact });
  }
  return { changes, more: false };
}

/** Deletes a contact (the next delta round reports it `@removed`). */
export function deleteContact(box: Mailbox, id: string): boolean {
  const c = box.contacts.get(id);
  if (!c) return false;
  box.version += 1;
  box.contacts.delete(id);
  recordChange(box, c.parentFolderId, { id, version: box.version, removed: true });
  return true;
}

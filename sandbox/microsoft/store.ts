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

interface Mailbox {
  folders: GraphFolder[];
  contacts: Map<string, GraphContact & { version: number }>;
  /** Deleted (or moved-out) contacts: id, folder and the version at which they left. */
  tombstones: Array<{ id: string; folderId: string; version: number }>;
  version: number;
}

/** Server-side state of a delta token or skip token (opaque to clients, as Graph's are). */
export interface DeltaState {
  account: string;
  folderId: string;
  since: number;
  upTo: number;
  offset: number;
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
  box = { folders: [], contacts: new Map(), tombstones: [], version: 0 };
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
  return contact;
}

/** Deletes a contact (the next delta round reports it `@removed`). */
export function deleteContact(box: Mailbox, id: string): boolean {
  const c = box.contacts.get(id);
  if (!c) return false;
  box.version += 1;
  box.contacts.delete(id);
  box.tombstones.push({ id, folderId: c.parentFolderId, version: box.version });
  return true;
}

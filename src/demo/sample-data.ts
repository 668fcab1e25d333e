import type { OrganizationSettings } from '../db/types.ts';
import { minimalPdf } from './pdf.ts';
import { addDays } from '../cases/calendar-date.ts';
import { nextWeekday, zonedTimeToUtc } from './zoned-time.ts';

/**
 * The demo's sample firms, built deterministically: the same anchor date gives byte-identical data,
 * so seeding twice changes nothing. Dates hang off the anchor (the Monday of the current week), so
 * court dates are upcoming whenever the demo runs. Everything here is made up (`.example` domains,
 * 555-01xx phone numbers). Pure; the writing is in seed.ts.
 */

export interface DemoUser {
  email: string;
  name: string;
  role: 'admin' | 'member';
  title: string;
}

/** A record as the case-management app would send it to the ingest API. */
export interface DemoRecord {
  externalId: string;
  data: Record<string, unknown>;
}

export interface DemoDocument {
  externalId: string;
  metadata: Record<string, unknown>;
  bytes: Uint8Array;
}

export interface DemoOrganization {
  id: string;
  name: string;
  domain: string;
  settings: OrganizationSettings;
  users: DemoUser[];
  cases: DemoRecord[];
  events: DemoRecord[];
  documents: DemoDocument[];
  contacts: DemoRecord[];
}

/** Small deterministic PRNG (mulberry32): the sample must not change between runs. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!,
  };
}

interface CaseSeed {
  client: string;
  defendant: string;
  matter: string;
  status: string;
  court: { name: string; room: string; timeZone: string };
}

const COURTS = {
  cook: { name: 'Circuit Court of Cook County, Daley Center', room: 'Courtroom 2005', timeZone: 'America/Chicago' },
  ndil: { name: 'U.S. District Court N.D. Illinois, Dirksen Building', room: 'Courtroom 1925', timeZone: 'America/Chicago' },
  nysup: { name: 'New York Supreme Court, 60 Centre Street', room: 'Part 22', timeZone: 'America/New_York' },
  denver: { name: 'Denver District Court, Lindsey-Flanigan Courthouse', room: 'Courtroom 5C', timeZone: 'America/Denver' },
  la: { name: 'Los Angeles Superior Court, Stanley Mosk Courthouse', room: 'Department 31', timeZone: 'America/Los_Angeles' },
  phoenix: { name: 'Maricopa County Superior Court', room: 'Courtroom 712', timeZone: 'America/Phoenix' },
  suffolk: { name: 'Suffolk Superior Court, Boston', room: 'Courtroom 907', timeZone: 'America/New_York' },
} as const;

const HARTMANN_CASES: CaseSeed[] = [
  { client: 'Rachel Miller', defendant: 'Eastside Logistics Inc.', matter: 'tractor-trailer collision on I-90', status: 'discovery', court: COURTS.cook },
  { client: 'Thanh Nguyen', defendant: 'Harborview Medical Center', matter: 'delayed stroke diagnosis', status: 'discovery', court: COURTS.cook },
  { client: 'Chidi Okonkwo', defendant: 'Lakeshore Apartments LLC', matter: 'stairwell fall, broken railing', status: 'open', court: COURTS.cook },
  { client: 'Marco Rossi', defendant: 'City of Riverton', matter: 'bicycle crash on unrepaired pothole', status: 'pre-litigation', court: COURTS.ndil },
  { client: 'Priya Patel', defendant: 'Greenline Transit Authority', matter: 'bus braking injury', status: 'open', court: COURTS.nysup },
  { client: 'Darnell Johnson', defendant: 'Apex Ladders Inc.', matter: 'defective ladder hinge', status: 'discovery', court: COURTS.ndil },
  { client: 'Greta Schmidt', defendant: 'Blue Ridge Mutual Insurance', matter: 'uninsured-motorist claim', status: 'negotiation', court: COURTS.cook },
  { client: 'Luis Garcia', defendant: 'Summit Grocers Inc.', matter: 'slip and fall in produce aisle', status: 'open', court: COURTS.denver },
  { client: 'Anna Kowalski', defendant: 'Northgate Construction Co.', matter: 'scaffold collapse', status: 'trial prep', court: COURTS.cook },
  { client: 'Ella Thompson', defendant: 'Victor Delgado', matter: 'rear-end collision at red light', status: 'settled', court: COURTS.cook },
  { client: 'Hans Fischer', defendant: 'Pine Valley Care Home', matter: 'pressure-ulcer neglect', status: 'discovery', court: COURTS.nysup },
  { client: 'Kenji Yamamoto', defendant: 'Coastal Rideshare Inc.', matter: 'rideshare passenger injury', status: 'open', court: COURTS.la },
  { client: 'Tyler Brooks', defendant: 'Maplewood School District', matter: 'playground equipment injury', status: 'pre-litigation', court: COURTS.cook },
  {
    client: 'Samira Haddad',
    defendant: 'Ironclad Security Services',
    matter: 'negligent security, parking garage assault',
    status: 'discovery',
    court: COURTS.phoenix,
  },
  { client: 'Rosa Lopez', defendant: 'Crestline Trucking LLC', matter: 'wrongful death, highway collision', status: 'trial prep', court: COURTS.denver },
  { client: 'Owen Wright', defendant: 'Sunnyside Amusements Inc.', matter: 'amusement ride restraint failure', status: 'open', court: COURTS.la },
];

const BRENNAN_CASES: CaseSeed[] = [
  { client: 'Siobhan Murphy', defendant: 'Atlantic Ferries Corp.', matter: 'gangway fall', status: 'discovery', court: COURTS.suffolk },
  { client: 'Patrick Doyle', defendant: 'Fiona Kerrigan', matter: 'intersection collision', status: 'open', court: COURTS.suffolk },
  { client: 'Aoife Byrne', defendant: 'Shamrock Pharmacy LLC', matter: 'prescription misfill', status: 'negotiation', court: COURTS.suffolk },
  { client: 'Declan Walsh', defendant: 'Harbor Point Marina', matter: 'dock collapse', status: 'pre-litigation', court: COURTS.suffolk },
];

const FIRST = [
  'James',
  'Maria',
  'Robert',
  'Linda',
  'Michael',
  'Sofia',
  'William',
  'Aisha',
  'David',
  'Mei',
  'Carlos',
  'Fatima',
  'Thomas',
  'Olga',
  'Daniel',
  'Yuki',
];
const LAST = [
  'Anderson',
  'Baker',
  'Chen',
  'Dubois',
  'Evans',
  'Foster',
  'Gomez',
  'Hughes',
  'Ivanova',
  'Jensen',
  'Khan',
  'Larsen',
  'Moreau',
  'Novak',
  'Ortiz',
  'Price',
];
const DEFENSE_FIRMS = ['Whitmore & Pratt LLP', 'Castellan Defense Group', 'Holloway Reed LLP', 'Stratton Mills & Co.'];
const INSURERS = ['Great Lakes Casualty', 'Meridian Mutual', 'Keystone Indemnity', 'Pacific Shield Insurance'];
const HOSPITALS = ['Northwestern Memorial Hospital', 'Mercy Orthopedic Clinic', 'St. Luke’s Rehabilitation', 'Lakeview Neurology Associates'];

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '.')
    .replace(/^\.|\.$/g, '');
/** `Whitmore & Pratt LLP` → `whitmore-pratt-llp.example`. */
const firmDomain = (firm: string) => `${slug(firm).replace(/\./g, '-')}.example`;
const surname = (name: string) => name.split(' ').slice(-1)[0]!;

/** The wall-clock time in a zone as the ISO instant the ingest API takes. */
function at(date: string, time: string, timeZone: string): string {
  return zonedTimeToUtc({ date, time, timeZone }).toISOString();
}

function buildFirm(params: {
  id: string;
  name: string;
  domain: string;
  prefix: string;
  users: DemoUser[];
  cases: CaseSeed[];
  /** Lawyers (e-mails) assigned per case, by case index. */
  assign: (index: number) => string[];
  officeZone: string;
  expertZone: string;
  anchor: string;
  seed: number;
  documentsPerCase: number;
  contactsPerCase: number;
}): DemoOrganization {
  const rnd = prng(params.seed);
  const org: DemoOrganization = {
    id: params.id,
    name: params.name,
    domain: params.domain,
    settings: { allowedGoogleDomains: [params.domain], linkByEmail: true, defaultRole: 'member' },
    users: params.users,
    cases: [],
    events: [],
    documents: [],
    contacts: [],
  };
  params.cases.forEach((c, i) => {
    const n = String(i + 1).padStart(3, '0');
    const caseId = `${params.prefix}-case-${n}`;
    const number = `PI-${params.anchor.slice(0, 4)}-${String(101 + i).padStart(4, '0')}`;
    const title = `${surname(c.client)} v. ${c.defendant}`;
    org.cases.push({
      externalId: caseId,
      data: { number, title, clientName: c.client, status: c.status, assignees: params.assign(i) },
    });
    const lead = params.users.find((u) => u.email === params.assign(i)[0])!;
    const opposing = `${rnd.pick(FIRST)} ${rnd.pick(LAST)}`;
    const defenseFirm = rnd.pick(DEFENSE_FIRMS);
    const physician = `Dr. ${rnd.pick(FIRST)} ${rnd.pick(LAST)}`;
    const hospital = rnd.pick(HOSPITALS);
    const injuryDay = addDays(params.anchor, -rnd.int(200, 600));
    const event = (suffix: string, data: Record<string, unknown>) =>
      org.events.push({ externalId: `${caseId}-${suffix}`, data: { caseExternalId: caseId, ...data } });

    // Statute of limitations: two years from the injury in most of these states; all-day, inclusive.
    event('sol', {
      kind: 'deadline',
      title: `Statute of limitations expires — ${title}`,
      description: `Two-year limitation period from the ${c.matter} on ${injuryDay}. File suit before this date.`,
      allDay: true,
      startDate: addDays(injuryDay, 730),
      timeZone: c.court.timeZone,
    });
    const hearingDay = nextWeekday(addDays(params.anchor, rnd.int(3, 90)));
    const hearingKind = rnd.pick(['Status conference', 'Motion hearing', 'Case management conference', 'Pretrial conference']);
    event('court-1', {
      kind: 'court_date',
      title: `${hearingKind}: ${title}`,
      description: `${hearingKind} before the assigned judge. Bring the updated damages summary.`,
      location: `${c.court.name}, ${c.court.room}`,
      start: at(hearingDay, '09:30', c.court.timeZone),
      end: at(hearingDay, '10:30', c.court.timeZone),
      timeZone: c.court.timeZone,
      participants: [
        { name: lead.name, email: lead.email, role: 'attorney' },
        { name: opposing, email: `${slug(opposing)}@${firmDomain(defenseFirm)}`, role: 'opposing counsel' },
      ],
    });
    const depoDay = nextWeekday(addDays(params.anchor, rnd.int(7, 120)));
    const depoZone = rnd.pick(['America/Chicago', 'America/New_York', 'America/Denver', 'America/Los_Angeles', c.court.timeZone]);
    event('depo-1', {
      kind: 'deposition',
      title: `Deposition of ${physician} (treating physician)`,
      description: `Videotaped deposition regarding treatment at ${hospital}. Court reporter booked.`,
      location: `${hospital}, conference room B`,
      start: at(depoDay, '13:00', depoZone),
      end: at(depoDay, '16:00', depoZone),
      timeZone: depoZone,
      participants: [
        { name: lead.name, email: lead.email, role: 'attorney' },
        { name: physician, role: 'deponent' },
        { name: 'Midwest Court Reporting', role: 'court reporter' },
      ],
    });
    const meetDay = nextWeekday(addDays(params.anchor, rnd.int(1, 30)));
    const slot = rnd.pick([
      ['10:00', '11:00'],
      ['11:00', '12:00'],
      ['14:00', '15:00'],
      ['15:30', '16:30'],
    ] as const);
    event('meeting-1', {
      kind: 'meeting',
      title: `Client meeting: ${c.client} — treatment and damages update`,
      location: i % 3 === 0 ? 'Video call' : `${params.name}, conference room ${rnd.pick(['A', 'B', 'C'])}`,
      start: at(meetDay, slot[0], params.officeZone),
      end: at(meetDay, slot[1], params.officeZone),
      timeZone: params.officeZone,
      participants: [
        { name: c.client, role: 'client' },
        { name: lead.name, email: lead.email, role: 'attorney' },
      ],
    });
    if (i % 2 === 0) {
      const expertDay = nextWeekday(addDays(params.anchor, rnd.int(5, 60)));
      event('meeting-2', {
        kind: 'meeting',
        title: 'Call with accident-reconstruction expert',
        description: 'Review the reconstruction report draft and the vehicle data recorder download.',
        location: 'Video call',
        start: at(expertDay, '16:00', params.expertZone),
        end: at(expertDay, '17:00', params.expertZone),
        timeZone: params.expertZone,
      });
    }
    const reminderDay = nextWeekday(addDays(params.anchor, rnd.int(1, 21)));
    event('reminder-1', {
      kind: 'reminder',
      title: `Request updated medical records from ${hospital}`,
      start: at(reminderDay, '09:00', params.officeZone),
      end: at(reminderDay, '09:15', params.officeZone),
      timeZone: params.officeZone,
    });
    if (i % 4 === 1) {
      const discoveryDay = addDays(params.anchor, rnd.int(14, 75));
      event('deadline-1', {
        kind: 'deadline',
        title: 'Written discovery responses due',
        allDay: true,
        startDate: discoveryDay,
        timeZone: c.court.timeZone,
      });
    }

    const docKinds = [
      { key: 'complaint', title: `Complaint — ${title}`, pdf: true },
      { key: 'records', title: `Medical records summary — ${c.client}`, pdf: false },
      { key: 'police', title: 'Incident report', pdf: true },
      { key: 'demand', title: `Demand letter to ${rnd.pick(INSURERS)}`, pdf: false },
    ];
    for (const d of docKinds.slice(0, params.documentsPerCase)) {
      const fileName = `${surname(c.client).toLowerCase()}-${d.key}.${d.pdf ? 'pdf' : 'txt'}`;
      const lines = [
        `Case ${number}: ${title}`,
        `Client: ${c.client}`,
        `Matter: ${c.matter}`,
        `Date of injury: ${injuryDay}`,
        `Prepared by ${lead.name}, ${params.name}`,
      ];
      org.documents.push({
        externalId: `${caseId}-doc-${d.key}`,
        metadata: {
          caseExternalId: caseId,
          title: d.title,
          fileName,
          mimeType: d.pdf ? 'application/pdf' : 'text/plain',
          author: lead.name,
          documentDate: addDays(injuryDay, rnd.int(10, 150)),
        },
        bytes: d.pdf ? minimalPdf({ title: d.title, lines }) : new Uint8Array(Buffer.from(`${d.title}\n\n${lines.join('\n')}\n`, 'utf8')),
      });
    }

    const insurer = rnd.pick(INSURERS);
    const adjuster = `${rnd.pick(FIRST)} ${rnd.pick(LAST)}`;
    const witness = `${rnd.pick(FIRST)} ${rnd.pick(LAST)}`;
    const phone = () => `+1 312 555 01${String(rnd.int(0, 99)).padStart(2, '0')}`;
    const contacts = [
      { key: 'client', name: c.client, organizationName: null, role: 'client', email: `${slug(c.client)}@mail.example` },
      { key: 'opposing', name: opposing, organizationName: defenseFirm, role: 'opposing counsel', email: `${slug(opposing)}@${firmDomain(defenseFirm)}` },
      { key: 'adjuster', name: adjuster, organizationName: insurer, role: 'insurance adjuster', email: `${slug(adjuster)}@claims.example` },
      { key: 'physician', name: physician, organizationName: hospital, role: 'treating physician', email: null },
      { key: 'witness', name: witness, organizationName: null, role: 'witness', email: null },
    ];
    for (const k of contacts.slice(0, params.contactsPerCase)) {
      org.contacts.push({
        externalId: `${caseId}-contact-${k.key}`,
        data: {
          caseExternalId: caseId,
          name: k.name,
          emails: k.email ? [k.email] : [],
          phones: [phone()],
          organizationName: k.organizationName,
          role: k.role,
        },
      });
    }
  });
  return org;
}

export const HARTMANN_ORG_ID = 'd3a10000-0000-4000-8000-000000000001';
export const BRENNAN_ORG_ID = 'd3a10000-0000-4000-8000-000000000002';

const HARTMANN_USERS: DemoUser[] = [
  { email: 'alice@hartmann-law.example', name: 'Alice Hartmann', role: 'admin', title: 'Managing partner' },
  { email: 'bob@hartmann-law.example', name: 'Bob Keller', role: 'member', title: 'Partner' },
  { email: 'carmen.diaz@hartmann-law.example', name: 'Carmen Díaz', role: 'member', title: 'Senior associate' },
  { email: 'david.okafor@hartmann-law.example', name: 'David Okafor', role: 'member', title: 'Associate' },
  { email: 'emma.schulz@hartmann-law.example', name: 'Emma Schulz', role: 'member', title: 'Associate' },
  { email: 'farid.haddad@hartmann-law.example', name: 'Farid Haddad', role: 'member', title: 'Associate' },
  { email: 'grace.lin@hartmann-law.example', name: 'Grace Lin', role: 'member', title: 'Paralegal' },
  { email: 'henry.walsh@hartmann-law.example', name: 'Henry Walsh', role: 'member', title: 'Paralegal' },
  { email: 'ines.tran@hartmann-law.example', name: 'Ines Tran', role: 'admin', title: 'IT and operations' },
];

const BRENNAN_USERS: DemoUser[] = [
  { email: 'maeve@brennan-injury.example', name: 'Maeve Brennan', role: 'admin', title: 'Principal' },
  { email: 'liam@brennan-injury.example', name: "Liam O'Connor", role: 'member', title: 'Associate' },
  { email: 'nora@brennan-injury.example', name: 'Nora Fitzgerald', role: 'member', title: 'Paralegal' },
];

/**
 * Both sample firms for an anchor date (YYYY-MM-DD, a Monday): 12 users, 20 cases, their court
 * dates, limitation deadlines, depositions, meetings and reminders in several zones, 40 documents
 * and 100 contacts.
 */
export function buildDemoDataset(params: { anchor: string }): DemoOrganization[] {
  const h = HARTMANN_USERS.map((u) => u.email);
  const hartmann = buildFirm({
    id: HARTMANN_ORG_ID,
    name: 'Hartmann & Keller Personal Injury',
    domain: 'hartmann-law.example',
    prefix: 'hk',
    users: HARTMANN_USERS,
    cases: HARTMANN_CASES,
    // Alice leads cases 1-8, Bob 9-16 and seconds 5-8; associates and paralegals rotate through.
    assign: (i) => {
      const lead = i < 8 ? h[0]! : h[1]!;
      const second = i >= 4 && i < 8 ? h[1]! : h[2 + (i % 5)]!;
      const paralegal = h[6 + (i % 2)]!;
      return [lead, second, paralegal];
    },
    officeZone: 'America/Chicago',
    expertZone: 'Europe/Berlin',
    anchor: params.anchor,
    seed: 20_240_117,
    documentsPerCase: 2,
    contactsPerCase: 5,
  });
  const b = BRENNAN_USERS.map((u) => u.email);
  const brennan = buildFirm({
    id: BRENNAN_ORG_ID,
    name: 'Brennan Injury Law',
    domain: 'brennan-injury.example',
    prefix: 'bil',
    users: BRENNAN_USERS,
    cases: BRENNAN_CASES,
    assign: (i) => [b[i % 2]!, b[2]!],
    officeZone: 'America/New_York',
    expertZone: 'Europe/Dublin',
    anchor: params.anchor,
    seed: 19_870_301,
    documentsPerCase: 2,
    contactsPerCase: 5,
  });
  return [hartmann, brennan];
}

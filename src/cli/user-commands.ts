import type { CliCommand } from './command.ts';
import { jsonOption, linkHoursOption, orgOption } from './options.ts';
import { describeLink, issueLinkFromCli, linkHours } from './sign-in-link-output.ts';
import { requireEmail, requireOption, requireOrganization, withStores } from './stores.ts';
import { UsageError } from './usage-error.ts';

/**
 * `casebridge user create|invite-link`: users of an organization. A new user signs in through a
 * single-use link (`--invite`, or `invite-link` later), or by e-mail when the organization's sign-in
 * policy links or provisions by e-mail (`org sign-in-policy set`).
 */
export const userCommands: CliCommand[] = [
  {
    words: ['user', 'create'],
    summary: 'Create a user in an organization (--invite also prints a sign-in link for them)',
    usage: '--org ID --email E --role admin|member [--name N] [--invite [--link-hours H]] [--json]',
    options: {
      org: orgOption,
      email: { type: 'string', valueName: 'E', description: "the user's e-mail address (their sign-in is linked by it)" },
      role: { type: 'string', valueName: 'admin|member', description: 'admin (manages users, keys, sign-in) or member' },
      name: { type: 'string', valueName: 'N', description: 'display name' },
      invite: { type: 'boolean', description: 'also print a single-use sign-in link for the user' },
      'link-hours': linkHoursOption,
      json: jsonOption,
    },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const email = await requireEmail(args, 'email');
        const role = requireOption(args, 'role', 'admin|member');
        if (role !== 'admin' && role !== 'member') throw new UsageError('--role must be admin or member');
        const name = typeof args.name === 'string' && args.name.trim() ? args.name.trim() : null;
        const hours = linkHours(args, config);
        const existing = await db
          .selectFrom('users')
          .select('id')
          .where('organization_id', '=', org.id)
          .where((eb) => eb(eb.fn('lower', ['email']), '=', email))
          .executeTakeFirst();
        if (existing) throw new UsageError(`a user with e-mail ${email} already exists in this organization (${existing.id})`);
        const { user, link } = await db.transaction().execute(async (tx) => {
          const user = await tx
            .insertInto('users')
            .values({ organization_id: org.id, email, name, role, picture_url: null })
            .returning(['id', 'email', 'name', 'role'])
            .executeTakeFirstOrThrow();
          const link = args.invite ? await issueLinkFromCli(tx, { config, userId: user.id, hours, command: 'user create' }) : null;
          return { user, link };
        });
        if (args.json) print(JSON.stringify({ user: { ...user, organizationId: org.id }, ...(link ? { signInLink: link } : {}) }));
        else {
          print(`user ${user.id}  ${user.email}  ${user.role}  (${org.name})`);
          if (link) for (const line of describeLink(link)) print(line);
        }
      }),
  },
  {
    words: ['user', 'invite-link'],
    summary: 'Print a new single-use sign-in link for an existing user (their earlier unused links stop working)',
    usage: '--org ID --email E [--link-hours H] [--json]',
    options: {
      org: orgOption,
      email: { type: 'string', valueName: 'E', description: 'the e-mail of an existing user' },
      'link-hours': linkHoursOption,
      json: jsonOption,
    },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const email = await requireEmail(args, 'email');
        const hours = linkHours(args, config);
        const user = await db
          .selectFrom('users')
          .select(['id', 'status'])
          .where('organization_id', '=', org.id)
          .where((eb) => eb(eb.fn('lower', ['email']), '=', email))
          .executeTakeFirst();
        if (!user) throw new UsageError(`no user with e-mail ${email} in organization ${org.id} (create one: casebridge user create)`);
        if (user.status !== 'active') throw new UsageError(`the user ${email} is disabled; enable them first (PATCH /v1/admin/users/${user.id})`);
        const link = await db.transaction().execute((tx) => issueLinkFromCli(tx, { config, userId: user.id, hours, command: 'user invite-link' }));
        if (args.json) print(JSON.stringify({ userId: user.id, organizationId: org.id, signInLink: link }));
        else for (const line of describeLink(link)) print(line);
      }),
  },
];

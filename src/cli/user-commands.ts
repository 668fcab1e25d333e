import { z } from 'zod';
import type { CliCommand } from './command.ts';
import { requireOption, requireOrganization, UsageError, withStores } from './stores.ts';

const emailSchema = z.email();

/** `casebridge user create`: a user of an organization (sign-in links to it by e-mail). */
export const userCommands: CliCommand[] = [
  {
    words: ['user', 'create'],
    summary: 'Create a user in an organization',
    usage: '--org ID --email E --role admin|member [--name N] [--json]',
    options: { org: { type: 'string' }, email: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const email = requireOption(args, 'email', 'E').toLowerCase();
        if (!emailSchema.safeParse(email).success) throw new UsageError(`--email: "${email}" is not an e-mail address`);
        const role = requireOption(args, 'role', 'admin|member');
        if (role !== 'admin' && role !== 'member') throw new UsageError('--role must be admin or member');
        const name = typeof args.name === 'string' && args.name.trim() ? args.name.trim() : null;
        const existing = await db
          .selectFrom('users')
          .select('id')
          .where('organization_id', '=', org.id)
          .where((eb) => eb(eb.fn('lower', ['email']), '=', email))
          .executeTakeFirst();
        if (existing) throw new UsageError(`a user with e-mail ${email} already exists in this organization (${existing.id})`);
        const user = await db
          .insertInto('users')
          .values({ organization_id: org.id, email, name, role, picture_url: null })
          .returning(['id', 'email', 'name', 'role'])
          .executeTakeFirstOrThrow();
        if (args.json) print(JSON.stringify({ user: { ...user, organizationId: org.id } }));
        else print(`user ${user.id}  ${user.email}  ${user.role}  (${org.name})`);
      }),
  },
];

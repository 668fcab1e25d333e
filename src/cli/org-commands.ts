import type { CliCommand } from './command.ts';
import { jsonOption, linkHoursOption } from './options.ts';
import { describeLink, issueLinkFromCli, linkHours, type PrintedLink } from './sign-in-link-output.ts';
import { requireEmail, requireOption, withStores } from './stores.ts';

/**
 * `casebridge org create|list`: subscribing firms. `create` also makes the firm's first API key and,
 * with `--admin-email`, its first administrator and a single-use sign-in link for them (without one,
 * nobody could sign in: every way to link a sign-in needs an admin session).
 */
export const orgCommands: CliCommand[] = [
  {
    words: ['org', 'create'],
    summary: 'Create an organization, its first API key and (--admin-email) its first admin with a sign-in link',
    usage: '--name NAME [--admin-email E [--admin-name N] [--link-hours H]] [--json]',
    options: {
      name: { type: 'string', valueName: 'NAME', description: "the firm's name" },
      'admin-email': { type: 'string', valueName: 'E', description: 'also create its first administrator with this e-mail, and a sign-in link for them' },
      'admin-name': { type: 'string', valueName: 'N', description: "the administrator's display name" },
      'link-hours': linkHoursOption,
      json: jsonOption,
    },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const name = requireOption(args, 'name', 'NAME');
        const adminEmail = args['admin-email'] === undefined ? null : await requireEmail(args, 'admin-email');
        const adminName = typeof args['admin-name'] === 'string' && args['admin-name'].trim() ? args['admin-name'].trim() : null;
        const hours = linkHours(args, config);
        const { createApiKey } = await import('../auth/api-keys.ts');
        // One transaction: a firm never exists without the admin and link the command promised.
        const { organization, key, admin, link } = await db.transaction().execute(async (tx) => {
          const organization = await tx
            .insertInto('organizations')
            .values({ name, settings: JSON.stringify({}) })
            .returning(['id', 'name'])
            .executeTakeFirstOrThrow();
          const key = await createApiKey(tx, { organizationId: organization.id, name: 'default' });
          let admin: { id: string; email: string; role: 'admin' | 'member' } | null = null;
          let link: PrintedLink | null = null;
          if (adminEmail) {
            admin = await tx
              .insertInto('users')
              .values({ organization_id: organization.id, email: adminEmail, name: adminName, role: 'admin', picture_url: null })
              .returning(['id', 'email', 'role'])
              .executeTakeFirstOrThrow();
            link = await issueLinkFromCli(tx, { config, userId: admin.id, hours, command: 'org create' });
          }
          return { organization, key, admin, link };
        });
        if (args.json) {
          print(JSON.stringify({ organization, apiKey: key.apiKey, apiKeyId: key.id, ...(admin ? { admin, signInLink: link } : {}) }));
          return;
        }
        print(`organization ${organization.id}  ${organization.name}`);
        print(`API key ${key.id} (shown once, store it now): ${key.apiKey}`);
        if (admin && link) {
          print(`admin ${admin.email} (user ${admin.id})`);
          for (const line of describeLink(link)) print(line);
        }
      }),
  },
  {
    words: ['org', 'list'],
    summary: 'List organizations',
    usage: '[--json]',
    options: { json: jsonOption },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const rows = await db.selectFrom('organizations').select(['id', 'name', 'created_at']).orderBy('created_at').execute();
        if (args.json) print(JSON.stringify({ organizations: rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at.toISOString() })) }));
        else for (const r of rows) print(`${r.id}  ${r.name}`);
      }),
  },
];

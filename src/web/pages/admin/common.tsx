/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import { clientAddress } from '../../../api/client-address.ts';
import type { WebEnv } from '../../env.ts';
import { Layout } from '../../layout.tsx';

/** Who acts and from where, as the domain functions record it. */
export function actorOf(c: Context<WebEnv>) {
  const viewer = c.get('viewer');
  return {
    organizationId: viewer.principal.organizationId,
    actorUserId: viewer.principal.userId,
    ip: clientAddress(c),
    userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
  };
}

/** The frame of an admin page: the layout with the console's breadcrumb. */
export function AdminPage(props: { c: Context<WebEnv>; title: string; current?: string; children?: Child }) {
  const { c } = props;
  return (
    <Layout title={props.title} nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={c.get('viewer')} current={props.current ?? 'admin'}>
      <p>
        <a href="/admin">Admin console</a> › {props.title}
      </p>
      {props.children}
    </Layout>
  );
}

/** A date and time as the admin pages show them (UTC, to the second). */
export function utc(at: Date | string): string {
  return new Date(at).toISOString().replace('T', ' ').slice(0, 19);
}

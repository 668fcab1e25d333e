/** @jsxImportSource hono/jsx */
import type { Child } from 'hono/jsx';
import type { Viewer } from './env.ts';
import { connectorNavEntries } from './nav.ts';

/** What every page passes to the layout. */
export interface LayoutProps {
  title: string;
  /** The request's CSP nonce, for the page's scripts. */
  nonce: string;
  csrfToken?: string;
  viewer?: Viewer | null;
  /** Which navigation entry is current (`aria-current="page"`): a core one or a connector page's id. */
  current?: string;
  /** Same-origin scripts of this page (`/assets/…`), each run with the nonce. */
  scripts?: string[];
  children?: Child;
}

/**
 * The frame of every page: a skip link, the header with the navigation and the signed-in user, and
 * one `<main>` landmark. The CSS and scripts come from this package (`/assets/…`), never a CDN.
 */
export function Layout(props: LayoutProps) {
  const { viewer } = props;
  const nav: Array<{ id: LayoutProps['current']; href: string; label: string }> = [
    { id: 'apps', href: '/apps', label: 'Connected apps' },
    { id: 'shared', href: '/shared', label: 'Shared data' },
  ];
  // Connector pages (not offered to a restricted, embedded session).
  if (!viewer?.restricted) nav.push(...connectorNavEntries());
  if (viewer && viewer.principal.role === 'admin' && !viewer.restricted) {
    nav.push({ id: 'admin', href: '/admin', label: 'Admin' }, { id: 'webhooks', href: '/admin/webhooks', label: 'Webhooks' });
  }
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Casebridge`}</title>
        <link rel="stylesheet" href="/assets/casebridge.css" />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/apps">
            Casebridge
          </a>
          {viewer ? (
            <nav aria-label="Main">
              <ul>
                {nav.map((n) => (
                  <li>
                    <a href={n.href} aria-current={props.current === n.id ? 'page' : undefined}>
                      {n.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          ) : null}
          {viewer?.restricted ? (
            <div class="who">
              <span id="viewer-email">{viewer.email}</span>
              {viewer.returnTo ? (
                <>
                  {' · '}
                  <a href={viewer.returnTo} id="return-to-app">
                    Back to your application
                  </a>
                </>
              ) : null}
            </div>
          ) : viewer ? (
            <div class="who">
              <span id="viewer-email">{viewer.email}</span>
              <span class="muted"> · {viewer.organizationName}</span>
              <form method="post" action="/auth/logout" class="inline">
                <input type="hidden" name="csrfToken" value={props.csrfToken ?? ''} />
                <button type="submit" class="link">
                  Sign out
                </button>
              </form>
            </div>
          ) : null}
        </header>
        <main id="main" tabindex={-1}>
          <h1>{props.title}</h1>
          {props.children}
        </main>
        {(props.scripts ?? []).map((src) => (
          <script nonce={props.nonce} src={src} defer />
        ))}
      </body>
    </html>
  );
}

/** A notice above a page's content: `status` for news, `alert` for problems. */
export function Notice(props: { kind: 'ok' | 'error' | 'info'; children?: Child }) {
  return (
    <div class={`notice notice-${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </div>
  );
}

/** The hidden CSRF field of every state-changing form. */
export function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

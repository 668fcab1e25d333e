import type { Hono } from 'hono';
import type { UserPrincipal } from '../auth/principal.ts';
import type { AppEnv } from '../api/env.ts';

/**
 * Hono environment of the pages: the API's variables plus what a page needs to render — the
 * request's CSP nonce, the session's CSRF token for plain forms, and who is signed in.
 */
export interface WebEnv {
  Variables: AppEnv['Variables'] & {
    /** Per-request nonce: the only scripts a page may run carry it. */
    nonce: string;
    /** The session's CSRF token, put into every form as `_csrf`. */
    csrfToken: string;
    /** The signed-in user, as the page shows them. */
    viewer: Viewer;
    /** Origins a page's forms may lead to besides our own (a provider's sign-in page). */
    formTargets: string[];
    /** A page that cannot take the nonce-only policy (the queue dashboard) sets its own. */
    cspPolicy: string;
  };
}

/** The signed-in user as pages show them. */
export interface Viewer {
  principal: UserPrincipal;
  email: string;
  name: string | null;
  organizationName: string;
  /** Set when the session came from an embedded connect link: it may only manage its own accounts. */
  restricted: boolean;
  /** A restricted session's way back to the embedding application (allow-listed). */
  returnTo: string | null;
}

export type WebApp = Hono<WebEnv>;

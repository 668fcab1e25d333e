/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { z } from 'zod';
import { icalManifest } from '../../../connectors/ical/manifest.ts';
import { listAssignedCases } from '../../cases/lookup.ts';
import { CATEGORIES, type CategoryId } from '../../consent/categories.ts';
import type { CaseScope } from '../../db/types.ts';
import { createFeed, deleteFeed, type FeedView, IcalFeedError, listFeeds, rotateFeed } from '../../../connectors/ical/feeds.ts';
import { feedUrl } from '../../../connectors/ical/tokens.ts';
import { enqueueRevocation } from '../../revocation/queue.ts';
import { relative } from '../connection-status.ts';
import { fieldLabel } from '../consent-preview.ts';
import type { WebApp, WebEnv } from '../env.ts';
import { PageError } from '../errors.ts';
import { Csrf, Layout, Notice } from '../layout.tsx';
import { sendPage } from '../render.ts';
import { clientAddress } from '../../api/client-address.ts';

const CreateSchema = z.object({
  name: z.string().trim().min(1).max(100),
  categories: z.array(z.enum(icalManifest.categories as [CategoryId, ...CategoryId[]])).min(1),
  scope: z.enum(['all', 'cases']),
  caseIds: z.array(z.uuid()).max(5000),
});

function many(value: unknown): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)];
}

function asPageError(e: unknown): never {
  if (e instanceof IcalFeedError) throw new PageError(e.status === 403 ? 403 : e.status === 409 ? 409 : 404, e.code, e.message);
  throw e;
}

/**
 * `GET /feeds`: the user's iCal subscription feeds; `POST /feeds` creates one, `POST /feeds/{id}/rotate`
 * replaces its URL, `POST /feeds/{id}/delete` deletes it (the revocation pipeline). A new URL is shown
 * once, in the answer to the post that made it (never in a link, a redirect or the page history).
 */
export function registerFeedPages(web: WebApp): void {
  web.get('/feeds', async (c) => feedsPage(c, null));

  web.post('/feeds', async (c) => {
    const viewer = c.get('viewer');
    const form = await c.req.parseBody({ all: true });
    const parsed = CreateSchema.safeParse({
      name: form.name,
      categories: many(form.categories),
      scope: form.scope ?? 'all',
      caseIds: many(form.caseIds),
    });
    if (!parsed.success) throw new PageError(400, 'validation_failed', 'Give the feed a name (up to 100 characters) and tick what it may show.');
    const caseScope: CaseScope = parsed.data.scope === 'cases' ? { kind: 'cases', caseIds: [...new Set(parsed.data.caseIds)] } : { kind: 'all' };
    if (caseScope.kind === 'cases' && !caseScope.caseIds.length) throw new PageError(400, 'empty_case_scope', 'Choose at least one case, or all your cases.');
    const created = await createFeed(c.get('services'), {
      organizationId: viewer.principal.organizationId,
      userId: viewer.principal.userId,
      name: parsed.data.name,
      categories: [...new Set(parsed.data.categories)],
      caseScope,
      ip: clientAddress(c),
      userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
    }).catch(asPageError);
    return feedsPage(c, { feed: created.feed, url: feedUrl(c.get('services').config.PUBLIC_BASE_URL, created.token), rotated: false });
  });

  web.post('/feeds/:id/rotate', async (c) => {
    const viewer = c.get('viewer');
    const rotated = await rotateFeed(
      c.get('services').db,
      { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId },
      c.req.param('id'),
    ).catch(asPageError);
    return feedsPage(c, { feed: rotated.feed, url: feedUrl(c.get('services').config.PUBLIC_BASE_URL, rotated.token), rotated: true });
  });

  web.post('/feeds/:id/delete', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    await deleteFeed(services, { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId }, c.req.param('id'), (rid) =>
      enqueueRevocation(services, rid),
    ).catch(asPageError);
    return c.redirect('/feeds?deleted=1', 303);
  });
}

async function feedsPage(c: Context<WebEnv>, shown: { feed: FeedView; url: string; rotated: boolean } | null) {
  const services = c.get('services');
  const viewer = c.get('viewer');
  const owner = { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId };
  const feeds = await listFeeds(services.db, owner);
  const cases = await listAssignedCases(services.db, owner);
  const csrf = c.get('csrfToken');
  return sendPage(
    c,
    <Layout title="iCal feeds" nonce={c.get('nonce')} csrfToken={csrf} viewer={viewer} current="feeds" scripts={['/assets/live.js']}>
      {c.req.query('deleted') ? <Notice kind="ok">Feed deleted. Its URL stopped working at once.</Notice> : null}
      {shown ? (
        <section class="notice notice-ok" aria-labelledby="feed-url-heading">
          <h2 id="feed-url-heading">
            {shown.rotated ? 'New URL' : 'Your feed URL'} for “{shown.feed.name}”
          </h2>
          <p>Copy it into your calendar app now: it is shown only once. Anyone with this URL can read the feed.</p>
          <div class="secret">
            <label for="feed-url" class="sr-only">
              Feed URL
            </label>
            <input type="text" id="feed-url" readonly value={shown.url} />
            <button type="button" class="secondary" data-copy="feed-url" hidden>
              Copy
            </button>
          </div>
        </section>
      ) : null}
      <p class="muted">
        A feed is a secret address your calendar app (Apple Calendar, Outlook, Google Calendar “From URL”) reads. Every read is logged on{' '}
        <a href="/shared">Shared data</a>.
      </p>
      <section aria-labelledby="feeds-heading">
        <h2 id="feeds-heading">Your feeds</h2>
        {feeds.length === 0 ? (
          <p>No feeds yet.</p>
        ) : (
          <ul class="plain" id="feeds">
            {feeds.map((f) => (
              <li>
                <strong>{f.name}</strong> <span class="muted">(…{f.tokenHint})</span>
                <div class="fields">
                  {f.categories.map((id) => CATEGORIES[id].title).join(', ')} ·{' '}
                  {f.caseScope.kind === 'all' ? 'all my cases' : `${f.caseScope.caseIds.length} cases`} ·{' '}
                  {f.lastFetchedAt ? `last read ${relative(new Date(f.lastFetchedAt))}, ${f.fetchCount} reads` : 'not read yet'}
                </div>
                <div class="actions">
                  <form method="post" action={`/feeds/${f.id}/rotate`} class="inline">
                    <Csrf token={csrf} />
                    <button type="submit" class="secondary">
                      New URL<span class="sr-only"> for {f.name}</span>
                    </button>
                  </form>
                  <form method="post" action={`/feeds/${f.id}/delete`} class="inline">
                    <Csrf token={csrf} />
                    <button type="submit" class="danger">
                      Delete<span class="sr-only"> {f.name}</span>
                    </button>
                  </form>
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
      <form method="post" action="/feeds" class="card">
        <h2>New feed</h2>
        <Csrf token={csrf} />
        <p>
          <label for="feed-name">Name</label>
          <br />
          <input type="text" id="feed-name" name="name" required maxlength={100} value="My court dates" />
        </p>
        <fieldset>
          <legend>What the feed shows</legend>
          {icalManifest.categories.map((id) => (
            <div class="choice">
              <input type="checkbox" id={`feed-cat-${id}`} name="categories" value={id} checked={icalManifest.defaultCategories.includes(id)} />
              <label for={`feed-cat-${id}`}>
                <strong>{CATEGORIES[id].title}</strong>: {CATEGORIES[id].fields.map(fieldLabel).join(', ')}
              </label>
            </div>
          ))}
        </fieldset>
        <fieldset>
          <legend>Which cases</legend>
          <div class="choice">
            <input type="radio" id="feed-scope-all" name="scope" value="all" checked />
            <label for="feed-scope-all">All my cases</label>
          </div>
          <div class="choice">
            <input type="radio" id="feed-scope-cases" name="scope" value="cases" />
            <label for="feed-scope-cases">Only these:</label>
          </div>
          {cases.map((k) => (
            <div class="choice">
              <input type="checkbox" id={`feed-case-${k.id}`} name="caseIds" value={k.id} />
              <label for={`feed-case-${k.id}`}>
                {k.number} {k.title}
              </label>
            </div>
          ))}
        </fieldset>
        <button type="submit" id="create-feed">
          Create feed
        </button>
      </form>
    </Layout>,
  );
}

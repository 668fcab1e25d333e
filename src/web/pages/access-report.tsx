/** @jsxImportSource hono/jsx */
import { z } from 'zod';
import { connectorFor } from '../../../connectors/registry.ts';
import { recordAudit } from '../../audit/audit-log.ts';
import { CATEGORIES, type CategoryId } from '../../consent/categories.ts';
import { accessReportByEmail, type PersonAccessReport, sharedByUser } from '../../transfers/access-by-email.ts';
import type { WebApp } from '../env.ts';
import { PageError } from '../errors.ts';
import { shortDate } from '../format.ts';
import { Layout, Notice } from '../layout.tsx';
import { sendPage } from '../render.ts';
import { AdminPage } from './admin/common.tsx';

const Email = z.email().max(320);

const DELIVERY_WORDS: Record<string, string> = {
  delivered: 'delivered',
  received: 'received',
  failed_may_have_reached_recipient: 'failed (may still have reached the recipient)',
  outcome_unknown: 'no answer came (may have reached the recipient)',
  delivered_confirmed_later: 'delivered (confirmed later)',
  not_applied: 'not applied',
  unconfirmed: 'under way',
};

function platformName(platform: string | null): string {
  return connectorFor(platform ?? '')?.manifest.displayName ?? platform ?? 'an unknown platform';
}

/** The report's body: the subjects found, the recipients and sources, and every transfer. */
export function AccessReportView(props: { report: PersonAccessReport; jsonHref: string }) {
  const { report } = props;
  const { person } = report;
  const subjects = person.contacts.length + person.importedContacts.length + person.events.length;
  return (
    <div id="access-report" data-transfers={report.transfers.length}>
      <section aria-labelledby="subjects-heading">
        <h2 id="subjects-heading">What the records hold about {person.email}</h2>
        <ul>
          <li>
            {person.contacts.length} case contact{person.contacts.length === 1 ? '' : 's'}
            {person.contacts.length ? `: ${person.contacts.map((x) => x.name).join(', ')}` : ''}
          </li>
          <li>{person.importedContacts.length} address-book entries imported from users' accounts</li>
          <li>
            {person.events.length} case event{person.events.length === 1 ? '' : 's'} naming them as a participant
          </li>
          <li>{person.user ? 'A Casebridge user of this organization' : 'Not a Casebridge user of this organization'}</li>
        </ul>
        {person.truncated ? <Notice kind="info">More records match than one report covers; this report covers the first {subjects}.</Notice> : null}
      </section>
      <section aria-labelledby="recipients-heading">
        <h2 id="recipients-heading">Who received it</h2>
        {report.recipients.length ? (
          <ul id="access-recipients">
            {report.recipients.map((r) => (
              <li>
                {platformName(r.platform)} {r.account ?? ''}
                {r.destination ? ` (${r.destination})` : ''}: {r.transfers} transfer{r.transfers === 1 ? '' : 's'}
              </li>
            ))}
          </ul>
        ) : (
          <p id="access-no-recipients">Nothing about them was sent anywhere.</p>
        )}
        {report.sources.length ? (
          <>
            <h3>Where data about them came from</h3>
            <ul>
              {report.sources.map((r) => (
                <li>
                  {platformName(r.platform)} {r.account ?? ''}: {r.transfers} transfer{r.transfers === 1 ? '' : 's'}
                </li>
              ))}
            </ul>
          </>
        ) : null}
        <p class="muted">
          {report.refusedCount} transfer{report.refusedCount === 1 ? ' was' : 's were'} refused by the gate and {report.notSentCount} never sent (nothing left
          Casebridge).
        </p>
      </section>
      {report.transfers.length ? (
        <section aria-labelledby="access-transfers-heading">
          <h2 id="access-transfers-heading">Every transfer</h2>
          <section class="table-wrap" tabindex={0} aria-label="Transfers about this person (scrolls sideways)">
            <table id="access-transfers">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">To or from</th>
                  <th scope="col">What</th>
                  <th scope="col">Fields</th>
                  <th scope="col">How it ended</th>
                </tr>
              </thead>
              <tbody>
                {report.transfers.slice(0, 500).map((t) => (
                  <tr>
                    <td>{shortDate(new Date(t.startedAt))}</td>
                    <td>
                      {t.direction === 'inbound' ? 'from ' : ''}
                      {platformName(t.counterparty.platform)} {t.counterparty.account ?? ''}
                    </td>
                    <td>
                      {t.operation} · {t.categories.map((id) => CATEGORIES[id as CategoryId]?.title ?? id).join(', ')}
                    </td>
                    <td>{t.fieldNames.join(', ')}</td>
                    <td>
                      {DELIVERY_WORDS[t.delivery] ?? t.delivery}
                      {t.consent?.version ? ` · consent v${t.consent.version}` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          {report.transfers.length > 500 ? <p>The first 500 of {report.transfers.length} are shown; the JSON download has all.</p> : null}
        </section>
      ) : null}
      <p>
        <a class="button secondary" href={props.jsonHref} id="access-json" download>
          Download the report (JSON)
        </a>
      </p>
    </div>
  );
}

/**
 * `/admin/access?email=`: the access report (GDPR Art. 15) for any person, found by e-mail address
 * (`accessReportByEmail`: their contacts, imported contacts and event participations, each through the
 * same `subjectAccessReport` as `GET /v1/admin/subject-access`), audited as the API does.
 * `/shared/access`: the signed-in user's own report — what was shared about them, and what was sent
 * on their behalf (`sharedByUser`).
 */
export function registerAccessReportPages(web: WebApp): void {
  web.get('/admin/access', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const raw = (c.req.query('email') ?? '').trim();
    let report: PersonAccessReport | null = null;
    if (raw) {
      const parsed = Email.safeParse(raw);
      if (!parsed.success) throw new PageError(400, 'validation_failed', 'Give an e-mail address such as name@example.com.');
      report = await accessReportByEmail(services.db, { organizationId: viewer.principal.organizationId, email: parsed.data });
      await recordAudit(services.db, {
        organizationId: viewer.principal.organizationId,
        actor: { kind: 'user', userId: viewer.principal.userId },
        action: 'subject_access.report',
        target: `email:${report.person.email}`,
        details: { transfers: report.transfers.length, recipients: report.recipients.length },
      });
      if (c.req.query('format') === 'json') {
        c.header('content-disposition', 'attachment; filename="access-report.json"');
        return c.json(report, 200);
      }
    }
    return sendPage(
      c,
      <AdminPage c={c} title="Access report">
        <form method="get" action="/admin/access" class="filters card" aria-label="Person">
          <label for="access-email">
            E-mail address of the person
            <input type="email" id="access-email" name="email" required value={raw} />
          </label>
          <button type="submit" id="run-access-report">
            Show the report
          </button>
        </form>
        {report ? <AccessReportView report={report} jsonHref={`/admin/access?email=${encodeURIComponent(report.person.email)}&format=json`} /> : null}
      </AdminPage>,
    );
  });

  web.get('/shared/access', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const orgId = viewer.principal.organizationId;
    const [report, byMe] = await Promise.all([
      accessReportByEmail(services.db, { organizationId: orgId, email: viewer.email }),
      sharedByUser(services.db, { organizationId: orgId, userId: viewer.principal.userId }),
    ]);
    await recordAudit(services.db, {
      organizationId: orgId,
      actor: { kind: 'user', userId: viewer.principal.userId },
      action: 'subject_access.report',
      target: 'self',
      details: { transfers: report.transfers.length, recipients: report.recipients.length },
    });
    if (c.req.query('format') === 'json') {
      c.header('content-disposition', 'attachment; filename="my-access-report.json"');
      return c.json({ ...report, sentOnYourBehalf: byMe }, 200);
    }
    return sendPage(
      c,
      <Layout title="Your access report" nonce={c.get('nonce')} csrfToken={c.get('csrfToken')} viewer={viewer} current="shared">
        <p>
          <a href="/shared">Shared data</a> › Your access report
        </p>
        <section aria-labelledby="by-me-heading">
          <h2 id="by-me-heading">Sent on your behalf</h2>
          {byMe.length ? (
            <ul id="sent-by-me">
              {byMe.map((r) => (
                <li>
                  {r.transfers} item{r.transfers === 1 ? '' : 's'} sent to {platformName(r.platform)} {r.account ?? ''}, {shortDate(r.first)} to{' '}
                  {shortDate(r.last)}
                </li>
              ))}
            </ul>
          ) : (
            <p id="sent-by-me-none">Nothing was sent on your behalf yet.</p>
          )}
        </section>
        <AccessReportView report={report} jsonHref="/shared/access?format=json" />
      </Layout>,
    );
  });
}

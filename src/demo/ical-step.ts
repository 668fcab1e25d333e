import { actAs, SAMPLE_MEMBER_EMAIL } from './as-user.ts';
import type { DemoStep } from './context.ts';

/**
 * A shell line that fetches the feed and shows its first events' start and title: it unfolds the
 * feed's lines first (a CRLF followed by a space or tab continues the previous line) and drops the CRs.
 */
export function feedPreviewCommand(url: string): string {
  const unfold = String.raw`perl -0777 -pe 's/\r\n[ \t]//g; s/\r//g'`;
  // Events' starts only: DTSTART;TZID=…, DTSTART;VALUE=DATE:… or UTC (…Z), not the VTIMEZONE rules' local DTSTARTs.
  return `curl -s "${url}" | ${unfold} | grep -E '^(DTSTART;|DTSTART:.*Z$|SUMMARY)' | head -n 12`;
}

/** Name of the feed the demo keeps for bob. */
export const DEMO_FEED_NAME = 'Demo feed';

/**
 * An iCal subscription feed for bob (a member of the first sample firm), through `/v1/ical-feeds`.
 * A feed's URL is shown only once, so a later run rotates the feed it made before (the previous URL
 * stops working) instead of adding another: bob keeps one demo feed.
 */
export const icalFeedStep: DemoStep = {
  name: 'ical-feed',
  async run(ctx) {
    const org = ctx.seed!.organizations[0]!;
    const bob = await actAs(ctx, { organizationId: org.id, email: SAMPLE_MEMBER_EMAIL });
    try {
      const { items: feeds } = (await bob.call<{ items: Array<{ id: string; name: string; status: string }> }>('GET', '/v1/ical-feeds')).body;
      const existing = feeds.find((f) => f.name === DEMO_FEED_NAME && f.status === 'active');
      const { body } = existing
        ? await bob.call<{ feed: { id: string }; url: string }>('POST', `/v1/ical-feeds/${existing.id}/rotate`)
        : await bob.call<{ feed: { id: string }; url: string }>('POST', '/v1/ical-feeds', {
            name: DEMO_FEED_NAME,
            categories: ['calendar.events'],
            caseScope: { kind: 'all' },
          });
      ctx.print(
        `iCal feed (${bob.email})`,
        `${existing ? 'rotated (the previous URL no longer works)' : 'created'}: feed ${body.feed.id}, court dates and deadlines of bob's cases, titles and times only`,
        `URL (secret, shown once)  ${body.url}`,
        // Feeds fold lines longer than 75 octets (RFC 5545 §3.1): unfold before grepping, or titles are cut.
        `try   ${feedPreviewCommand(body.url)}`,
      );
    } finally {
      await bob.end();
    }
  },
};

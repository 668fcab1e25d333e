import type { ConnectorMailbox } from '../types.ts';
import { openGraph } from './client.ts';
import type { OutlookContactsSettings } from './manifest.ts';

/**
 * Invitations "from my mailbox": Graph `POST /me/sendMail` with the `Mail.Send` scope, asked for
 * only when the user chose it at connect time (`sendInvitationsFromMailbox`). The message is
 * saved to the user's Sent Items, so they see what went out in their own name. Called from inside
 * the gate's `perform` (the Graph client asserts it).
 */
export const outlookMailbox: ConnectorMailbox = {
  enabled: (settings) => (settings as OutlookContactsSettings).sendInvitationsFromMailbox === true,
  async send(ctx, message) {
    const graph = openGraph({ config: ctx.config, accessToken: ctx.accessToken });
    const body = {
      message: {
        subject: message.subject,
        body: { contentType: 'HTML', content: message.html },
        toRecipients: [{ emailAddress: { address: message.to } }],
      },
      saveToSentItems: true,
    };
    await graph.post('me/sendMail', body);
    return { status: 202, bytes: Buffer.byteLength(JSON.stringify(body)) };
  },
};

/**
 * The invitation e-mail, built only from the fields the gate released (inviter name, organization
 * name, link; the addressee). Pure. Every invitation carries its opt-out link (the same token,
 * `/v1/invitations/{token}/opt-out`), also as `List-Unsubscribe` with one-click POST (RFC 8058) for SMTP.
 */

export interface InvitationFields {
  inviterName: string;
  organizationName: string;
  /** The accept link (carries the single-use token). */
  link: string;
  recipientEmail: string;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The opt-out link of an accept link: the API's `POST /v1/invitations/{token}/opt-out` (also the
 * List-Unsubscribe one-click target), next to the accept page `/invitations/{token}`.
 */
export function optOutLinkOf(link: string): string {
  return link.replace(/\/invitations\/([^/]+)$/, '/v1/invitations/$1/opt-out');
}

export function invitationMessage(f: InvitationFields, expiresAt: Date): { subject: string; text: string; html: string; headers: Record<string, string> } {
  const optOut = optOutLinkOf(f.link);
  const until = expiresAt.toISOString().slice(0, 10);
  const subject = `${f.inviterName} invites you to join ${f.organizationName} on Casebridge`;
  const text = [
    `${f.inviterName} invites you to join ${f.organizationName} on Casebridge.`,
    '',
    `Accept the invitation (valid until ${until}, once): ${f.link}`,
    '',
    `You receive this because ${f.inviterName} has your address in their address book.`,
    `Do not want invitations from ${f.organizationName}? Opt out: ${optOut}`,
  ].join('\n');
  const html = [
    `<p>${escapeHtml(f.inviterName)} invites you to join <strong>${escapeHtml(f.organizationName)}</strong> on Casebridge.</p>`,
    `<p><a href="${escapeHtml(f.link)}">Accept the invitation</a> (valid until ${until}, once).</p>`,
    `<p style="color:#555">You receive this because ${escapeHtml(f.inviterName)} has your address in their address book. `,
    `<a href="${escapeHtml(optOut)}">Opt out</a> of invitations from ${escapeHtml(f.organizationName)}.</p>`,
  ].join('');
  return { subject, text, html, headers: { 'List-Unsubscribe': `<${optOut}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } };
}

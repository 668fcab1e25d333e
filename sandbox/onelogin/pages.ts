import type { SandboxAccount } from '../state.ts';

/** HTML pages of the OneLogin emulator: the account picker and the auto-submitting POST form. */

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

const hidden = (fields: Record<string, string | undefined>): string =>
  Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v!)}">`)
    .join('');

/** HTTP-POST binding: a form the browser submits on load, carrying SAMLResponse and RelayState. */
export function autoPostForm(action: string, fields: Record<string, string | undefined>): string {
  return (
    `<!doctype html><html><head><meta charset="utf-8"><title>OneLogin</title></head>` +
    `<body onload="document.forms[0].submit()"><form method="post" action="${escapeHtml(action)}">${hidden(fields)}` +
    `<noscript><button type="submit">Continue</button></noscript></form></body></html>`
  );
}

/** The sign-in page OneLogin shows without `?user=`: one button per account. */
export function accountPickerPage(params: {
  action: string;
  accounts: SandboxAccount[];
  fields: Record<string, string | undefined>;
  message?: string;
}): string {
  const buttons = params.accounts
    .map(
      (a) =>
        `<li><form method="post" action="${escapeHtml(params.action)}">${hidden({ ...params.fields, user: a.email })}` +
        `<button type="submit" data-email="${escapeHtml(a.email)}">${escapeHtml(a.name)} &lt;${escapeHtml(a.email)}&gt;</button></form></li>`,
    )
    .join('');
  return (
    `<!doctype html><html><head><meta charset="utf-8"><title>OneLogin (sandbox)</title>` +
    `<style>body{font-family:sans-serif;max-width:30rem;margin:3rem auto}li{list-style:none;margin:.5rem 0}button{width:100%;padding:.75rem;text-align:left}</style></head>` +
    `<body><h1>Sign in to OneLogin</h1>${params.message ? `<p role="alert">${escapeHtml(params.message)}</p>` : ''}<ul>${buttons}</ul></body></html>`
  );
}

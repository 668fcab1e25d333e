import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../../config/load.ts';
import { type NetworkFailure, networkFailureOf } from '../errors.ts';
import { beforeProviderRequest } from '../gate-scope.ts';

/**
 * The gated SMTP client: the ONLY module that imports `nodemailer` (see
 * `test/architecture/outbound-gate.test.ts`). An e-mail to a person is a transfer like any provider
 * call: every send asserts it runs inside an outbound-gate `perform`. No retries here (a failed
 * invitation is reported to the user, who may send it again). Errors carry the SMTP reply code and
 * never the server URL's credentials.
 */

export interface MailMessage {
  from?: string;
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** Extra headers (e.g. `List-Unsubscribe`). */
  headers?: Record<string, string>;
}

export class MailSendError extends Error {
  readonly code = 'mail_send_failed';
  constructor(
    /** SMTP reply code (e.g. 550), or null without an answer. */
    readonly status: number | null,
    message: string,
    /** Without an answer: how the connection ended (`connection_failed`: nothing left). */
    readonly network: NetworkFailure | null = null,
  ) {
    super(message);
    this.name = 'MailSendError';
  }
}

export interface MailClient {
  /** Sends one message; resolves with the server's message id. */
  send(message: MailMessage): Promise<{ messageId: string; bytes: number }>;
  close(): void;
}

const transports = new Map<string, Transporter>();

/** The process's SMTP client for `SMTP_URL` (one pooled transport per URL), or null when none is configured. */
export function openMailClient(config: Pick<Config, 'SMTP_URL' | 'SMTP_FROM'>): MailClient | null {
  const url = config.SMTP_URL;
  if (!url) return null;
  let transport = transports.get(url);
  if (!transport) {
    transport = nodemailer.createTransport(url, { from: config.SMTP_FROM });
    transports.set(url, transport);
  }
  const t = transport;
  return {
    async send(message) {
      await beforeProviderRequest('SMTP send');
      try {
        const info = await t.sendMail({ from: message.from ?? config.SMTP_FROM, ...message });
        return { messageId: String(info.messageId ?? ''), bytes: Buffer.byteLength(message.text) + Buffer.byteLength(message.html ?? '') };
      } catch (err) {
        const e = err as { responseCode?: unknown; code?: unknown; response?: unknown };
        const status = typeof e.responseCode === 'number' ? e.responseCode : null;
        const network = status === null ? (networkFailureOf(err) ?? (e.code === 'ECONNECTION' ? 'connection_failed' : 'connection_lost')) : null;
        // The server's reply text (no credentials: those are in the URL, never in a reply).
        const reply = typeof e.response === 'string' ? e.response.slice(0, 200) : '';
        throw new MailSendError(
          status,
          status ? `the mail server refused the message (${status}${reply ? `: ${reply}` : ''})` : `the mail server could not be reached (${network})`,
          network,
        );
      }
    },
    close() {
      t.close();
      transports.delete(url);
    },
  };
}

import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SmtpCapture, startSmtpCapture } from '../../sandbox/smtp.ts';
import { SandboxState } from '../../sandbox/state.ts';

/**
 * The sandbox's mail capture: a real SMTP server on loopback receiving what nodemailer sends,
 * recorded as a ledger write (provider `smtp`) with the decoded text, HTML and headers; a refused
 * recipient gets a 550.
 */

let capture: SmtpCapture;
const state = new SandboxState();

beforeAll(async () => {
  capture = await startSmtpCapture({ state, port: 0 });
});
afterAll(async () => capture?.close());

describe('sandbox SMTP capture', () => {
  it('records a multipart message in the ledger with its decoded text, html and headers', async () => {
    const transport = nodemailer.createTransport(capture.url);
    const text = `Grüße — ${'a long line '.repeat(12)}\nhttps://casebridge.test/v1/invitations/cbi_${'x'.repeat(43)}`;
    await transport.sendMail({
      from: 'Casebridge <invitations@casebridge.invalid>',
      to: 'Someone@Contacts.example',
      subject: 'Ünïcode subject',
      text,
      html: '<p>Grüße</p>',
      headers: { 'List-Unsubscribe': '<https://casebridge.test/x/opt-out>' },
    });
    transport.close();
    expect(capture.messages).toHaveLength(1);
    const [m] = capture.messages;
    expect(m).toMatchObject({ from: 'invitations@casebridge.invalid', to: ['someone@contacts.example'], subject: 'Ünïcode subject', html: '<p>Grüße</p>' });
    expect(m!.text).toBe(text);
    expect(m!.headers['list-unsubscribe']).toBe('<https://casebridge.test/x/opt-out>');
    const entry = state.ledger.at(-1)!;
    expect(entry).toMatchObject({ provider: 'smtp', method: 'DATA', write: true, status: 250, account: 'someone@contacts.example' });
    expect((entry.object as { text: string }).text).toBe(text);
  });

  it('answers 550 for a refused recipient and records nothing', async () => {
    capture.refuse.add('gone@contacts.example');
    const transport = nodemailer.createTransport(capture.url);
    const err = await transport.sendMail({ from: 'a@b.example', to: 'gone@contacts.example', subject: 's', text: 't' }).catch((e: unknown) => e);
    transport.close();
    expect((err as { responseCode?: number }).responseCode).toBe(550);
    expect(capture.messages).toHaveLength(1);
  });
});

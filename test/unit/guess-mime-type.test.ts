import { describe, expect, it } from 'vitest';
import { guessMimeType } from '../../src/cases/rows.ts';

describe('guessMimeType', () => {
  it('keeps the types of the extensions the hand-written table knew', () => {
    const known: Record<string, string> = {
      pdf: 'application/pdf',
      txt: 'text/plain',
      md: 'text/markdown',
      html: 'text/html',
      csv: 'text/csv',
      json: 'application/json',
      xml: 'application/xml',
      doc: 'application/msword',
      docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      xls: 'application/vnd.ms-excel',
      xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      png: 'image/png',
      jpg: 'image/jpeg',
      jpeg: 'image/jpeg',
      eml: 'message/rfc822',
      msg: 'application/vnd.ms-outlook',
    };
    for (const [ext, type] of Object.entries(known)) {
      expect(guessMimeType(`Exhibit A.${ext}`), ext).toBe(type);
      expect(guessMimeType(`EXHIBIT.${ext.toUpperCase()}`), ext).toBe(type);
    }
  });

  it('knows the formats a law firm files beyond those sixteen', () => {
    expect(guessMimeType('retainer.rtf')).toBe('application/rtf');
    expect(guessMimeType('brief.odt')).toBe('application/vnd.oasis.opendocument.text');
    expect(guessMimeType('scan.tiff')).toBe('image/tiff');
    expect(guessMimeType('production.zip')).toBe('application/zip');
    expect(guessMimeType('deck.pptx')).toBe('application/vnd.openxmlformats-officedocument.presentationml.presentation');
  });

  it('falls back to application/octet-stream for names without a known extension', () => {
    for (const name of ['notes', 'scan.bin-x', 'dotfile.', '.bashrc', 'archive.unknownext']) {
      expect(guessMimeType(name), name).toBe('application/octet-stream');
    }
  });
});

import type { RevokeStepResult } from '../../connectors/types.ts';

/** One step of one connection's clean-up, as the receipt shows it. */
export interface ReceiptStep extends RevokeStepResult {
  at: string;
  attempts: number;
}

export interface ConnectionSteps {
  connectionId: string;
  platform: string;
  externalAccount: string | null;
  userId: string;
  steps: ReceiptStep[];
}

/** Merges a new attempt's results into the recorded steps (same step name: replaced, attempts counted). */
export function mergeSteps(previous: ReceiptStep[], results: RevokeStepResult[], at: Date): ReceiptStep[] {
  const out = [...previous];
  for (const r of results) {
    const i = out.findIndex((s) => s.step === r.step);
    const attempts = i >= 0 ? out[i]!.attempts + 1 : 1;
    const step: ReceiptStep = { ...r, at: at.toISOString(), attempts };
    if (i >= 0) out[i] = step;
    else out.push(step);
  }
  return out;
}

/** Whether a step needs another attempt. */
export const isPending = (s: ReceiptStep | undefined): boolean => !s || s.result === 'failed';

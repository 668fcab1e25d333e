import { z } from 'zod';
import type { CaseScope } from '../db/types.ts';

/**
 * A consent's case scope: all cases, a list of cases, or the cases of some practice areas. One
 * schema for every route that takes or shows a scope; one membership test for every place that
 * decides whether a case is inside one. Practice areas compare case-insensitively, trimmed.
 */

export const practiceAreaKey = (area: string) => area.trim().toLowerCase();

export const caseScopeSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('all') }),
    z.object({ kind: z.literal('cases'), caseIds: z.array(z.uuid()).min(1).max(5000) }),
    z.object({
      kind: z.literal('practice_areas'),
      practiceAreas: z.array(z.string().trim().min(1).max(100)).min(1).max(100),
    }),
  ])
  .meta({
    id: 'CaseScope',
    description: 'All cases, only the listed ones, or the cases of the listed practice areas (case-insensitive; a case without a practice area is in none)',
  });

/** The scope as stored: duplicates removed (practice areas by their case-insensitive key). */
export function normaliseCaseScope(scope: CaseScope): CaseScope {
  if (scope.kind === 'cases') return { kind: 'cases', caseIds: [...new Set(scope.caseIds)] };
  if (scope.kind === 'practice_areas') {
    const seen = new Map<string, string>();
    for (const a of scope.practiceAreas) if (!seen.has(practiceAreaKey(a))) seen.set(practiceAreaKey(a), a.trim());
    return { kind: 'practice_areas', practiceAreas: [...seen.values()] };
  }
  return { kind: 'all' };
}

/** Whether the scope names nothing at all (refused when granting). */
export function isEmptyCaseScope(scope: CaseScope): boolean {
  return (scope.kind === 'cases' && scope.caseIds.length === 0) || (scope.kind === 'practice_areas' && scope.practiceAreas.length === 0);
}

/** Whether a case (its id and practice area) is inside the scope. */
export function caseInScope(scope: CaseScope, kase: { id: string; practiceArea: string | null | undefined }): boolean {
  if (scope.kind === 'all') return true;
  if (scope.kind === 'cases') return scope.caseIds.includes(kase.id);
  if (!kase.practiceArea) return false;
  const key = practiceAreaKey(kase.practiceArea);
  return scope.practiceAreas.some((a) => practiceAreaKey(a) === key);
}

/** Words for a page: "All cases", "3 chosen cases", "Practice areas: Litigation, Tax". */
export function caseScopeWords(scope: CaseScope | null, all = 'All cases'): string {
  if (!scope) return '—';
  if (scope.kind === 'all') return all;
  if (scope.kind === 'cases') return `${scope.caseIds.length} chosen case${scope.caseIds.length === 1 ? '' : 's'}`;
  return `Practice areas: ${scope.practiceAreas.join(', ')}`;
}

import type { Migration } from 'kysely';
import * as m0001 from './0001-foundation.ts';

/**
 * Every migration, in order. Static imports (not a folder scan) so the list is the same under tsx,
 * bundlers and the Docker image. Add a line per new migration; names sort in application order.
 */
export const migrations: Record<string, Migration> = {
  '0001-foundation': m0001,
};

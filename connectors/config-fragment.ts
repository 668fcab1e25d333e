import type { z } from 'zod';

/**
 * A connector's environment variables: a zod object merged into the one configuration schema
 * (`src/config/schema.ts`), so validation and the README table cover them like every other
 * variable. Kept free of imports beyond zod: the configuration schema imports every fragment.
 */
export interface ConnectorConfigFragment<Shape extends z.ZodRawShape = z.ZodRawShape> {
  schema: z.ZodObject<Shape>;
  /** Variables that override the `limit` of the manifest's rate budgets (e.g. a raised quota). */
  rateBudgetVariables?: { perAccount?: string; perProject?: string };
}

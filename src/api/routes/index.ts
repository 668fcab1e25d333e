import type { RouteModule } from '../env.ts';

/**
 * Every route module, in registration order. Adding a route group is adding a file and a line here.
 */
export const routeModules: RouteModule[] = [];

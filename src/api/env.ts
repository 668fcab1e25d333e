import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Principal } from '../auth/principal.ts';
import type { Services } from '../services.ts';

/** Hono environment of every route: the services and, once authenticated, the principal. */
export interface AppEnv {
  Variables: {
    services: Services;
    requestId: string;
    principal: Principal;
  };
}

export type App = OpenAPIHono<AppEnv>;

/** A route module registers its routes on the app; one file per route group. */
export type RouteModule = (app: App, services: Services) => void;

# Casebridge: API (`npm run start:api`), workers (`npm run start:worker`) or both (`npm start`),
# running the compiled JavaScript in dist/ on Node 24 LTS. The build stage has every dependency
# (TypeScript, tsx, vitest, …); the image keeps only dist/, bin/ and the production dependencies.

FROM node:24-slim AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
WORKDIR /app

# Dependencies first, so a code change does not reinstall them. `prepare` (the build) needs the
# source, so scripts wait for `npm rebuild` below.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --ignore-scripts

COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY connectors ./connectors
COPY queues ./queues
COPY sandbox ./sandbox
# Dependencies' install scripts, the build (tsc to dist/), then the dev dependencies go.
RUN npm rebuild \
 && npm run build \
 && npm prune --omit=dev --ignore-scripts \
 && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
WORKDIR /app

# Code is owned by root and read-only for the service user; only /data is writable.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# `casebridge …` on the PATH (`npx casebridge …` works too).
RUN ln -s /app/bin/casebridge.mjs /usr/local/bin/casebridge \
 && mkdir -p /data && chown node:node /data

USER node
VOLUME ["/data"]
EXPOSE 3000

# Liveness. docker-compose.yml checks readiness (/readyz: database and Redis) for the API.
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Node itself is PID 1's child (run with an init process, e.g. `init: true` in compose): SIGTERM
# reaches the service, which stops accepting, finishes in-flight requests and jobs, and closes its pools.
CMD ["node", "dist/src/main.js", "all"]

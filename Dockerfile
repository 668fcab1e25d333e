# Casebridge: API (`npm run start:api`), workers (`npm run start:worker`) or both (`npm start`).
# TypeScript runs through tsx, a runtime dependency, so there is no build stage and dev
# dependencies (typescript, vitest, biome, …) stay out of the image.
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit && npm cache clean --force

# Code is owned by root and read-only for the service user; only /data is writable.
COPY . .
RUN mkdir -p /data && chown node:node /data

USER node
VOLUME ["/data"]
EXPOSE 3000

# Liveness. docker-compose.yml checks readiness (/readyz: database and Redis) for the API.
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# npm forwards SIGTERM to the service, which stops accepting, finishes in-flight requests and jobs,
# and closes its pools (run with an init process, e.g. `init: true` in compose, to reap children).
CMD ["npm", "start"]

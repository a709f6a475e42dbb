# syntax=docker/dockerfile:1
# rehost's processes from one image build, one target each:
#   docker build -f docker/app.Dockerfile --target api       -t rehost-api .
#   docker build -f docker/app.Dockerfile --target worker    -t rehost-worker .
#   docker build -f docker/app.Dockerfile --target dashboard -t rehost-dashboard .
#   docker build -f docker/app.Dockerfile --target migrate   -t rehost-migrate .
# The apps run compiled JavaScript, as `pnpm start` does: the `compile` stage builds every app
# and workspace package (`turbo run build`: SWC, one file at a time, scripts/build-js.mjs) into
# its dist/, and the processes start with `node --conditions=compiled apps/<app>/dist/main.js`
# (that condition points the workspace packages' exports at dist/). No tsx at run time: it cost
# start-up time and ~30 MB per process (docs/BENCHMARKS.md). The tests run the same sources.
# Runtime images hold production dependencies only, their files owned by root and read-only
# to the `node` user (uid 1000) that runs the process.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
ENV PNPM_HOME=/pnpm \
    PATH=/pnpm:$PATH \
    CI=true \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    CHECKPOINT_DISABLE=1
# pnpm 12.4.2: newer releases can make the lockfile unusable (see TOOLCHAIN notes).
RUN npm install -g --no-audit --no-fund --loglevel=error pnpm@12.4.2 \
 && npm cache clean --force
WORKDIR /app

# Packages from the lockfile alone: these layers are rebuilt only when the lockfile changes.
FROM base AS fetch
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch --prod --store-dir /pnpm/store

FROM base AS fetch-dev
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch --store-dir /pnpm/store

# TypeScript → JavaScript (the build tools are dev dependencies: this stage is thrown away; only
# the dist/ folders are kept, in /out with their paths).
FROM fetch-dev AS compile
COPY . .
RUN pnpm install --offline --frozen-lockfile --store-dir /pnpm/store \
 && pnpm db:generate \
 && pnpm turbo run build --filter @rehost/api... --filter @rehost/worker... --filter @rehost/dashboard... --filter @rehost/cli... \
 && mkdir /out && cp -r --parents apps/*/dist packages/*/dist /out/

FROM fetch AS build
COPY . .
# Only what the apps and the migration need (not the test or benchmark workspaces).
RUN pnpm install --offline --frozen-lockfile --prod --store-dir /pnpm/store \
      --filter @rehost/api... --filter @rehost/worker... --filter @rehost/dashboard... --filter @rehost/cli... --filter @rehost/db... \
 && pnpm db:generate \
 && rm -rf /pnpm/store
COPY --from=compile /out/ /app/

FROM base AS runtime
ENV NODE_ENV=production
COPY --from=build /app /app
USER node

FROM runtime AS api
ENV API_PORT=3000
EXPOSE 3000
# /readyz: Redis, PostgreSQL and the bucket answer (compose waits on this before the worker).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.API_PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--conditions=compiled", "apps/api/dist/main.js"]

FROM runtime AS worker
ENV WORKER_METRICS_PORT=3002
EXPOSE 3002
# WORKER_METRICS_PORT=0 turns the port off; then only "the process runs" is checked.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const p = process.env.WORKER_METRICS_PORT; p === '0' ? process.exit(0) : fetch(`http://127.0.0.1:${p}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM lets running jobs finish (WORKER_SHUTDOWN_GRACE_MS, default 25 s): give the
# container at least that (compose: stop_grace_period).
# Node flags: scripts/node-flags.json (young generation capped: ~24 MB less RSS, docs/BENCHMARKS.md).
CMD ["node", "--max-semi-space-size=4", "--expose-gc", "--conditions=compiled", "apps/worker/dist/main.js"]

FROM runtime AS dashboard
ENV DASHBOARD_PORT=3001
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.DASHBOARD_PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--conditions=compiled", "apps/dashboard/dist/main.js"]

# One-shot: applies prisma/migrations (prisma migrate deploy through the pg adapter; offline).
FROM runtime AS migrate
CMD ["pnpm", "db:migrate"]

# syntax=docker/dockerfile:1
# rehost's processes from one image build, one target each:
#   docker build -f docker/app.Dockerfile --target api       -t rehost-api .
#   docker build -f docker/app.Dockerfile --target worker    -t rehost-worker .
#   docker build -f docker/app.Dockerfile --target dashboard -t rehost-dashboard .
#   docker build -f docker/app.Dockerfile --target migrate   -t rehost-migrate .
# The apps run their TypeScript through tsx (a runtime dependency), as `pnpm start` does:
# there is no separate compile step to drift from what the tests ran.
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

# Packages from the lockfile alone: this layer is rebuilt only when the lockfile changes.
FROM base AS fetch
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch --prod --store-dir /pnpm/store

FROM fetch AS build
COPY . .
# Only what the three apps and the migration need (not the test or benchmark workspaces).
RUN pnpm install --offline --frozen-lockfile --prod --store-dir /pnpm/store \
      --filter @rehost/api... --filter @rehost/worker... --filter @rehost/dashboard... --filter @rehost/db... \
 && pnpm db:generate \
 && rm -rf /pnpm/store

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
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]

FROM runtime AS worker
ENV WORKER_METRICS_PORT=3002
EXPOSE 3002
# WORKER_METRICS_PORT=0 turns the port off; then only "the process runs" is checked.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const p = process.env.WORKER_METRICS_PORT; p === '0' ? process.exit(0) : fetch(`http://127.0.0.1:${p}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM lets running jobs finish (WORKER_SHUTDOWN_GRACE_MS, default 25 s): give the
# container at least that (compose: stop_grace_period).
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]

FROM runtime AS dashboard
ENV DASHBOARD_PORT=3001
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.DASHBOARD_PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--import", "tsx", "apps/dashboard/src/main.ts"]

# One-shot: applies prisma/migrations (prisma migrate deploy through the pg adapter; offline).
FROM runtime AS migrate
CMD ["pnpm", "db:migrate"]

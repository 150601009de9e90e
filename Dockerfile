# Chorus gateway image: `docker build -t chorus-server .`
# Stages: build (compile TypeScript), deps (production node_modules only), then the runtime
# image with neither the compiler nor the sources. test/deploy/dockerfile.test.ts runs these
# same steps outside Docker, so keep to WORKDIR, COPY, RUN, ENV and the exec forms.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# The lock file alone decides the dependency layer, so source edits do not reinstall.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# tsconfig.web.json builds the browser page, which the gateway serves from dist/public.
COPY tsconfig.json tsconfig.web.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# package.json too: its "type": "module" makes node load dist/*.js as ES modules.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The image's own unprivileged user (uid 1000); the ports are all above 1024.
USER node
EXPOSE 50445 50446 9464
# Slim images have no curl: node itself asks /healthz, honouring CHORUS_METRICS_PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CHORUS_METRICS_PORT || 9464) + '/healthz', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself, which starts the drain (bye to every
# client, presence released) instead of a shell swallowing the signal.
ENTRYPOINT ["node", "dist/server/main.js"]
# Listen on every interface of the container; any flag given to `docker run` replaces this.
CMD ["--host", "0.0.0.0"]

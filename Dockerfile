# The gateway image. Redis and PostgreSQL come from docker-compose.yml (or your own).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# Before npm ci: its postinstall applies patches/ (postgres.js must not run unpatched here).
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund
COPY core ./core
COPY processor ./processor
COPY adapters ./adapters
COPY gateway ./gateway
# The console's page, scripts and styles, read when the gateway starts (GET /console).
COPY console ./console
ENV NODE_ENV=production PORT=8080 ISO8583_PORT=8583
EXPOSE 8080 8583
USER node
CMD ["node", "--import", "tsx", "gateway/main.ts"]

# The coordinator, which also serves the built dashboard and contributor page.
FROM node:20-bookworm-slim

# ffmpeg/ffprobe: the coordinator probes, splits and merges on the server side.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

RUN npm i -g pnpm@10

WORKDIR /app

# Dependencies first, from the lockfile alone, so that editing source does not
# refetch them (pnpm's documented Docker pattern; needs no per-package COPY lines).
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch

COPY . .
RUN pnpm install --frozen-lockfile --offline
RUN pnpm build

# NODE_ENV is deliberately left unset: with NODE_ENV=production pnpm skips
# devDependencies, and both the build (vite) and the coordinator, which runs
# its TypeScript through tsx, need them.
ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
CMD ["pnpm", "start"]

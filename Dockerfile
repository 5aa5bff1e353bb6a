# One image for every Atelier service. Each Deployment picks its service by overriding the
# command: `python -m services.<gateway|ingest|clustering|credits|reflection>`.
#
#   docker build -t registry.example.com/atelier:$(git rev-parse --short HEAD) .
#
# The lock file resolves for linux/x86_64 (see [tool.uv] in pyproject.toml); every runtime
# dependency ships a manylinux wheel, so no compiler is needed.

# the web app: static files the gateway serves under /app/
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npx vite build

FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
# uv from its pip package, the same version the developers use
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# dependencies first: this layer is rebuilt only when the lock changes
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-default-groups --no-install-project
COPY libs ./libs
COPY services ./services
RUN uv sync --frozen --no-default-groups

FROM python:3.11-slim
# HOME=/tmp: the root filesystem is read-only in Kubernetes; /tmp is an emptyDir there
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 atelier \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin atelier
# owned by root, readable by all: the service user cannot change its own code
COPY --from=build /app /app
COPY --from=web /web/dist /app/web/dist
WORKDIR /app
# numeric, so Kubernetes' runAsNonRoot can check it
USER 10001:10001
EXPOSE 8000 8001 8002 8003 8004
CMD ["python", "-m", "services.gateway"]

# syntax=docker/dockerfile:1
# reconciler's image: `docker build -t ghcr.io/reconciler-dev/reconciler:0.1.0 .`
# Used by manifests/ (docs/deployment.md). Not built in CI: it has no Docker engine.

# -- build: wheels of reconciler and of every dependency, at the versions constraints.txt pins -
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY reconciler ./reconciler
# The ai extra too: ai.investigate needs the anthropic SDK (and a key, which is optional).
RUN pip wheel --wheel-dir /wheels --constraint constraints.txt '.[ai]'

# -- runtime: the wheels, git, and nothing to build with -------------------------------------
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# git for gitpython (the Git source), openssh-client for ssh:// and git@ repositories (and
# ssh-keygen for --verify ssh), gnupg for --verify gpg,
# ca-certificates for https.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git openssh-client gnupg ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# Offline install from the build stage's wheels only: what was pinned is what runs.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels 'reconciler[ai]'
# The user manifests/base/deployment.yaml runs as (runAsUser 10001). Its home is the state
# directory, the one writable place besides /tmp once the root filesystem is read-only.
RUN groupadd --gid 10001 reconciler \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/reconciler --create-home \
        --shell /usr/sbin/nologin reconciler
USER 10001:10001
WORKDIR /var/lib/reconciler
EXPOSE 8080
ENTRYPOINT ["reconciler"]
CMD ["run"]

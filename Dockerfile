# Image of the import job: the `datapipeline` CLI on a slim Python base.
#
# Build:  docker build -t datapipeline .
# Run:    docker run --rm datapipeline import --help
#
# The base is pinned to an exact Python patch release and Debian release. It is not
# pinned by digest because the digest cannot be resolved from this repository's
# build machines; Cloud Build records the digest it used in the build's provenance.

# --- stage 1: build the wheel ---------------------------------------------------------
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /build
COPY pyproject.toml README.md MANIFEST.in ./
COPY src/ ./src/
# `pip wheel` fetches the build backend (setuptools) in an isolated env; --no-deps:
# the runtime dependencies are installed from pyproject in the next stage.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /build/dist .

# --- stage 2: runtime -----------------------------------------------------------------
FROM python:3.11.13-slim-bookworm

# Set by cloudbuild.yaml; defaults keep a local `docker build .` working.
ARG VERSION=0.1.0
ARG REVISION=unknown

LABEL org.opencontainers.image.title="datapipeline" \
      org.opencontainers.image.description="DataPipeline import job: the datapipeline CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="python:3.11.13-slim-bookworm"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN groupadd --system --gid 10001 datapipeline \
    && useradd --system --uid 10001 --gid datapipeline --create-home \
       --home-dir /home/datapipeline --shell /usr/sbin/nologin datapipeline

# Dependency layer: only pyproject.toml is copied, so this layer is rebuilt when the
# dependencies change, not on every source change.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; deps = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt /tmp/pyproject.toml

# The project itself, from the wheel built above (dependencies already present).
COPY --from=builder /build/dist/ /tmp/dist/
RUN pip install --no-cache-dir --no-deps /tmp/dist/*.whl \
    && rm -rf /tmp/dist

# Numeric ids (the datapipeline user created above), resolvable without /etc/passwd.
USER 10001:10001
WORKDIR /home/datapipeline

ENTRYPOINT ["datapipeline"]
CMD ["--help"]

# The souverain operator image: `make image` builds it, the Helm chart runs it.
#
# Two stages: the first installs the operator and its dependencies into a virtual
# environment; the second copies only that environment onto a clean base, so no
# compiler, pip or source tree reaches the final image. The base is pinned to an exact
# Python release; pin its digest too with
#   --build-arg PYTHON_IMAGE=python:3.12.12-slim-bookworm@sha256:...
# Any base with Python 3.11 or newer, its venv and ensurepip modules, groupadd and
# useradd will do: where this one cannot be pulled, `make image` builds one from Debian
# packages (tools/image/debian-base.sh).
#
# Behind a TLS-intercepting proxy, give pip the proxy's CA bundle as the build secret
# `pip-ca` (`--secret id=pip-ca,src=FILE`); it is read by the build stage only and
# stored in no layer. PIP_INDEX_URL (a build argument) points pip at another index.
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PIP_INDEX_URL=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# pip comes from the interpreter's own ensurepip, into a build environment (/opt/build)
# with the build backend; the operator's environment gets none. The dependencies are
# read from pyproject.toml and installed before the code is copied, so that a change
# to the code reuses this layer and needs no network.
COPY pyproject.toml README.md ./
RUN --mount=type=secret,id=pip-ca \
    if [ -f /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi; \
    if [ -z "${PIP_INDEX_URL:-}" ]; then unset PIP_INDEX_URL; fi; \
    python -m venv /opt/build \
 && python -m venv --without-pip /opt/souverain \
 && /opt/build/bin/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
      open("/tmp/build-requirements.txt", "w").write("\n".join(p["build-system"]["requires"])); \
      open("/tmp/requirements.txt", "w").write("\n".join(p["project"]["dependencies"]))' \
 && /opt/build/bin/pip install --quiet --requirement /tmp/build-requirements.txt \
 && /opt/build/bin/pip --python /opt/souverain/bin/python install --quiet \
      --requirement /tmp/requirements.txt
COPY operator/ operator/
# The wheel, built offline with the backend above, then installed without dependencies.
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/build/bin/pip --python /opt/souverain/bin/python install --quiet --no-deps \
      /dist/souverain-*.whl \
 && /opt/build/bin/pip --python /opt/souverain/bin/python check

FROM ${PYTHON_IMAGE}
# No package installer in the final image; a numeric non-root user the chart's
# securityContext (runAsNonRoot, runAsUser 10001) matches.
RUN python -m pip uninstall --yes pip setuptools wheel 2>/dev/null; \
    groupadd --gid 10001 souverain \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin souverain
COPY --from=build /opt/souverain /opt/souverain
ENV PATH=/opt/souverain/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# Liveness and readiness, metrics, admission webhooks.
EXPOSE 8080 9090 9443
ENTRYPOINT ["souverain"]
CMD ["run"]

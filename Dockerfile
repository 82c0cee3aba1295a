# The souverain operator image: `make image` builds it, the Helm chart runs it.
#
# Two stages: the first builds the wheel and installs it with its dependencies into a
# virtual environment; the second copies only that environment onto a clean base, so
# no compiler, pip or source tree reaches the final image. The base is pinned to an
# exact Python release; pin its digest too with
#   --build-arg PYTHON_IMAGE=python:3.12.12-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
# The wheel, then a virtual environment without pip holding it and its dependencies.
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv --without-pip /opt/souverain \
 && python -m pip --python /opt/souverain/bin/python install /dist/souverain-*.whl

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

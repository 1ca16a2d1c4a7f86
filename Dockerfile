# Multi-stage build: a release binary, then a slim runtime image that runs it as a non-root user.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY .cargo .cargo
COPY crates crates
COPY migration migration
COPY tests tests
RUN cargo build --release -p crm-api --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/crm --create-home crm \
    && mkdir -p /var/lib/crm/documents && chown -R crm /var/lib/crm
COPY --from=build /src/target/release/crm-api /usr/local/bin/crm-api
USER crm
WORKDIR /var/lib/crm
ENV BIND_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/crm/crm.db?mode=rwc \
    DOCUMENT_DIR=/var/lib/crm/documents \
    RUST_LOG=info
EXPOSE 8080
VOLUME ["/var/lib/crm/documents"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["crm-api", "health", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["crm-api"]
CMD ["serve"]

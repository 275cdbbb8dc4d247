# Build: cargo-chef cooks the dependencies in a layer of their own, so a change to the daemon's
# code rebuilds only the daemon, not the few hundred crates under it.
FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --bin crypto-saas --recipe-path recipe.json
COPY . .
RUN cargo build --release --bin crypto-saas

# Run: Debian slim, no shell needed by the health check (exec form, the binary asks /healthz).
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home crypto
COPY --from=build /src/target/release/crypto-saas /usr/local/bin/crypto-saas
COPY config /etc/crypto-saas
USER 10001
ENV HOST=0.0.0.0 PORT=8000 LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["crypto-saas", "healthcheck"]
ENTRYPOINT ["crypto-saas"]
CMD ["serve"]

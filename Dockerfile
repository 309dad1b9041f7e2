# Untested here: these machines have no Docker engine. Kept deliberately simple.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tessera

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/tessera tessera \
    && mkdir -p /var/lib/tessera && chown tessera /var/lib/tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
USER tessera
ENV TESSERA_ADDR=0.0.0.0:8000 TESSERA_DATA_DIR=/var/lib/tessera LOG_FORMAT=json
EXPOSE 8000
# Migrations run at start-up; `tessera migrate` runs them alone.
CMD ["tessera", "serve"]

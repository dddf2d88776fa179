# Tally in a container: cgo is on because PAM is a C library.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpam0g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/tally ./cmd/tally

FROM debian:bookworm-slim
# The fonts are what PDF statements and receipts are set in (TALLY_PDF_FONTS):
# DejaVu for Latin, Greek and Cyrillic, WenQuanYi Micro Hei for CJK.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libpam0g libpam-modules \
    fonts-dejavu-core fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/tally /usr/local/bin/tally
COPY docs/pam.d/tally /etc/pam.d/tally
ENV TALLY_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/usr/local/bin/tally", "version"]
ENTRYPOINT ["/usr/local/bin/tally"]
CMD ["serve", "--migrate"]

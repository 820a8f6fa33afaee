#!/usr/bin/env bash
# conf/make-dev-cert.sh — the development TLS certificate that
# conf/iridium.ini's [certificate localhost] names: conf/tls/localhost.key (an
# ECDSA P-256 key) and conf/tls/localhost.crt (self-signed, about one year,
# CN=localhost, SAN DNS:localhost and IP:127.0.0.1, for TLS web servers).
# Made with certtool (gnutls-bin) when either file is missing; existing files
# are left alone (delete both to get new ones). `bash .ci/dev run` calls it.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tls"
key="$dir/localhost.key"
crt="$dir/localhost.crt"

if [[ -f $key && -f $crt ]]; then
  echo "make-dev-cert: $crt and its key are there; nothing to do"
  exit 0
fi

if ! command -v certtool >/dev/null 2>&1; then
  echo "make-dev-cert: certtool not found (install gnutls-bin: bash .ci/dev deps)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/template" <<'EOF'
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
expiration_days = 365
tls_www_server
signing_key
EOF

mkdir -p "$dir"
# A new key goes with a new certificate: never pair a fresh key with an old one.
certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text \
  --outfile="$tmp/localhost.key" 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
certtool --generate-self-signed --load-privkey="$tmp/localhost.key" \
  --template="$tmp/template" --outfile="$tmp/localhost.crt" >"$tmp/log" 2>&1 ||
  { cat "$tmp/log" >&2; exit 1; }

install -m 600 "$tmp/localhost.key" "$key"
install -m 644 "$tmp/localhost.crt" "$crt"
echo "make-dev-cert: made $key (ECDSA P-256) and $crt"
echo "make-dev-cert: self-signed for localhost and 127.0.0.1, valid 365 days"

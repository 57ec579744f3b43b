#!/usr/bin/env bash
# Builds the web client (crates/web) into crates/web/dist: index.html, style.css,
# boot.js, the wasm-bindgen glue tuitalk_web.js and the module tuitalk_web_bg.wasm.
# tuitalk-server embeds that directory when it is built afterwards (or serves it with
# web.assets_dir set), and serves it at /.
#
# Installs what it needs when missing: the wasm32-unknown-unknown target (rustup) and
# wasm-bindgen-cli at exactly the version of the wasm-bindgen crate the client is built
# with (the two must match). Files in dist are only rewritten when their content
# changed, so an unchanged client does not make cargo rebuild the server.
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-unknown-unknown
profile=web
dist=crates/web/dist
# The pin in crates/web/Cargo.toml is the one source of the version.
version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"$/\1/p' crates/web/Cargo.toml)
if [[ -z $version ]]; then
  echo "build-web: no exact wasm-bindgen pin (wasm-bindgen = \"=X.Y.Z\") in crates/web/Cargo.toml" >&2
  exit 1
fi

# rustup may list the target as missing while its standard library is in place (an
# interrupted install); what matters is that rustc finds std for it.
libdir=$(rustc --print target-libdir --target "$target" 2>/dev/null || true)
if ! compgen -G "$libdir/libstd-*.rlib" >/dev/null; then
  echo "build-web: installing the $target target"
  rustup target add "$target"
fi

if [[ $(wasm-bindgen --version 2>/dev/null || true) != "wasm-bindgen $version" ]]; then
  echo "build-web: installing wasm-bindgen-cli $version (takes a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$version"
fi

echo "build-web: compiling crates/web for $target"
cargo build --locked -p tuitalk-web --target "$target" --profile "$profile"

target_dir=${CARGO_TARGET_DIR:-target}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$stage" \
  "$target_dir/$target/$profile/tuitalk_web.wasm"
cp crates/web/static/* "$stage/"

mkdir -p "$dist"
for file in "$stage"/*; do
  name=$(basename "$file")
  if ! cmp -s "$file" "$dist/$name"; then
    cp "$file" "$dist/$name"
  fi
done
# Files of an earlier build that this one no longer has.
for file in "$dist"/*; do
  [[ -e $file ]] || continue
  [[ -e $stage/$(basename "$file") ]] || rm -f "$file"
done
echo "build-web: built $(du -sh "$dist" | cut -f1) into $dist ($(stat -c %s "$dist/tuitalk_web_bg.wasm") bytes of wasm)"

#!/usr/bin/env bash
# replace-block.sh FILE NAME: replaces the lines between
# "<!-- NAME:begin -->" and "<!-- NAME:end -->" in FILE with standard input.
set -euo pipefail
file=$1 name=$2
new=$(cat)
awk -v name="$name" -v new="$new" '
  $0 == "<!-- " name ":begin -->" { print; print new; skip = 1; next }
  $0 == "<!-- " name ":end -->"   { skip = 0 }
  !skip { print }
' "$file" > "$file.tmp"
mv "$file.tmp" "$file"

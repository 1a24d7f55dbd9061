#!/usr/bin/env bash
# Regenerate every experiment of experiments/ from scratch: fetch the MiniLM
# weights (scripts/fetch-minilm.sh), run each experiment with --fresh, check
# its claims, and list the small reference files (report, tables, figures)
# that are committed under results/. A FAILed claim is reported, not fatal:
# the verdicts are part of the results.
#   scripts/reproduce.sh            # all experiments
#   scripts/reproduce.sh banner-clip kuzmin-fp8
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p quantlab
quantlab=target/release/quantlab
if [ -n "${CARGO_TARGET_DIR:-}" ]; then quantlab="$CARGO_TARGET_DIR/release/quantlab"; fi

configs=()
if [ $# -eq 0 ]; then
    configs=(experiments/*/experiment.toml experiments/*/synthetic.toml experiments/*/model.toml)
else
    for name in "$@"; do configs+=(experiments/"$name"/*.toml); done
fi

if grep -l 'data/minilm' "${configs[@]}" >/dev/null 2>&1; then
    scripts/fetch-minilm.sh
fi

verdicts=()
for config in "${configs[@]}"; do
    [ -f "$config" ] || continue
    echo "== $config"
    "$quantlab" run "$config" --fresh --quiet
    out="results/$(sed -n 's/^name = "\(.*\)"/\1/p' "$config" | head -1)"
    if "$quantlab" check "$out"; then status=PASS; else status=FAIL; fi
    verdicts+=("$status  $out")
done

echo
echo "== claims per experiment (details in results/<name>/report.md)"
printf '%s\n' "${verdicts[@]}"
echo
echo "Reference files to commit (results/ is git-ignored; add them with -f):"
for config in "${configs[@]}"; do
    out="results/$(sed -n 's/^name = "\(.*\)"/\1/p' "$config" | head -1)"
    echo "  git add -f $out/report.md $out/tables.md $out/tables.csv $out/manifest.json $out/figures"
done

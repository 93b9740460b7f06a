#!/bin/bash
# Runs the scenario sets the evaluation docs quote (rarity + ocsvm) and prints one line a run:
# precision, recall, AUC and the per cent of normal rows below 0.3 / 0.5 / 0.7. Each run's full
# output (its JSON line and the per-story tables) is kept in $OUT/<run>.txt.
#
# usage: [REPO=checkout] [EV=/tmp/ev] scripts/eval-sets.sh NAME [sets...]
#   sets: ind (21 days, default seed and 12/13/14), ind16, ind12, ho, ho3, ho4, ho5, ho6 (held-out
#   story sets 2-6, seeds 12/13/14); default: ind ind16 ind12 ho ho3. REPO must be built
#   (npx tsc -p tsconfig.json && node scripts/copy-assets.js).
set -euo pipefail
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
NAME=${1:?usage: scripts/eval-sets.sh NAME [sets...]}
shift
SETS=${*:-ind ind16 ind12 ho ho3}
OUT=${EV:-/tmp/ev}/$NAME
mkdir -p "$OUT"
cd "$REPO"
run() { # tag args...
  local tag=$1
  shift
  nice -n 10 node dist/scorer/eval/scenarios/main.js --out "$OUT/d-$tag" "$@" --eval --models rarity,ocsvm >"$OUT/$tag.txt" 2>&1
  node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").split("\n").find(x=>x.startsWith("{"));const j=JSON.parse(l);console.log(process.argv[2].padEnd(10),"P",j.precision.toFixed(3),"R",j.recall.toFixed(3),"AUC",j.auc.toFixed(4),"n<.3/.5/.7",(100*j.normal_below["0.3"]).toFixed(2),(100*j.normal_below["0.5"]).toFixed(2),(100*j.normal_below["0.7"]).toFixed(2))' "$OUT/$tag.txt" "$tag"
}
for s in $SETS; do
  case $s in
    ind) run ind; for x in 12 13 14; do run "ind-$x" --seed $x; done ;;
    ind16) run ind16 --days 16 ;;
    ind12) run ind12 --days 12 ;;
    ho) for x in 12 13 14; do run "ho-$x" --seed $x --stories heldout; done ;;
    ho3 | ho4 | ho5 | ho6) for x in 12 13 14; do run "$s-$x" --seed $x --stories "heldout${s#ho}"; done ;;
    *) echo "unknown set: $s (ind ind16 ind12 ho ho3 ho4 ho5 ho6)" >&2; exit 64 ;;
  esac
done

#!/usr/bin/env bash
# Ten prompts that cover every mood word of the README, measured as `lofi-daemon analyze`
# measures them: 30 s tracks for loudness, tempo, key, stereo, wobble and crackle; 120 s
# tracks for repetition and the loop seam. Usage: benches/procedural_prompts.sh [DAEMON]
# (default target/release/lofi-daemon; an older build prints the lines it knows).
set -euo pipefail
daemon=${1:-target/release/lofi-daemon}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
prompts=(
    ""
    "fast happy boom bap"
    "slow sad night, rain"
    "ambient dreamy"
    "vinyl dusty jazzy brushes"
    "tape cassette, laid-back"
    "half-time dark rhodes"
    "bossa, coffee morning, piano"
    "mellow study, clean, in D minor"
    "lofi hip hop, 84 bpm, in Eb major"
)
field() { grep -m1 "^$1" "$2" | cut -d: -f2- | sed 's/^ *//' || true; }
"$daemon" --version
printf '| prompt | LUFS | dBTP | BPM | key | stereo | wobble | clicks | 120 s: form | seam |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for prompt in "${prompts[@]}"; do
    "$daemon" generate "$prompt" --seed 1 --duration 30 --out "$dir/30.wav" 2>/dev/null
    "$daemon" generate "$prompt" --seed 1 --duration 120 --out "$dir/120.wav" 2>/dev/null
    "$daemon" analyze "$dir/30.wav" > "$dir/30.txt"
    "$daemon" analyze "$dir/120.wav" > "$dir/120.txt"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "${prompt:-(empty)}" \
        "$(field loudness "$dir/30.txt" | cut -d' ' -f1)" \
        "$(field 'true peak' "$dir/30.txt" | cut -d' ' -f1)" \
        "$(field tempo "$dir/30.txt" | cut -d' ' -f1)" \
        "$(field key "$dir/30.txt" | sed 's/ (.*//')" \
        "$(field stereo "$dir/30.txt" | sed 's/ (the figures.*//; s/ (side\/mid energy)//')" \
        "$(field wobble "$dir/30.txt" | cut -d' ' -f1)" \
        "$(field clicks "$dir/30.txt" | cut -d/ -f1)" \
        "$(field form "$dir/120.txt" | sed 's/; an 8-bar span recurs at most/, span recurs/; s/ (repetition)//')" \
        "$(field 'loop seam' "$dir/120.txt" | sed 's/last second //; s/ against the median second//')"
done

#!/usr/bin/env bash
# Forensic watermark benchmark: robustness, false positives, collusion, inaudibility (SNR)
# and speed of studiovault-watermark, and of audiowmark beside it when an `audiowmark`
# binary is on PATH. Run by hand (about 30-60 min on 2 cores); results go to $WORK and the
# summary tables (markdown) to stdout and $WORK/summary.md.
#
#   bench/watermark/run.sh                 # full run
#   TRACKS=5 FP_EXCERPTS=100 bench/watermark/run.sh   # quick look
#   RESUME=1 bench/watermark/run.sh        # keep tracks a previous run finished
#   ATTACKS="crop mp3-128" COLLUSION_TRACKS=0 bench/watermark/run.sh   # some attacks only
#
# Needs ffmpeg (with libmp3lame, libopus, libvorbis), lame, sox, python3 and Debian's
# wesnoth-1.16-music. Each test cuts a 30 s excerpt from an arbitrary sample of the marked
# track (the whole track when shorter), attacks it, and asks each system for the payload.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/studiovault-wm-bench}
MUSIC=${MUSIC:-/usr/share/games/wesnoth/1.16/data/core/music}
JOBS=${JOBS:-2}
TRACKS=${TRACKS:-1000}
FP_EXCERPTS=${FP_EXCERPTS:-1000}
# audiowmark costs ~2.6 CPU-seconds per 30 s excerpt (~15 with --detect-speed), most of
# the run on a shared 2-core machine: it runs on the first AWM_TRACKS wesnoth tracks and the
# synthetic pieces, with --detect-speed on the first AWM_SPEED_TRACKS.
AWM_TRACKS=${AWM_TRACKS:-12}
AWM_SPEED_TRACKS=${AWM_SPEED_TRACKS:-10}
COLLUSION_TRACKS=${COLLUSION_TRACKS:-10}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# A private copy, so rebuilding the crate during a run cannot change the tool under it.
TOOL=$WORK/wmtool
KEY=7d1c0f3a5b2e4d6c8a9b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7
OTHER_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
ATTACKS=${ATTACKS:-"crop mp3-128 mp3-64 aac-128 opus-64 vorbis-q2 resample-48k vol+6 vol-6 lowpass eq pink-noise-20db mono speed+2 speed-2"}

have_awm() { command -v audiowmark >/dev/null 2>&1; }

# ours_id INDEX / awm_payload INDEX: the payload each system embeds in track INDEX.
ours_id() { echo $((0x5d00000000 + $1 * 7919)); }
awm_payload() { printf '5d0c0ffee0ddba11c0de%012x' "$1"; }

# cpu_of CMD..: runs CMD, prints its user+system CPU seconds on fd 3, its stdout on stdout.
cpu_of() {
    local t
    t=$(mktemp)
    /usr/bin/time -f '%U %S' -o "$t" "$@"
    awk '{ printf "%.2f\n", $1 + $2 }' "$t" >&3
    rm -f "$t"
}

# shellcheck source=attacks.sh
source "$HERE/attacks.sh"

# detect_ours FILE EXPECTED_ID -> "ok|miss|WRONG cpu_seconds"
detect_ours() {
    local out result id cpu
    out=$("$TOOL" detect "$1" --key "${3:-$KEY}")
    result=$(sed -n 's/.*result=\([a-z]*\).*/\1/p' <<<"$out")
    id=$(sed -n 's/.*id=\([0-9]*\).*/\1/p' <<<"$out")
    cpu=$(sed -n 's/.*detect_cpu_seconds=\([0-9.]*\).*/\1/p' <<<"$out")
    if [ "$result" = found ]; then
        if [ "$id" = "$2" ]; then echo "ok $cpu"; else echo "WRONG $cpu"; fi
    else
        echo "miss $cpu"
    fi
}

# detect_awm FILE EXPECTED [extra args] -> "ok|miss cpu": the best-scoring pattern must be ours
# (audiowmark always prints its best guesses; it has no reject decision of its own).
detect_awm() {
    local file=$1 expected=$2 out cpu best
    shift 2
    { out=$(cpu_of audiowmark get --key "$WORK/awm.key" "$@" "$file" 2>/dev/null); } 3>"$file.cpu"
    cpu=$(cat "$file.cpu")
    best=$(awk '$1 == "pattern" { if ($4 + 0 > best) { best = $4 + 0; p = $3 } } END { print p }' <<<"$out")
    if [ "$best" = "$expected" ]; then echo "ok $cpu"; else echo "miss $cpu"; fi
}

track_job() { # track_job INDEX NAME
    local index=$1 name=$2 dir=$WORK/tracks/$2 orig=$WORK/corpus/$2.wav results=$WORK/results/$2.tsv
    rm -rf "$dir"
    mkdir -p "$dir"
    : >"$results"
    local id rate frames excerpt_frames start line
    id=$(ours_id "$index")
    rate=$(soxi -r "$orig")
    frames=$(soxi -s "$orig")
    excerpt_frames=$((30 * rate))
    [ "$frames" -lt "$excerpt_frames" ] && excerpt_frames=$frames
    # An arbitrary sample offset, different for every track.
    start=$(((index * 1000003 + 12345) % (frames - excerpt_frames + 1)))

    line=$("$TOOL" embed "$orig" "$dir/ours.wav" --key "$KEY" --id "$id")
    printf '%s\tours\tembed\t%s\n' "$name" "$line" >>"$results"
    sox "$orig" "$dir/orig-ex.wav" trim "${start}s" "${excerpt_frames}s"
    sox "$dir/ours.wav" "$dir/ours-ex.wav" trim "${start}s" "${excerpt_frames}s"
    printf '%s\tours\tunmarked\t%s\n' "$name" "$(detect_ours "$dir/orig-ex.wav" none)" >>"$results"
    printf '%s\tours\twrong-key\t%s\n' "$name" "$(detect_ours "$dir/ours-ex.wav" none "$OTHER_KEY")" >>"$results"

    local systems=ours
    if have_awm && { [ "$index" -lt "$AWM_TRACKS" ] || [[ $name == synth-* ]]; }; then
        local cpu snr
        { cpu_of audiowmark add --key "$WORK/awm.key" "$orig" "$dir/awm.wav" "$(awm_payload "$index")" >/dev/null 2>&1; } 3>"$dir/awm.cpu"
        cpu=$(cat "$dir/awm.cpu")
        snr=$("$TOOL" snr "$orig" "$dir/awm.wav")
        printf '%s\tawm\tembed\taudio_seconds=%s embed_process_cpu_seconds=%s %s\n' \
            "$name" "$(soxi -D "$orig")" "$cpu" "$snr" >>"$results"
        sox "$dir/awm.wav" "$dir/awm-ex.wav" trim "${start}s" "${excerpt_frames}s"
        systems="ours awm"
    fi
    printf '%s\tours\tsnr\t%s\n' "$name" "$("$TOOL" snr "$orig" "$dir/ours.wav")" >>"$results"

    local sys a attacked expected verdict
    for sys in $systems; do
        if [ "$sys" = ours ]; then expected=$id; else expected=$(awm_payload "$index"); fi
        for a in $ATTACKS; do
            attacked=$dir/$sys-$a.wav
            attack "$a" "$dir/$sys-ex.wav" "$attacked"
            if [ "$sys" = ours ]; then
                verdict=$(detect_ours "$attacked" "$expected")
            elif [[ $a == speed* ]]; then
                [ "$index" -ge "$AWM_SPEED_TRACKS" ] && [[ $name != synth-* ]] && continue
                verdict=$(detect_awm "$attacked" "$expected" --detect-speed)
            else
                verdict=$(detect_awm "$attacked" "$expected")
            fi
            printf '%s\t%s\t%s\t%s\n' "$name" "$sys" "$a" "$verdict" >>"$results"
        done
        # Shorter excerpts: 10 s after MP3 128 kbps, and 5 s untouched, from inside the 30 s.
        if [ "$excerpt_frames" -ge $((20 * rate)) ]; then
            sox "$dir/$sys-mp3-128.wav" "$dir/$sys-10s-mp3.wav" trim 7.3 10
            sox "$dir/$sys-ex.wav" "$dir/$sys-5s.wav" trim 11.7 5
            for a in 10s-mp3 5s; do
                if [ "$sys" = ours ]; then
                    verdict=$(detect_ours "$dir/$sys-$a.wav" "$expected")
                else
                    verdict=$(detect_awm "$dir/$sys-$a.wav" "$expected")
                fi
                printf '%s\t%s\t%s\t%s\n' "$name" "$sys" "$a" "$verdict" >>"$results"
            done
        fi
    done

    # Collusion: recipients A (already marked), B and C; averaged and spliced copies.
    if [ "$index" -lt "$COLLUSION_TRACKS" ] && [ "$excerpt_frames" -ge $((20 * rate)) ]; then
        local b c ids kind
        b=$((id + 1))
        c=$((id + 2))
        "$TOOL" embed "$orig" "$dir/ours-b.wav" --key "$KEY" --id "$b" >/dev/null
        "$TOOL" embed "$orig" "$dir/ours-c.wav" --key "$KEY" --id "$c" >/dev/null
        for x in b c; do
            sox "$dir/ours-$x.wav" "$dir/ours-$x-ex.wav" trim "${start}s" "${excerpt_frames}s"
        done
        "$TOOL" average "$dir/avg2.wav" "$dir/ours-ex.wav" "$dir/ours-b-ex.wav" >/dev/null
        "$TOOL" average "$dir/avg3.wav" "$dir/ours-ex.wav" "$dir/ours-b-ex.wav" "$dir/ours-c-ex.wav" >/dev/null
        "$TOOL" splice "$dir/splice2.wav" --segment-seconds 4 "$dir/ours-ex.wav" "$dir/ours-b-ex.wav" >/dev/null
        "$TOOL" splice "$dir/splice3.wav" --segment-seconds 4 "$dir/ours-ex.wav" "$dir/ours-b-ex.wav" "$dir/ours-c-ex.wav" >/dev/null
        for kind in avg2 avg3 splice2 splice3; do
            if [[ $kind == *2 ]]; then ids=$id,$b; else ids=$id,$b,$c; fi
            # Leaked copies are usually re-encoded too.
            attack mp3-128 "$dir/$kind.wav" "$dir/$kind-mp3.wav"
            printf '%s\tours\tcollusion-%s\t%s\n' "$name" "$kind" \
                "$("$TOOL" score "$dir/$kind-mp3.wav" --key "$KEY" --ids "$ids" --innocents 1000)" >>"$results"
        done
    fi
    # Keep the marked full tracks for the wrong-key sweep; drop the rest.
    find "$dir" -type f ! -name ours.wav -delete
    touch "$dir/done"
}

if [ "${1:-}" = track ]; then
    if [ "${RESUME:-0}" = 1 ] && [ -f "$WORK/tracks/$3/done" ]; then exit 0; fi
    track_job "$2" "$3"
    exit 0
fi

echo "building wmtool (release)..." >&2
(cd "$ROOT" && cargo build --quiet --release -p studiovault-watermark --example wmtool)
mkdir -p "$WORK/corpus" "$WORK/results" "$WORK/tracks"
cp "$CARGO_TARGET_DIR/release/examples/wmtool" "$TOOL.new" && mv -f "$TOOL.new" "$TOOL"
[ "${RESUME:-0}" = 1 ] || rm -rf "$WORK"/results/*.tsv "$WORK"/tracks/*
if have_awm; then
    [ -f "$WORK/awm.key" ] || audiowmark gen-key "$WORK/awm.key" >/dev/null
    echo "audiowmark: $(audiowmark --version 2>&1 | head -1)" >&2
else
    echo "audiowmark not on PATH: benchmarking studiovault-watermark alone" >&2
fi

echo "preparing corpus..." >&2
names=()
for f in "$MUSIC"/*.ogg; do
    n=$(basename "$f" .ogg)
    [ -f "$WORK/corpus/$n.wav" ] || ffmpeg -v error -y -i "$f" -ar 44100 -ac 2 -c:a pcm_s16le "$WORK/corpus/$n.wav"
    names+=("$n")
done
for kind in sine-melody piano sparse; do
    [ -f "$WORK/corpus/synth-$kind.wav" ] || "$TOOL" synth "$WORK/corpus/synth-$kind.wav" --kind "$kind" --seconds 60 >/dev/null
    names+=("synth-$kind")
done

[ "$TRACKS" -lt "${#names[@]}" ] && names=("${names[@]:0:$TRACKS}")
echo "running ${#names[@]} tracks, $JOBS at a time..." >&2
for index in "${!names[@]}"; do
    echo "$index ${names[$index]}"
done | xargs -P "$JOBS" -n 2 "$0" track

echo "false positives..." >&2
unmarked=()
for n in "${names[@]}"; do unmarked+=("$WORK/corpus/$n.wav"); done
half=$((FP_EXCERPTS / 2))
"$TOOL" false-positives --key "$KEY" --count "$half" --seconds 10 "${unmarked[@]}" >"$WORK/results/fp-unmarked-a.txt" &
"$TOOL" false-positives --key "$KEY" --count $((FP_EXCERPTS - half)) --first "$half" --seconds 10 "${unmarked[@]}" >"$WORK/results/fp-unmarked-b.txt"
wait
"$TOOL" false-positives --key "$OTHER_KEY" --count 200 --seconds 10 "$WORK"/tracks/*/ours.wav >"$WORK/results/fp-wrong-key.txt"

python3 "$HERE/summarize.py" "$WORK" | tee "$WORK/summary.md"

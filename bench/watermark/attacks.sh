# The attacks the watermark benchmarks put marked excerpts through: attack NAME IN OUT.
# Sourced by run.sh and tonal.sh; needs lame, ffmpeg, sox and $TOOL (wmtool) for some attacks.

attack() { # attack NAME IN OUT
    local name=$1 in=$2 out=$3 tmp=${3%.wav}
    case $name in
    crop) cp "$in" "$out" ;;
    mp3-128 | mp3-64)
        lame --quiet -b "${name#mp3-}" "$in" "$tmp.mp3"
        lame --quiet --decode "$tmp.mp3" "$out" ;;
    aac-128)
        ffmpeg -v error -y -i "$in" -c:a aac -b:a 128k "$tmp.m4a"
        ffmpeg -v error -y -i "$tmp.m4a" "$out" ;;
    opus-64) # decodes at 48 kHz, as Opus does
        ffmpeg -v error -y -i "$in" -c:a libopus -b:a 64k "$tmp.opus"
        ffmpeg -v error -y -i "$tmp.opus" "$out" ;;
    vorbis-q2)
        ffmpeg -v error -y -i "$in" -c:a libvorbis -q:a 2 "$tmp.ogg"
        ffmpeg -v error -y -i "$tmp.ogg" "$out" ;;
    resample-48k) sox "$in" "$out" rate -v 48000 ;;
    vol+6) sox -V1 "$in" "$out" vol 2 ;; # clips where the music is loud: that is part of it
    vol-6) sox "$in" "$out" vol 0.5 ;;
    lowpass) sox "$in" "$out" lowpass 4410 ;; # 10 % of the sample rate, 2-pole
    eq) sox -V1 "$in" "$out" bass +6 treble -6 equalizer 1000 1q +4 equalizer 3000 1q -4 ;;
    pink-noise-20db) "$TOOL" pink-noise "$in" "$out" --snr 20 --seed 7 >/dev/null ;;
    mono) ffmpeg -v error -y -i "$in" -ac 1 "$out" ;;
    speed+2) sox "$in" "$out" speed 1.02 rate -v 44100 ;;
    speed-2) sox "$in" "$out" speed 0.98 rate -v 44100 ;;
    *) echo "unknown attack $name" >&2; return 1 ;;
    esac
}

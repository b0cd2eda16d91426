"""Benchmark: cold and warm builds of the flagship against the encode floor, and peak memory of 60 minutes.

Run with `make bench` (or `.venv/bin/python scripts/bench.py [--runs N]`). Shared machines are noisy,
so every figure is the median of several runs, and the targets are ratios measured in the same run:
    warm build <= 1.3x the encode floor; cold build <= 2x; a 60-minute session < 300 MB peak memory.
The encode floor is the time the same encoder settings take to encode the finished audio alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from pathlib import Path

from audioguide.export.encode import encode_file
from audioguide.export.formats import FORMATS
from audioguide.pipeline.build import BuildOptions, build, make_plan
from audioguide.render.mixer import Mixer, master

ROUTINE = "lower-back-10min"
AMBIENCE = "brown-noise"
LONG_ROUTINE = """\
title: One Hour Benchmark
duration: ~60m  # about an hour: holds keep their doses, so the length is the nearest achievable
steps:
""" + "".join(
    textwrap.dedent(f"""\
      - pose: knee-to-chest
        hold: {20 + i % 3 * 5}s
      - pose: pelvic-tilt
        reps: 10
        tempo: 4s
      - pose: childs-pose
        hold: 6 breaths
      - rest: 20s
    """)
    for i in range(12)
)
MEMORY_CHILD = """
import re, sys
from dataclasses import replace
from pathlib import Path
from audioguide.pipeline.build import BuildOptions, build
build(sys.argv[1], BuildOptions(output=Path(sys.argv[2]), cache_dir=Path(sys.argv[3])))
# VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's (the bench's own) size.
print(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
"""


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median is reported)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="audioguide-bench-"))
    out = work / "session.mp3"

    # Warm the interpreter (imports, lazily built tables) so that it is not billed to the first run.
    build(ROUTINE, BuildOptions(output=out, cache_dir=work / "warmup-cache"))

    cold = [
        timed(lambda i=i: build(ROUTINE, BuildOptions(output=out, cache_dir=work / f"cold-{i}")))
        for i in range(args.runs)
    ]
    warm_cache = work / "cold-0"
    warm = [
        timed(lambda: build(ROUTINE, BuildOptions(output=out, cache_dir=warm_cache)))
        for _ in range(args.runs)
    ]

    def floor_of(options: BuildOptions) -> list[float]:
        """Encode-only times for the finished audio of ``options`` (same encoder settings)."""
        plan = make_plan(ROUTINE, options)
        render = replace(options.render, ambience=options.ambience or "none")
        mixer = Mixer(plan.timeline, {c.key: c.samples for c in plan.clips.values()}, render)
        stream, _ = master(mixer, FORMATS["mp3"].headroom_db)
        finished = list(stream)  # in memory, so the floor times the encoder alone
        return [timed(lambda: encode_file(work / "floor.mp3", finished, "mp3")) for _ in range(args.runs)]

    floor = floor_of(BuildOptions(cache_dir=warm_cache))
    ambient = BuildOptions(output=out, cache_dir=warm_cache, ambience=AMBIENCE)
    warm_ambience = [timed(lambda: build(ROUTINE, ambient)) for _ in range(args.runs)]
    floor_ambience = floor_of(ambient)
    plan = make_plan(ROUTINE, BuildOptions(cache_dir=warm_cache))
    audio_s = plan.timeline.length_samples / plan.timeline.sample_rate

    long_yaml = work / "one-hour.yaml"
    long_yaml.write_text(LONG_ROUTINE, encoding="utf-8")
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_CHILD,
            str(long_yaml),
            str(work / "long.mp3"),
            str(work / "long-cache"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    peak_mb = int(child.stdout.strip().splitlines()[-1]) / 1024

    env = {**os.environ, "AUDIOGUIDE_CACHE": str(warm_cache)}
    command = [sys.executable, "-m", "audioguide.cli", "build", ROUTINE, "-q", "-o", str(out)]
    cli = [
        timed(lambda: subprocess.run(command, check=True, capture_output=True, env=env))
        for _ in range(args.runs)
    ]

    def cold_cli(voice: str, k: int) -> float:
        cache = work / f"cold-cli-{voice}-{k}"
        cold_env = {**os.environ, "AUDIOGUIDE_CACHE": str(cache)}
        argv = [*command[:-2], "--voice", voice, "-o", str(out)]
        return timed(lambda: subprocess.run(argv, check=True, capture_output=True, env=cold_env))

    cold_neural = [cold_cli("default", k) for k in range(args.runs)]
    cold_espeak = [cold_cli("espeak", k) for k in range(args.runs)]

    med = statistics.median
    m_floor = med(floor)

    def row(label: str, seconds: float, versus: float, target: str = "") -> None:
        print(f"  {label:38} {seconds:6.2f} s   ratio {seconds / versus:4.2f}x floor  {target}")

    print(f"flagship {ROUTINE}: {audio_s:.3f} s of audio; medians of {args.runs} runs")
    print(
        f"  {'encode floor (mp3, same settings)':38} {m_floor:6.2f} s   ({audio_s / m_floor:.0f}x real time)"
    )
    row("warm build (cached speech)", med(warm), m_floor, "(target <= 1.3x)")
    row("cold build (empty speech cache)", med(cold), m_floor, "(target <= 2x)")
    row(f"warm build, ambience {AMBIENCE}", med(warm_ambience), m_floor, "(vs the plain floor)")
    row(
        "  the same vs its own encode floor",
        med(warm_ambience),
        med(floor_ambience),
        f"(floor {med(floor_ambience):.2f} s: LAME works harder when nothing is silent)",
    )
    print(
        f"  {'warm build via the CLI (one process)':38} {med(cli):6.2f} s   (includes interpreter start-up)"
    )
    row("cold build via the CLI, neural voice", med(cold_neural), m_floor, "(target <= 3x)")
    row("cold build via the CLI, eSpeak voice", med(cold_espeak), m_floor, "(target <= 2x)")
    print(f"about-60-minute routine: peak memory {peak_mb:.0f} MB (target < 300 MB)")
    print(
        f"raw runs: cold={[round(x, 2) for x in cold]} warm={[round(x, 2) for x in warm]} "
        f"floor={[round(x, 2) for x in floor]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

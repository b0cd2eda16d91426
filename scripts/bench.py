"""Benchmark what users run: whole `audioguide` CLI processes against the bare-LAME floor.

Run with `make bench` (or `.venv/bin/python scripts/bench.py [--runs N] [--quick]`).

The floor is a separate Python process that only reads the flagship's finished PCM and encodes it with
the lameenc wheel at the build's bitrate and quality: what any tool that writes this MP3 must pay.
Rounds are interleaved (floor, warm, cold eSpeak, cold neural in each), and each figure is the median
of the per-round ratios, so a busy moment on a shared machine hits a build and its floor alike.
CPU seconds (user + system of the child and everything it waited for, from os.wait4) are the verdict
for builds: wall time on a shared machine measures the neighbours. Wall ratios are printed beside them.

Targets: warm build <= 1.3x the floor; cold build <= 2x with the eSpeak voice and <= 3x with the
neural voice; a series rebuild with nothing to do <= 0.5 s CPU; the peak memory of a 120-minute
session no more than a 10-minute one plus 30 MiB, and both under 250 MiB with the eSpeak voice.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

# This process imports nothing heavy: a child's peak RSS (ru_maxrss) starts from its parent's size at
# fork, so the bench stays small and the flagship's PCM is made by a child of its own (make_pcm).

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("audioguide")
ROUTINE = "lower-back-10min"
BITRATE_KBPS = 64  # the build's default for mono
MP3_QUALITY = 2  # audioguide.export.encode.MP3_QUALITY (not imported here: see below); checked in make_pcm
SERIES = ROOT / "tests" / "data" / "series" / "backcare" / "series.yaml"
MEMORY_SLACK_MIB = 30.0
MEMORY_LIMIT_MIB = 250.0

FLOOR_CHILD = """
import sys, lameenc
pcm = open(sys.argv[1], "rb").read()
lame = lameenc.Encoder()
lame.set_bit_rate(int(sys.argv[2])); lame.set_in_sample_rate(44100); lame.set_out_sample_rate(44100)
lame.set_channels(1); lame.set_quality(int(sys.argv[3])); lame.silence()
open(sys.argv[4], "wb").write(lame.encode(pcm) + lame.flush())
"""


def long_routine(minutes: int) -> str:
    """A routine of about ``minutes`` minutes: the same four steps over and over."""
    rounds = max(1, minutes // 5)
    steps = "".join(
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
        for i in range(rounds)
    )
    return f"title: Benchmark {minutes} minutes\nduration: ~{minutes}m\nsteps:\n{steps}"


CHILD_CPU = [0.0]
"""CPU seconds of every child ``run`` has waited for, so that what others used can be told apart."""


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    max_rss_mib: float


def run(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a child to completion; its wall time, and CPU seconds and peak RSS from its own rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{err.decode(errors='replace')}")
    CHILD_CPU[0] += usage.ru_utime + usage.ru_stime
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy since boot (Linux /proc/stat; 0 elsewhere): what
    other processes use while the bench runs is this, less what the bench's own children used."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def build_argv(cli: str, out: Path, *extra: str, routine: str = ROUTINE) -> list[str]:
    return [cli, "build", routine, *extra, "-q", "-o", str(out)]


def make_pcm(cache: Path, path: Path) -> None:
    """Write the flagship's finished PCM as the MP3 writer hands it to LAME (run in a child)."""
    import numpy as np

    from audioguide.export.encode import LAME_INPUT_SCALE, to_int16
    from audioguide.export.encode import MP3_QUALITY as BUILD_QUALITY
    from audioguide.export.formats import FORMATS
    from audioguide.pipeline.build import BuildOptions, make_plan
    from audioguide.render.mixer import Mixer, RenderOptions, master

    if BUILD_QUALITY != MP3_QUALITY:
        raise SystemExit(f"the builds encode at LAME quality {BUILD_QUALITY}: set MP3_QUALITY to match")
    plan = make_plan(ROUTINE, BuildOptions(cache_dir=cache))
    mixer = Mixer(plan.timeline, {c.key: c.samples for c in plan.clips.values()}, RenderOptions())
    stream, _ = master(mixer, FORMATS["mp3"].headroom_db)
    gain = np.float32(1.0 / LAME_INPUT_SCALE[BITRATE_KBPS])
    with path.open("wb") as fh:
        for block in stream:
            fh.write(to_int16(block * gain).tobytes())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds (medians are reported)")
    parser.add_argument("--quick", action="store_true", help="one round, and no cold neural build")
    parser.add_argument("--cli", type=Path, default=CLI, help="the audioguide command to time")
    parser.add_argument("--make-pcm", nargs=2, metavar=("CACHE", "PCM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_pcm:
        make_pcm(Path(args.make_pcm[0]), Path(args.make_pcm[1]))
        return 0
    runs = 1 if args.quick else args.runs
    cli = str(args.cli)
    work = Path(tempfile.mkdtemp(prefix="audioguide-bench-"))
    out = work / "session.mp3"
    warm_cache = work / "warm-cache"
    env = {**os.environ, "AUDIOGUIDE_CACHE": str(warm_cache)}
    print(f"{'(quick) ' if args.quick else ''}audioguide bench, {runs} round(s), scratch in {work}")
    print("  machine: the verdicts use CPU seconds; on a shared machine wall time includes the neighbours")

    # An installed audioguide has its bytecode compiled (pip does it); an editable one may not, and where
    # PYTHONDONTWRITEBYTECODE is set each command would compile it again. Time what users run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "audioguide")], check=True)

    # Populate the warm cache (neural and eSpeak speech, rotated clips, cover), then the floor's PCM.
    run(build_argv(cli, out), env)
    run(build_argv(cli, out, "--voice", "espeak"), env)
    pcm = work / "flagship.pcm"
    run([sys.executable, __file__, "--make-pcm", str(warm_cache), str(pcm)])
    seconds = pcm.stat().st_size / 2 / 44_100
    floor_argv = [sys.executable, "-c", FLOOR_CHILD, str(pcm), str(BITRATE_KBPS), str(MP3_QUALITY)]
    floor_argv.append(str(work / "floor.mp3"))

    rows: dict[str, list[Run]] = {"floor": [], "warm": [], "cold espeak": [], "cold neural": []}
    noop: list[Run] = []
    started, started_cpu, started_children = time.perf_counter(), machine_cpu(), CHILD_CPU[0]
    started_self = os.times().user + os.times().system
    for r in range(runs):
        rows["floor"].append(run(floor_argv))
        rows["warm"].append(run(build_argv(cli, out), env))
        cold_env = {**os.environ, "AUDIOGUIDE_CACHE": str(work / f"cold-espeak-{r}")}
        rows["cold espeak"].append(run(build_argv(cli, out, "--voice", "espeak"), cold_env))
        if not args.quick:
            cold_env = {**os.environ, "AUDIOGUIDE_CACHE": str(work / f"cold-neural-{r}")}
            rows["cold neural"].append(run(build_argv(cli, out), cold_env))
        for name in ("cold-espeak", "cold-neural"):
            shutil.rmtree(work / f"{name}-{r}", ignore_errors=True)

    # The series no-op: build once, then time a rebuild that has nothing to do.
    site = work / "site"
    series_argv = [cli, "series", "build", str(SERIES), "-q", "-o", str(site), "--engine", "espeak"]
    run(series_argv, env)
    noop += [run(series_argv, env) for _ in range(runs)]

    # Memory: 10 and 120 minutes with the eSpeak voice (warm speech), and 10 minutes neural.
    memory: dict[str, float] = {}
    for minutes in (10, 120):
        routine = work / f"bench-{minutes}.yaml"
        routine.write_text(long_routine(minutes), encoding="utf-8")
        argv = build_argv(cli, work / "m.mp3", "--voice", "espeak", routine=str(routine))
        run(argv, env)  # the speech is cached: the second build is the one measured
        memory[f"{minutes} min eSpeak"] = run(argv, env).max_rss_mib
    memory["10 min neural (flagship)"] = statistics.median(r.max_rss_mib for r in rows["warm"])

    med = statistics.median
    floor = rows["floor"]
    verdicts: list[bool] = []

    def ratio_row(label: str, name: str, target: float) -> None:
        builds = rows[name]
        if not builds:
            print(f"  {label:34} (skipped)")
            return
        cpu = med(b.cpu / f.cpu for b, f in zip(builds, floor, strict=False))
        wall = med(b.wall / f.wall for b, f in zip(builds, floor, strict=False))
        ok = cpu <= target
        verdicts.append(ok)
        seconds_cpu, seconds_wall = med(b.cpu for b in builds), med(b.wall for b in builds)
        print(
            f"  {label:34} cpu {seconds_cpu:6.2f} s  {cpu:4.2f}x floor (target <= {target:g}x) "
            f"{'PASS' if ok else 'FAIL'}   wall {seconds_wall:6.2f} s  {wall:4.2f}x"
        )

    print(
        f"flagship {ROUTINE}: {seconds:.1f} s of audio, MP3 {BITRATE_KBPS} kbps, LAME quality {MP3_QUALITY}"
    )
    print(
        f"  {'floor: bare LAME on the same PCM':34} cpu {med(f.cpu for f in floor):6.2f} s"
        f"{'':36}wall {med(f.wall for f in floor):6.2f} s"
    )
    ratio_row("warm build (cached speech)", "warm", 1.3)
    ratio_row("cold build, eSpeak voice", "cold espeak", 2.0)
    ratio_row("cold build, neural voice", "cold neural", 3.0)
    noop_cpu = med(n.cpu for n in noop)
    verdicts.append(noop_cpu <= 0.5)
    print(
        f"  {'series rebuild, nothing to do':34} cpu {noop_cpu:6.2f} s  (target <= 0.5 s) "
        f"{'PASS' if noop_cpu <= 0.5 else 'FAIL'}   wall {med(n.wall for n in noop):6.2f} s"
    )
    short, long = memory["10 min eSpeak"], memory["120 min eSpeak"]
    mem_ok = long <= short + MEMORY_SLACK_MIB and max(short, long) < MEMORY_LIMIT_MIB
    verdicts.append(mem_ok)
    print(
        f"  {'peak memory, eSpeak':34} 10 min {short:5.0f} MiB, 120 min {long:5.0f} MiB "
        f"(target: 120 <= 10 + {MEMORY_SLACK_MIB:g}, both < {MEMORY_LIMIT_MIB:g}) "
        f"{'PASS' if mem_ok else 'FAIL'}"
    )
    print(f"  {'peak memory, neural (10 min)':34} {memory['10 min neural (flagship)']:5.0f} MiB (reported)")
    own = os.times()
    others = (
        machine_cpu()
        - started_cpu
        - (CHILD_CPU[0] - started_children)
        - (own.user + own.system - started_self)
    )
    elapsed = time.perf_counter() - started
    share = others / (elapsed * (os.cpu_count() or 1))
    print(
        f"  machine: other processes used {share:.0%} of its {os.cpu_count()} cores while the builds ran "
        + (
            "(quiet here; a busy host, which a virtual machine cannot see, still slows every line)"
            if share <= 0.05
            else "(busy: the wall times and, less, the CPU ratios carry their load)"
        )
    )
    print(
        "raw (cpu s / wall s): "
        + "; ".join(f"{k}=" + ",".join(f"{x.cpu:.2f}/{x.wall:.2f}" for x in v) for k, v in rows.items() if v)
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())

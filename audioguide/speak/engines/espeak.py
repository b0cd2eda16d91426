"""Direct libespeak-ng engine in synchronous mode: fast, deterministic, no races (the Linux default)."""

from __future__ import annotations

import ctypes
import ctypes.util
import difflib
import functools
import os
import re
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from audioguide.errors import SpeechError

# espeak_AUDIO_OUTPUT and espeak_PARAMETER values, from speak_lib.h.
AUDIO_OUTPUT_SYNCHRONOUS = 2
CHARS_UTF8 = 1
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH = 1, 2, 3
EE_OK = 0
NOISE_SEED = 0
"""eSpeak NG seeds its noise generator from the clock when it starts (espeak_ng_Initialize calls
espeak_srand(time(NULL))), and voices that breathe (the +f3 variant of the 'bright' profile) or use the
Klatt synthesizer draw from it: the same phrase came out differently from one second to the next.
Every phrase is spoken from this seed instead."""

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _bundled() -> tuple[str, str] | None:
    """(library, data folder) from the espeakng-loader wheel, if installed."""
    try:  # an optional wheel (Linux only): the system library serves where it is missing
        import espeakng_loader
    except ImportError:
        return None
    lib = Path(espeakng_loader.get_library_path())
    data = Path(espeakng_loader.__file__).parent / "espeak-ng-data"
    if lib.is_file() and (data / "phontab").is_file():
        return str(lib), str(data)
    return None


@functools.cache
def _system_library() -> str | None:
    """The system's libespeak-ng by name, once per process: where it is not installed, find_library
    runs ldconfig, gcc and ld to be sure (10 ms of CPU), and a build's parent asked twice."""
    return ctypes.util.find_library("espeak-ng")


def library_path() -> tuple[str, str | None] | None:
    """(library, data folder or None for the library's default), preferring the system's library."""
    system = _system_library()
    if system:
        return system, None
    return _bundled()


_lock = threading.Lock()
_state: dict[str, object] = {}

REWOUND_VERSIONS = ("1.52.0",)
"""libespeak-ng versions whose state between phrases has been examined (see ``_Rewind``)."""
CARRIED_STATE = ("Flutter_ix", "cycle_count", "wavephase", "agc", "rbreath")
"""The wave generator's variables that survive from one phrase to the next (see ``_Rewind``)."""
COUNTERS_AT_LOAD = {"Flutter_ix": 0, "cycle_count": 0, "wavephase": 0x7FFFFFFF, "agc": 256}
"""The ``int`` ones' values once 1.52.0 has initialised (wavegen.c); ``rbreath`` is nine resonators
(doubles a, b, c, x1, x2) whose memory, x1 and x2, is still zero. The symbols found must hold these
before the rewind trusts them."""
_CARRIED_NAME = re.compile(rf"(?:\w+\.)?({'|'.join(CARRIED_STATE)})(?:\.\d+)?")
"""A carried variable's symbol: GCC names a function's static "name.123", clang "function.name"."""
STT_OBJECT, STT_FUNC, STB_GLOBAL = 1, 2, 1  # ELF symbol types (data, code) and binding


class _Rewind:
    """Sets back what eSpeak NG 1.52 carries from one phrase to the next, so that a phrase spoken after
    others gives the samples it gives in a fresh process.

    Every phrase selects its voice again (``espeak_SetVoiceByName``), which rebuilds the translator and
    resets the wave generator's voice, echo buffer, formants and amplitude; each clause resets the
    frame and pitch bookkeeping, and each segment of sound its harmonics; the noise generator is seeded
    per phrase (NOISE_SEED). What survives, in wavegen.c, is: the position in the pitch-flutter table
    (``Flutter_ix``), the glottal-cycle count that paces roughness (``cycle_count``), the phase of the
    glottal cycle (``wavephase``; a pause resets it, but a phrase may start without one), the gain that
    an overflow lowered (``agc``, for loud variants such as +iven), and the memory of the breath
    resonators (``rbreath``, for voices that breathe, such as +f3). Without this, 101 of the
    flagship's 102 phrases spoken one after another in one process came out a few to a few hundred
    samples longer or shorter than in a fresh process; with these set back to their bytes at load,
    all 426 phrases of the built-in routines are the same bytes with the three eSpeak profiles, at two
    rates, in shuffled orders, and so are 40 with each of the 85 other variants. Klatt voices keep more
    (their filters and glottal source), so they are not rewound (``repeatable``).

    The variables are static: their addresses come from the library's symbol table (.symtab), read
    from the file this process mapped (same inode), and are used only if each name is found once and
    holds its value at initialisation (COUNTERS_AT_LOAD). A stripped library has no .symtab; then, or
    for another version, there is nothing to rewind with, ``load`` returns None, and every phrase is
    spoken in a fresh child as before."""

    def __init__(self, regions: list[tuple[int, int]]) -> None:
        self.regions = [(address, ctypes.string_at(address, size)) for address, size in regions]

    @classmethod
    def load(cls, lib: ctypes.CDLL, version: str) -> _Rewind | None:
        """The rewind for ``lib`` as loaded in this process, before it has spoken; None where its
        version was not examined or its symbol table does not name each variable exactly once."""
        if version not in REWOUND_VERSIONS:
            return None
        entry = ctypes.cast(lib.espeak_Synth, ctypes.c_void_p).value or 0
        mapped = _mapped_file(entry)
        if mapped is None:
            return None
        path, inode = mapped

        def carried(name: str) -> str | None:
            found = _CARRIED_NAME.fullmatch(name)
            return found.group(1) if found else None

        try:
            with open(path, "rb") as image:
                if os.fstat(image.fileno()).st_ino != inode:  # not the file this process loaded
                    return None
                symbols = _elf_symbols(image.read(), lambda n: n == "espeak_Synth" or carried(n) is not None)
        except (OSError, ValueError, struct.error):
            return None
        synth = [value for name, value, _, kind in symbols if name == "espeak_Synth" and kind == STT_FUNC]
        found = {
            wanted: [
                (value, size)
                for name, value, size, kind in symbols
                if kind == STT_OBJECT and carried(name) == wanted
            ]
            for wanted in CARRIED_STATE
        }
        if len(synth) != 1 or any(len(places) != 1 or places[0][1] == 0 for places in found.values()):
            return None
        bias = entry - synth[0]  # where the library was loaded
        regions = [(bias + found[wanted][0][0], found[wanted][0][1]) for wanted in CARRIED_STATE]
        for wanted, (address, size) in zip(CARRIED_STATE, regions, strict=True):
            if not _as_loaded(wanted, ctypes.string_at(address, size)):
                return None  # not the variables the sources describe: leave them alone
        return cls(regions)

    def __call__(self) -> None:
        for address, initial in self.regions:
            ctypes.memmove(address, initial, len(initial))


def _as_loaded(name: str, data: bytes) -> bool:
    """Whether ``data`` is what variable ``name`` holds once libespeak-ng 1.52.0 has initialised."""
    if name == "rbreath":
        return len(data) == 9 * 40 and all(data[i + 24 : i + 40] == bytes(16) for i in range(0, 360, 40))
    return len(data) == 4 and int.from_bytes(data, "little", signed=True) == COUNTERS_AT_LOAD[name]


def _elf_symbols(image: bytes, wanted: Callable[[str], bool]) -> list[tuple[str, int, int, int]]:
    """(name, value, size, type) of the symbols in the .symtab of a 64-bit little-endian ELF file whose
    names ``wanted`` accepts; none when it has no .symtab (stripped). ValueError when it is not such
    a file. Only data and exported code are looked at (1 ms for eSpeak NG's)."""
    if image[:6] != b"\x7fELF\x02\x01":
        raise ValueError("not a 64-bit little-endian ELF file")
    (section_offset,) = struct.unpack_from("<Q", image, 0x28)
    entry_size, count = struct.unpack_from("<HH", image, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", image, section_offset + i * entry_size) for i in range(count)
    ]
    out = []
    for _, section_type, _, _, offset, size, link, _, _, _ in sections:
        if section_type != 2:  # SHT_SYMTAB
            continue
        names = sections[link][4]
        for name, info, _, _, value, length in struct.iter_unpack("<IBBHQQ", image[offset : offset + size]):
            kind = info & 0xF
            if kind != STT_OBJECT and not (kind == STT_FUNC and info >> 4 == STB_GLOBAL):
                continue
            text = image[names + name : image.index(b"\0", names + name)].decode(errors="replace")
            if wanted(text):
                out.append((text, value, length, kind))
    return out


def _mapped_file(address: int) -> tuple[str, int] | None:
    """The file mapped at ``address`` in this process and its inode (from /proc/self/maps), or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                low, _, high = fields[0].partition("-")
                if len(fields) == 6 and int(low, 16) <= address < int(high, 16):
                    return fields[5].strip(), int(fields[4])
    except (OSError, ValueError):
        pass
    return None


def _load() -> tuple[ctypes.CDLL, int]:
    """Load and initialise libespeak-ng once per process; return (library, sample rate)."""
    if "lib" in _state:
        return _state["lib"], _state["rate"]  # type: ignore[return-value]
    found = library_path()
    if found is None:
        raise SpeechError(
            "libespeak-ng is not available: run 'make setup' (installs the espeakng-loader wheel) "
            "or install your system's espeak-ng package"
        )
    lib_path, data = found
    if data is not None:
        # libespeak-ng exits the whole process when it cannot find its data, so check first.
        if not (Path(data) / "phontab").is_file():
            raise SpeechError(f"eSpeak NG voice data is missing at {data}")
        os.environ["ESPEAK_DATA_PATH"] = data
    try:
        lib = ctypes.CDLL(lib_path, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise SpeechError(f"cannot load libespeak-ng from {lib_path}: {exc}") from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    seed = getattr(lib, "espeak_ng_SetRandSeed", None)  # since 1.52; older ones use the C library's rand()
    if seed is not None:
        seed.restype = ctypes.c_int
        seed.argtypes = [ctypes.c_long]
    home = str(Path(data).parent).encode() if data else None
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, home, 0)
    if rate <= 0:
        raise SpeechError(f"libespeak-ng failed to initialise (from {lib_path})")
    path_data = ctypes.c_char_p()
    version = (lib.espeak_Info(ctypes.byref(path_data)) or b"?").decode()
    _state.update(lib=lib, rate=rate, version=version, data=(path_data.value or b"").decode(), seed=seed)
    _state["rewind"] = _Rewind.load(lib, version)  # now, before this process has spoken
    return lib, rate


def _uses_klatt(voice: str) -> bool:
    """Whether ``voice``'s variant selects the Klatt synthesizer (or cannot be read to tell)."""
    _, plus, variant = voice.partition("+")
    if not plus:
        return False
    try:
        text = (Path(str(_state["data"])) / "voices" / "!v" / variant).read_text(errors="replace")
    except OSError:
        return True
    return any(line.split()[:1] == ["klatt"] for line in text.splitlines())


def _variant_names() -> list[str]:
    folder = Path(str(_state["data"])) / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def list_variants() -> list[str]:
    """The voice variants (``+f3``, ``+m2``, ...) this libespeak-ng offers, from its data folder."""
    with _lock:
        _load()
        return _variant_names()


def _check_variant(voice: str) -> None:
    """eSpeak NG ignores an unknown ``+variant`` without a word; refuse it instead (call under _lock)."""
    _, plus, variant = voice.partition("+")
    if not plus:
        return
    if "variants" not in _state:
        _state["variants"] = tuple(_variant_names())
    names: tuple[str, ...] = _state["variants"]  # type: ignore[assignment]
    if names and variant not in names:  # none found: the data folder is unknown, so trust the library
        close = difflib.get_close_matches(variant, names, n=1)
        hint = f"did you mean '+{close[0]}'? " if close else ""
        raise SpeechError(
            f"eSpeak NG has no voice variant '+{variant}' (in '{voice}'); {hint}"
            "'audioguide voices' lists the voices and variants"
        )


def list_voices() -> list[dict[str, str]]:
    """The voices this libespeak-ng offers: id, name, languages, gender."""
    with _lock:
        lib, _ = _load()
        voices = lib.espeak_ListVoices(None)
        out = []
        i = 0
        while voices[i]:
            v = voices[i].contents
            langs = v.languages[1:].split(b"\0", 1)[0].decode(errors="replace") if v.languages else ""
            gender = {1: "male", 2: "female"}.get(v.gender, "")
            out.append(
                {
                    "id": (v.identifier or b"").decode(),
                    "name": (v.name or b"").decode(),
                    "language": langs,
                    "gender": gender,
                }
            )
            i += 1
    return out


class EspeakEngine:
    """Speech through libespeak-ng's synchronous API, one utterance at a time under a lock."""

    name = "espeak"

    def __init__(self) -> None:
        _load()

    def identity(self) -> str:
        return f"espeak-ng {_state['version']}"

    def prepare(self, settings: dict[str, object]) -> None:
        """Load the voice now, in the worker, so that the phrase children forked from it do not each
        load it again (0.25 of the 0.9 CPU s that the flagship's 102 children took). The children
        still select it themselves; their samples are the same bytes as without this (measured on
        the flagship's 102 phrases)."""
        with _lock:
            lib, _ = _load()
            voice = str(settings.get("voice", "en-us"))
            _check_variant(voice)
            lib.espeak_SetVoiceByName(voice.encode())  # an unknown voice is reported by synthesize

    def repeatable(self, settings: dict[str, object]) -> bool:
        """Whether a phrase spoken with ``settings`` gives the same samples after any other phrase in
        this process as in a fresh one: where the library can be rewound (``_Rewind``) and the voice
        is not a Klatt one. A worker then speaks every phrase in one child instead of forking one per
        phrase (the flagship's 102 forks cost 0.5 CPU s)."""
        voice = str(settings.get("voice", "en-us"))
        with _lock:
            _load()
            return _state["rewind"] is not None and not voice.startswith("mb") and not _uses_klatt(voice)

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        chunks: list[bytes] = []

        def collect(wav: ctypes._Pointer, count: int, events: int) -> int:
            if wav and count > 0:
                chunks.append(ctypes.string_at(wav, count * 2))
            return 0

        callback = _CALLBACK(collect)
        with _lock:
            lib, rate = _load()
            voice = str(settings.get("voice", "en-us")).encode()
            _check_variant(voice.decode())
            if lib.espeak_SetVoiceByName(voice) != EE_OK:
                raise SpeechError(f"eSpeak NG has no voice '{voice.decode()}' (see 'audioguide voices')")
            lib.espeak_SetParameter(PARAM_RATE, int(settings.get("rate", 150)), 0)  # type: ignore[call-overload]
            lib.espeak_SetParameter(PARAM_PITCH, int(settings.get("pitch", 50)), 0)  # type: ignore[call-overload]
            volume = round(100 * float(settings.get("volume", 1.0)))  # type: ignore[arg-type]
            lib.espeak_SetParameter(PARAM_VOLUME, volume, 0)
            lib.espeak_SetSynthCallback(callback)
            if _state["seed"] is not None:
                _state["seed"](NOISE_SEED)  # type: ignore[operator]
            if _state["rewind"] is not None:
                _state["rewind"]()  # type: ignore[operator]
            data = text.encode("utf-8") + b"\0"
            err = lib.espeak_Synth(data, len(data), 0, 1, 0, CHARS_UTF8, None, None)
            lib.espeak_SetSynthCallback(_CALLBACK())
        if err != EE_OK:
            raise SpeechError(f"eSpeak NG failed to speak {text!r} (error {err})")
        pcm = b"".join(chunks)
        if not pcm:
            raise SpeechError(f"eSpeak NG returned no audio for {text!r}")
        return pcm, rate

"""The build's one hook that pyproject.toml cannot hold: the optional C module of the renderer.

audioguide.render._kernels computes exactly what the numpy code beside it computes (see its source),
only faster. It is optional: where no C compiler is found the install goes on without it, and the
numpy code runs instead, to the same bits.
"""

import sys

from setuptools import Extension, setup

# -ffp-contract=off: never fuse a multiply and an add into one rounding, so the C loops round as numpy
# does (gcc fuses by default where the CPU has FMA, clang within an expression). MSVC does not fuse
# unless asked (/fp:contract).
FLAGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]

setup(
    ext_modules=[
        Extension(
            "audioguide.render._kernels",
            ["audioguide/render/_kernels.c"],
            extra_compile_args=FLAGS,
            optional=True,
        )
    ]
)

"""End-to-end ``restyle render`` speed and each stage alone (``restyle bench``) into bench/results/pipeline.json.

    python -m bench.bench_pipeline --label h100 [--sizes 2048x1080,3840x2160] [--frames 64]

Same as ``restyle bench --label h100 --out bench/results/pipeline.json``; see
``inference.pipeline_bench`` for what is measured.
"""
from __future__ import annotations

from inference.pipeline_bench import DEFAULT_CHUNK, run_bench

from .common import RESULTS, bench_parser


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--sizes", default="2048x1080", help="comma-separated WxH list")
    parser.add_argument("--frames", type=int, default=64, help="frames per size")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="render chunk (frames)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--compression", default="zip",
                        help="output EXR compressions, comma list (default zip; renders repeat with each further one)")
    parser.add_argument("--plate-compression", default="zip", help="the generated plate's EXR compression")
    parser.add_argument("--scratch", help="folder for plates and renders (default the system's temporary folder)")
    args = parser.parse_args(argv)
    run_bench(args.sizes.split(","), args.frames, args.chunk, args.device, args.label, RESULTS / "pipeline.json",
              args.compression.split(","), args.plate_compression, args.scratch)


if __name__ == "__main__":
    main()

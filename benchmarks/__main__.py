"""python -m benchmarks: the minidl benchmark suite (see minidl/bench)."""
from minidl.bench import main

raise SystemExit(main())

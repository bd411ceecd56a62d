"""Sum py-spy's collapsed stacks by function: ``python -m deploy.bench.top FILE [N]``.

Prints the functions with the most samples on the stack (inclusive) and at the top (self)."""

from __future__ import annotations

import sys
from collections import Counter


def main() -> None:
    path, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    with open(path, encoding="utf-8", errors="replace") as lines:
        stacks = list(lines)
    for line in stacks:
        stack, _, samples = line.rstrip().rpartition(" ")
        if not samples.isdigit():
            continue
        n = int(samples)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1] if " (" in f else f for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"--- {title}")
        for frame, n in counter.most_common(count):
            print(f"{100 * n / total:5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()

"""kubectl through the deploy's runner: the release namespace and the deploy lock's Lease."""

from __future__ import annotations

from dataclasses import dataclass

from .helm import Completed, Runner


@dataclass(frozen=True)
class Kubectl:
    """kubectl commands against one kube-context (``None``: the current one), through a runner."""

    runner: Runner
    context: str | None = None

    def call(self, *args: str, timeout: float = 120) -> Completed:
        """``kubectl args… [--context X]``; never raises for a non-zero exit."""
        context = ["--context", self.context] if self.context else []
        return self.runner.run(["kubectl", *args, *context], timeout=timeout)

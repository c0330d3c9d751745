"""Safe Helm deploys: the helm/kubectl seam, the per-release lock, recovery and rollback.

One concept per module: :mod:`.helm` (runners, Helm 3/4, error classification), :mod:`.release`
(validate, render, diff, lock, deploy), :mod:`.objects` (rendered Kubernetes objects),
:mod:`.kubeconfig` (contexts, a self-contained copy for the deploy container).
"""

__all__ = ["helm", "kubeconfig", "objects", "release"]

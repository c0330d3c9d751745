"""Safe Helm deploys: the helm/kubectl seam, the per-release lock, recovery and rollback.

One concept per module: :mod:`.helm` (runners, Helm 3/4, error classification), :mod:`.kubectl`
(kubectl through the same runner), :mod:`.lease` (the per-release deploy lock), :mod:`.release`
(validate, render, diff, recover, deploy), :mod:`.objects` (rendered Kubernetes objects),
:mod:`.kubeconfig` (contexts, a self-contained copy for the deploy container).
"""

__all__ = ["helm", "kubeconfig", "kubectl", "lease", "objects", "release"]

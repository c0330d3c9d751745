"""imagefleet: build, test, tag, push and deploy a monorepo of container images.

The package is a library with an Invoke command line on top (:mod:`imagefleet.tasks`). Importing
it loads nothing: each module is imported where it is used, so ``invoke --list`` stays fast.
"""

__all__ = [
    "bake",
    "buildlog",
    "catalog",
    "changes",
    "commits",
    "console",
    "content",
    "deploy",
    "dockerfile",
    "docs",
    "engine",
    "errors",
    "git",
    "graph",
    "lint",
    "localregistry",
    "notify",
    "pipeline",
    "plan",
    "policy",
    "pusherrors",
    "pytest_plugin",
    "reference",
    "registry",
    "release",
    "scan",
    "settings",
    "tags",
    "tasks",
    "testing",
    "textfile",
    "tools",
    "versions",
]

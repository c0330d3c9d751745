"""Checks on images: their tests (exit 7), lint and policy (exit 8), scans (exit 10)."""

from __future__ import annotations

from .base import ExitCode, FleetError

# -- test: 7 -------------------------------------------------------------------------------------


class TestFailure(FleetError):
    """An image's tests failed."""

    __test__ = False  # not a pytest test class, despite the name
    exit_code = ExitCode.TEST


class ChecksFailedError(TestFailure):
    """Structure or pytest checks of the selected images failed."""

    template = "{count} check(s) failed in {images}: {failures}"
    hint_template = "the failed checks are listed above; --junit DIR writes reports for CI"


# -- lint: 8 -------------------------------------------------------------------------------------


class LintFailure(FleetError):
    """hadolint or the fleet policy found problems, or generated docs are out of date."""

    exit_code = ExitCode.LINT


_LINT_HINT = "fix them, or (hadolint) ignore a rule in .hadolint.yaml with the reason in a comment"


class HadolintFindingsError(LintFailure):
    """hadolint found problems (and the policy did not)."""

    template = "{findings} hadolint finding(s) ({codes}) in {images} image(s)"
    hint_template = _LINT_HINT


class PolicyViolationsError(LintFailure):
    """The fleet policy found problems (and hadolint did not)."""

    template = "{violations} policy violation(s) ({rules}) in {images} image(s)"
    hint_template = _LINT_HINT


class LintFindingsError(LintFailure):
    """Both hadolint and the fleet policy found problems."""

    template = (
        "{findings} hadolint finding(s) ({codes}) and {violations} policy violation(s) "
        "({rules}) in {images} image(s)"
    )
    hint_template = _LINT_HINT


class WorkflowWavesError(LintFailure):
    """The publish workflow's wave jobs do not match the fleet (or are not shaped as needed)."""

    template = "{count} problem(s) with the wave jobs of {workflow}: {problems}"
    hint_template = (
        "the publish workflow needs one job per wave of the fleet (`invoke plan --all` shows "
        "the waves); see README, section More than one machine"
    )


class DocsError(LintFailure):
    """Generated docs or catalog entities that no longer match the code (or cannot be made)."""


class DocsDriftError(DocsError):
    """``invoke docs --check``: generated files differ from what the code makes."""

    template = "{count} generated file(s) out of date: {files}"
    hint_template = (
        "run `invoke docs` and commit what it writes (pages and catalog-info.yml come from "
        "images/ and the code)"
    )


class MissingBeginMarkerError(DocsError):
    """A file with a generated region lost its BEGIN marker."""

    template = "{path} has no '# BEGIN GENERATED {name}' line"
    hint_template = (
        "put the generated block back between '# BEGIN GENERATED {name}' and "
        "'# END GENERATED {name}' comment lines (docs/adr/0007-generated-docs-and-catalog.md)"
    )


class MissingEndMarkerError(DocsError):
    """A generated region without its END marker."""

    template = "{path}: '# BEGIN GENERATED {name}' has no '{end_marker}' line after it"
    hint_template = "restore the END marker line"


class CatalogInfoYamlError(DocsError):
    """``catalog-info.yml`` is not YAML."""

    template = "{path}: invalid YAML: {problem}"
    hint_template = "fix the YAML syntax"


class MissingRepositoryComponentError(DocsError):
    """``catalog-info.yml`` lost the repository's own (hand-written) Component."""

    template = "{path} has no Component with a {annotation} annotation"
    hint_template = "the repository's own Component (written by hand) must stay in the file"


class MissingCatalogInfoError(DocsError):
    """No ``catalog-info.yml`` at the root."""

    template = "no {path} at {root}"
    hint_template = (
        "restore it: it holds the repository's own Component and the generated image entities"
    )


class MissingMkdocsConfigError(DocsError):
    """No ``mkdocs.yml`` at the root."""

    template = "no {path} at {root}"
    hint_template = "restore it from git"


class MkdocsBuildError(DocsError):
    """``mkdocs build --strict`` failed."""

    template = "mkdocs build --strict failed (exit code {code})"
    hint_template = (
        "the WARNING lines above name each broken link, missing page or page outside the nav"
    )


# -- scan: 10 ------------------------------------------------------------------------------------


class ScanFindings(FleetError):
    """Findings at or above the --fail-on severity."""

    exit_code = ExitCode.SCAN
    template = "{count} finding(s) at or above {threshold}: {findings}"
    hint_template = "fix them (a leaked secret must also be revoked), or raise --fail-on"


__all__ = [
    "CatalogInfoYamlError",
    "ChecksFailedError",
    "DocsDriftError",
    "DocsError",
    "HadolintFindingsError",
    "LintFailure",
    "LintFindingsError",
    "MissingBeginMarkerError",
    "MissingCatalogInfoError",
    "MissingEndMarkerError",
    "MissingMkdocsConfigError",
    "MissingRepositoryComponentError",
    "MkdocsBuildError",
    "PolicyViolationsError",
    "ScanFindings",
    "TestFailure",
    "WorkflowWavesError",
]

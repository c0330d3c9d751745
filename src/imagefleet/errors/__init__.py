"""Every error the package raises on purpose, grouped by exit code: its exit code, message
template and hint as data.

The task layer is the only place that turns these into output (``error: …`` / ``hint: …``) and
process exit codes; library code raises and never prints. :func:`catalogue` lists every concrete
class, so the docs' error reference is built from the classes themselves. One module per group:
:mod:`.base` (exit codes, the machinery, exit 1), :mod:`.usage`, :mod:`.references` and
:mod:`.files` (2), :mod:`.environment` (3), :mod:`.publish` (4, 5, 6), :mod:`.checks` (7, 8, 10),
:mod:`.deploy` (9).
"""

from . import base, checks, deploy, environment, files, publish, references, usage
from .base import *  # noqa: F403
from .checks import *  # noqa: F403
from .deploy import *  # noqa: F403
from .environment import *  # noqa: F403
from .files import *  # noqa: F403
from .publish import *  # noqa: F403
from .references import *  # noqa: F403
from .usage import *  # noqa: F403

__all__: list[str] = []
__all__ += base.__all__
__all__ += usage.__all__
__all__ += references.__all__
__all__ += files.__all__
__all__ += environment.__all__
__all__ += publish.__all__
__all__ += checks.__all__
__all__ += deploy.__all__

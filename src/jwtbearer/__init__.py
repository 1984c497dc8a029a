"""jwtbearer: server-to-server OAuth 2.0 with JWTs."""

from .assertion import *  # noqa: F403
from .caching import *  # noqa: F403
from .client import *  # noqa: F403
from .client_auth import *  # noqa: F403
from .diagnose import *  # noqa: F403
from .errors import *  # noqa: F403
from .exchange import *  # noqa: F403
from .grants import *  # noqa: F403
from .httpauth import *  # noqa: F403
from .jws import *  # noqa: F403
from .keys import *  # noqa: F403
from .profiles import *  # noqa: F403
from .protocol import *  # noqa: F403
from .stores import *  # noqa: F403
from .token import *  # noqa: F403

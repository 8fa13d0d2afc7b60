"""What every replica of the service does as it starts, whichever deployment it serves."""

import logging
from typing import Optional

log = logging.getLogger("exoray.serve")

__all__ = ["bind_internal_grpc"]


def bind_internal_grpc(host: str) -> Optional[str]:
    """Make this replica's inter-deployment gRPC server listen on ``host``, not on every interface.

    Ray Serve 2.60 starts that server in every replica on ``[::]:0``, a
    hard-coded address with no setting (``ray.serve._private.replica``,
    ``_on_initialized``), although by default it is not even used for
    requests (``RAY_SERVE_USE_GRPC_BY_DEFAULT=0``).  The replica calls
    ``add_port_to_grpc_server`` after the deployment's constructor returns,
    so the constructor replaces that function in the replica module with one
    that binds ``host``: ``"node"`` is the address Ray uses for this node
    (``127.0.0.1`` for exoray's own local instance, the cluster interface on
    a cluster, where other nodes' proxies may call in when gRPC is enabled).
    ``"0.0.0.0"`` or ``"::"`` restores every interface.  Returns the address
    bound, or None when this Ray has no such hook (a warning says so; the
    Serve port test fails on it).
    """
    try:
        from ray.serve._private import replica as replica_module
    except ImportError:  # pragma: no cover - Ray moved its internals
        log.warning("cannot restrict the replica's internal gRPC port: ray.serve._private.replica is gone")
        return None
    original = getattr(replica_module, "add_port_to_grpc_server", None)
    if original is None:  # pragma: no cover - Ray moved its internals
        log.warning("cannot restrict the replica's internal gRPC port: this Ray has no add_port_to_grpc_server")
        return None
    original = getattr(original, "_exoray_original", original)
    if host == "node":
        import ray

        host = ray.util.get_node_ip_address()
    bracketed = f"[{host}]" if ":" in host else host

    def add_port(server, address):
        if address.startswith("[::]:"):
            address = f"{bracketed}:{address.rsplit(':', 1)[1]}"
        return original(server, address)

    add_port._exoray_original = original  # type: ignore[attr-defined]
    replica_module.add_port_to_grpc_server = add_port
    return host

"""uvicorn's server, telling the service where it listens once its socket is bound.

Built by ``reconciler run`` (:mod:`reconciler.cli.serving`) around the app of
:func:`reconciler.app.http.create_app`. uvicorn binds after the app's lifespan has started the
service, and only then is the port known (``--listen 127.0.0.1:0`` picks a free one): this is
the one place that knows it, so the start-up log line that says where the service is (and its
simulated cluster, and the kubeconfig for it) is written from here.
"""

from __future__ import annotations

import socket

import uvicorn

from reconciler.app.service import Service


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:  # the lifespan failed, or the address could not be bound
            return
        bound = self.servers[0].sockets[0].getsockname()
        self.service.serving(str(bound[0]), int(bound[1]))

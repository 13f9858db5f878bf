"""What exists only once the store is open: the runtime's second half, built together in `start()`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from slipway.app.replica import Replica
from slipway.app.shadow import ShadowService
from slipway.gateway.recorder import Recorder
from slipway.rollout.canary_controller import CanaryController
from slipway.rollout.controller import RouteController
from slipway.rollout.operator import RolloutOperator
from slipway.rollout.route_follower import RouteFollower
from slipway.store.database import Store
from slipway.store.route_feed import RouteFeed


class NotStartedError(RuntimeError):
    """Something that needs the store was asked for before `Runtime.start()` finished."""


@dataclass(frozen=True)
class Started:
    """What needs the open store, so exists only from `Runtime.start()` on; built there in this order."""

    store: Store
    recorder: Recorder
    controller: RouteController
    canary: CanaryController
    shadow: ShadowService
    #: Every action a person takes on a rollout goes through it.
    operator: RolloutOperator
    #: Route versions committed by any replica, and what takes them in here.
    route_feed: RouteFeed
    follower: RouteFollower
    #: This process among the replicas: its heartbeat, and its lease on leading the control loops.
    replica: Replica
    #: Applies the config file on every save; None when there is no file or watching is off.
    watch: asyncio.Task[None] | None

"""Every configuration field is documented in docs/config.md (STYLE habit 12)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from slipway.core.config import CanaryConfig, NotifyConfig, RoutingConfig
from slipway.core.drift_config import DriftConfig
from slipway.core.email_config import EmailConfig
from slipway.core.gateway_config import GatewayConfig
from slipway.core.shadow_config import (
    JudgeConfig,
    MirrorConfig,
    ShadowChecksConfig,
    ShadowConfig,
    ShadowDecisionConfig,
)
from slipway.core.slot_config import EngineConfig, SlotConfig, Timeouts

DOC = (Path(__file__).parents[3] / "docs" / "config.md").read_text()


def fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    return [prefix + (info.alias or name) for name, info in model.model_fields.items()]


def test_every_field_is_documented() -> None:
    names = (
        fields(RoutingConfig)
        + fields(SlotConfig)
        + fields(Timeouts, "timeouts.")
        + fields(GatewayConfig)
        + fields(EngineConfig)
        + fields(CanaryConfig)
        + fields(NotifyConfig)
        + fields(EmailConfig, "email.")
        + fields(ShadowConfig)
        + fields(MirrorConfig, "mirror.")
        + fields(ShadowChecksConfig, "checks.")
        + fields(JudgeConfig, "judge.")
        + fields(ShadowDecisionConfig, "decision.")
        + fields(DriftConfig)
    )
    missing = [n for n in names if f"`{n}`" not in DOC]
    assert not missing, f"document these fields in docs/config.md: {missing}"

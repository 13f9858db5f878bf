"""slipway: progressive delivery for fine-tuned LLMs (blue-green, canary, shadow)."""

__version__ = "0.1.0"

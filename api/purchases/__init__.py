"""Price protection: purchases, their claim windows, and the evidence for a claim."""

from __future__ import annotations

from api.purchases.controller import ClaimWindowController, PurchaseController

__all__ = ["ClaimWindowController", "PurchaseController"]
